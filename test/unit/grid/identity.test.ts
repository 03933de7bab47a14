// The identity file (grid/identity.ts): round trip, the default Argon2id/OCB parameters in the packet,
// fixed size, and each failure with its own error: wrong password, tampered data packet, damaged
// armor, truncated file, not OpenPGP, wrong packet layout, hostile Argon2 parameters, unknown format
// version, invalid content. No error text may carry the password or a cap. Unit tests use cheap
// Argon2 parameters through the explicit test-only option, except the one test that checks the default.
import test from 'ava';
import * as openpgp from 'openpgp';
import { CorruptError, SysbackError, UserError, WrongPasswordError } from '../../../core/errors.ts';
import {
  buildIdentity,
  decryptIdentity,
  DEFAULT_ARGON2,
  encryptIdentity,
  IDENTITY_BLOCK,
  inspectIdentity,
  padIdentity,
  parseIdentity,
  type Argon2Params,
  ARGON2_MAX_MEMORY,
  argon2MemoryLimit,
  assertArgon2Affordable,
  type Identity,
} from '../../../grid/identity.ts';

const { enums } = openpgp;
const CHEAP: Argon2Params = { passes: 1, parallelism: 1, memoryExponent: 10 };
const PASSWORD = 'marble tiger violin orchard';
const PRIVATE_CAP = 'URI:DIR2:privwritekeyaaaaaaaaaaaaaa:privfingerprintbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const PUBLIC_CAP = 'URI:DIR2:pubwritekeycccccccccccccccccc:pubfingerprintddddddddddddddddddddddddddddddddddd';
const CONVERGENCE = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst';

function identity(overrides: Partial<Identity> = {}): Identity {
  return {
    ...buildIdentity(
      {
        alias: 'home-router',
        grid: {
          introducers: [
            { name: 'introducer-1', furl: 'pb://aaaabbbbccccddddeeeeffffgggghhhh@tcp:127.0.0.1:40001/introducerswissnum1' },
            { name: 'introducer-2', furl: 'pb://iiiijjjjkkkkllllmmmmnnnnoooopppp@tcp:127.0.0.1:40002/introducerswissnum2' },
          ],
          shares: { needed: 2, happy: 2, total: 3 },
        },
        private: { dircap: PRIVATE_CAP, convergence: CONVERGENCE, nodeKeys: { 'node.privkey': 'priv-v0-' + 'x'.repeat(52) } },
        public: { dircap: PUBLIC_CAP },
      },
      new Date('2026-11-27T22:00:00Z'),
    ),
    ...overrides,
  };
}

const cheap = (content: Identity, password = PASSWORD) => encryptIdentity(content, password, { insecureArgon2ForTests: CHEAP });

/** Encrypts arbitrary bytes exactly as encryptIdentity does (for "valid OpenPGP, wrong content" fixtures). */
async function encryptRaw(bytes: Uint8Array, config: openpgp.PartialConfig = {}): Promise<string> {
  const message = await openpgp.createMessage({ binary: bytes, format: 'binary' });
  return (await openpgp.encrypt({
    message,
    passwords: [PASSWORD],
    config: { s2kType: enums.s2k.argon2, s2kArgon2Params: CHEAP, aeadProtect: true, preferredAEADAlgorithm: enums.aead.ocb, ...config },
  })) as string;
}

async function binaryOf(armored: string): Promise<Uint8Array> {
  const lines = armored.trim().split('\n');
  const body = lines.slice(lines.indexOf('') + 1, -1).filter((line) => !line.startsWith('='));
  return new Uint8Array(Buffer.from(body.join(''), 'base64'));
}

function rearmor(binary: Uint8Array): string {
  return openpgp.armor(enums.armor.message, binary, undefined, undefined, undefined, true);
}

/** Asserts the error is `type`, and that neither its message nor its hint carries a secret. */
async function rejects(t: any, promise: Promise<unknown>, type: new (...args: any[]) => SysbackError, pattern: RegExp): Promise<SysbackError> {
  const error = (await t.throwsAsync(promise, { instanceOf: type, message: pattern })) as SysbackError;
  for (const secret of [PASSWORD, PRIVATE_CAP, PUBLIC_CAP, CONVERGENCE, 'wrong horse violin orchard']) {
    t.false(`${error.message} ${error.hint}`.includes(secret), `error text carries a secret: ${error.message}`);
  }
  t.false(/URI:DIR2:[a-z]/.test(`${error.message} ${error.hint}`), 'error text carries a cap');
  return error;
}

test('an identity survives encryption and decryption unchanged', async (t) => {
  const content = identity();
  const armored = await cheap(content);
  t.regex(armored, /^-----BEGIN PGP MESSAGE-----\n/);
  t.false(armored.includes('home-router') || armored.includes('URI:'), 'nothing readable in the file');
  t.deepEqual(await decryptIdentity(armored, PASSWORD), content);
});

test('without options the file carries Argon2id t=3 p=4 m=64 MiB and AES-256/OCB (RFC 9580 v6 SKESK + SEIPDv2)', async (t) => {
  const armored = await encryptIdentity(identity(), PASSWORD);
  const envelope = await inspectIdentity(armored);
  t.deepEqual(envelope.argon2, { ...DEFAULT_ARGON2 });
  t.deepEqual(envelope.argon2, { passes: 3, parallelism: 4, memoryExponent: 16 });
  t.is(envelope.cipher, 'aes256');
  t.is(envelope.aead, 'ocb');
  t.true(envelope.armorChecksumOk);
  const packets = (await openpgp.readMessage({ armoredMessage: armored })).packets;
  t.deepEqual([...packets].map((p: any) => [p.constructor.tag, p.version]), [
    [enums.packet.symEncryptedSessionKey, 6],
    [enums.packet.symEncryptedIntegrityProtectedData, 2],
  ]);
});

test('every normal identity file has the same size, whatever its alias, introducers and keys', async (t) => {
  const small = identity({ alias: 'abc' });
  const large = identity({
    alias: 'the-router-on-the-seventh-floor.west-wing_' + 'x'.repeat(22), // 64 characters
    grid: {
      introducers: Array.from({ length: 8 }, (_, i) => ({ name: `introducer-${i}`, furl: `pb://${'q'.repeat(32)}@tor:${'r'.repeat(56)}.onion:${40000 + i}/${'s'.repeat(32)}` })),
      shares: { needed: 3, happy: 7, total: 10 },
    },
    private: {
      dircap: PRIVATE_CAP,
      convergence: CONVERGENCE,
      // a Tahoe node.pem (certificate + key) is about 3 kB
      nodeKeys: { 'node.pem': 'P'.repeat(3_500), 'node.privkey': 'priv-v0-' + 'y'.repeat(52), secret: 'z'.repeat(52) },
    },
  });
  t.is(padIdentity(small).length, IDENTITY_BLOCK);
  t.is(padIdentity(large).length, IDENTITY_BLOCK);
  const [a, b] = await Promise.all([cheap(small), cheap(large)]);
  t.is(a.length, b.length);
  t.deepEqual(await decryptIdentity(b, PASSWORD), large);
  // an unusually large one grows by whole blocks, never by its exact size
  const huge = identity({ private: { dircap: PRIVATE_CAP, convergence: CONVERGENCE, nodeKeys: { a: 'x'.repeat(16_000), b: 'y'.repeat(2_000) } } });
  t.is(padIdentity(huge).length, 2 * IDENTITY_BLOCK);
});

test('padding is trailing JSON whitespace, so a standard tool decrypts plain JSON', (t) => {
  const plain = padIdentity(identity());
  const text = new TextDecoder().decode(plain);
  t.deepEqual(JSON.parse(text), identity());
  t.regex(text, / +$/);
  t.deepEqual(parseIdentity(plain), identity());
});

test('a wrong password gives WrongPasswordError, carrying neither password nor caps', async (t) => {
  const armored = await cheap(identity());
  await rejects(t, decryptIdentity(armored, 'wrong horse violin orchard'), WrongPasswordError, /wrong password/);
});

test('tampered ciphertext: a changed byte in the data packet gives CorruptError "tampered", not a wrong password', async (t) => {
  const armored = await cheap(identity());
  const binary = await binaryOf(armored);
  for (const offset of [120, 4_000, binary.length - 20, binary.length - 1]) {
    const tampered = Uint8Array.from(binary);
    tampered[offset]! ^= 0x01;
    await rejects(t, decryptIdentity(rearmor(tampered), PASSWORD), CorruptError, /damaged or tampered with: the password is right but its integrity check failed/);
  }
});

test('tampered key packet with a recomputed armor checksum is indistinguishable from a wrong password (AEAD on the SKESK)', async (t) => {
  const binary = await binaryOf(await cheap(identity()));
  const tampered = Uint8Array.from(binary);
  tampered[12]! ^= 0x01; // inside the Argon2 salt
  await rejects(t, decryptIdentity(rearmor(tampered), PASSWORD), WrongPasswordError, /wrong password/);
});

test('accidental damage to the armor in the key packet gives CorruptError (the CRC24 line no longer matches)', async (t) => {
  const armored = await cheap(identity());
  const lines = armored.split('\n');
  const first = lines.findIndex((line) => line === '') + 1;
  const line = lines[first]!;
  lines[first] = line.slice(0, 20) + (line[20] === 'A' ? 'B' : 'A') + line.slice(21);
  await rejects(t, decryptIdentity(lines.join('\n'), PASSWORD), CorruptError, /armor checksum does not match/);
});

test('a truncated identity file gives CorruptError', async (t) => {
  const armored = await cheap(identity());
  const lines = armored.split('\n');
  await rejects(t, decryptIdentity(lines.slice(0, 10).join('\n'), PASSWORD), CorruptError, /not a readable OpenPGP message/);
  const binary = await binaryOf(armored);
  await rejects(t, decryptIdentity(rearmor(binary.slice(0, binary.length - 100)), PASSWORD), CorruptError, /identity file/);
});

test('something that is not OpenPGP at all gives CorruptError', async (t) => {
  await rejects(t, decryptIdentity('{"format":"sysback-identity/1"}', PASSWORD), CorruptError, /not a readable OpenPGP message/);
  await rejects(t, decryptIdentity('', PASSWORD), CorruptError, /empty/);
  await rejects(t, decryptIdentity('x'.repeat(2_000_000), PASSWORD), CorruptError, /far larger/);
});

test('OpenPGP of another shape (SEIPDv1, iterated S2K) is refused as not a sysback identity', async (t) => {
  const json = padIdentity(identity());
  await rejects(t, decryptIdentity(await encryptRaw(json, { aeadProtect: false }), PASSWORD), CorruptError, /not a sysback identity/);
  await rejects(t, decryptIdentity(await encryptRaw(json, { s2kType: enums.s2k.iterated }), PASSWORD), CorruptError, /not a sysback identity|not protected by Argon2id/);
});

test('hostile Argon2 parameters are refused before any memory is spent', async (t) => {
  const binary = await binaryOf(await cheap(identity()));
  // v6 SKESK: tag, length, version, count, cipher, aead, s2k length, s2k type, salt[16], t, p, m
  t.is(binary[7], enums.s2k.argon2);
  const hostile = Uint8Array.from(binary);
  hostile[26] = 30; // 2^30 KiB = 1 TiB
  await rejects(t, decryptIdentity(rearmor(hostile), PASSWORD), CorruptError, /beyond sysback's limits .*m=2\^30/);
  const slow = Uint8Array.from(binary);
  slow[24] = 255;
  await rejects(t, decryptIdentity(rearmor(slow), PASSWORD), CorruptError, /beyond sysback's limits \(t=255/);
});

test('valid OpenPGP with format sysback-identity/9 gives CorruptError "unknown identity format ..., upgrade sysback"', async (t) => {
  const future = new TextEncoder().encode(JSON.stringify({ ...identity(), format: 'sysback-identity/9', more: true }));
  await rejects(t, decryptIdentity(await encryptRaw(future), PASSWORD), CorruptError, /^unknown identity format sysback-identity\/9, upgrade sysback$/);
});

test('valid OpenPGP holding something else (not JSON, no format, invalid fields) gives CorruptError naming field paths only', async (t) => {
  await rejects(t, decryptIdentity(await encryptRaw(new TextEncoder().encode('hello, not json')), PASSWORD), CorruptError, /not JSON/);
  await rejects(t, decryptIdentity(await encryptRaw(new TextEncoder().encode('{"hello":1}')), PASSWORD), CorruptError, /not a sysback identity \(no known "format"\)/);
  const bad = { ...identity(), private: { dircap: 'URI:DIR2-RO:readonlyaaaa:fingerprintbbbb', convergence: CONVERGENCE } };
  const error = await rejects(t, decryptIdentity(await encryptRaw(new TextEncoder().encode(JSON.stringify(bad))), PASSWORD), CorruptError, /private\.dircap: not a Tahoe directory write cap/);
  t.false(error.message.includes('readonlyaaaa'));
});

test('encryptIdentity refuses a weak password (UserError) and an invalid identity, before encrypting anything', async (t) => {
  await t.throwsAsync(encryptIdentity(identity(), 'home-router-2026!'), { instanceOf: UserError, message: /too weak.*contains the alias/ });
  await t.throwsAsync(encryptIdentity(identity(), 'short'), { instanceOf: UserError, message: /too weak.*below the 10\^10/ });
  const error = await t.throwsAsync(cheap({ ...identity(), alias: 'Not Valid' }), { message: /refusing to encrypt an invalid identity: alias/ });
  t.false(error!.message.includes(PRIVATE_CAP));
});

test('argon2-memory-beyond-ram: a file asking for more memory than half the router\'s RAM is refused before deriving', async (t) => {
  const binary = await binaryOf(await cheap(identity()));
  const hostile = Uint8Array.from(binary);
  hostile[26] = 19; // 2^19 KiB = 512 MiB, within the static limits
  const mib = 1024 * 1024;
  const error = await rejects(t, decryptIdentity(rearmor(hostile), PASSWORD, { totalMemory: 256 * mib }), CorruptError, /asks for 512 MiB of Argon2id memory .* affords 128 MiB/);
  t.is(error.exitCode, 14);
});

test('argon2 affordability table: default 64 MiB fits a 128 MiB router; half the RAM and 1 GiB bound the rest', (t) => {
  const mib = 1024 * 1024;
  const rows: Array<[number, number, boolean]> = [
    // memoryExponent, RAM, affordable
    [16, 128 * mib, true],
    [16, 96 * mib, false],
    [17, 256 * mib, true],
    [18, 256 * mib, false],
    [20, 64 * 1024 * mib, true],
    [21, 64 * 1024 * mib, false],
  ];
  for (const [memoryExponent, ram, ok] of rows) {
    const check = () => assertArgon2Affordable({ passes: 3, parallelism: 4, memoryExponent }, ram);
    if (ok) t.notThrows(check, `m=2^${memoryExponent} on ${ram / mib} MiB`);
    else t.throws(check, { instanceOf: CorruptError }, `m=2^${memoryExponent} on ${ram / mib} MiB`);
  }
  t.is(argon2MemoryLimit(64 * 1024 * mib), ARGON2_MAX_MEMORY);
});

test('a recovery re-publishing with the password that already protects the identity is not refused by a raised floor', async (t) => {
  const armored = await encryptIdentity(identity(), 'short', { insecureArgon2ForTests: CHEAP, reusedPassword: true });
  t.is((await decryptIdentity(armored, 'short')).alias, 'home-router');
});
