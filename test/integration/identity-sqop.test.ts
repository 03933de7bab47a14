// The identity file decrypts with an independent OpenPGP implementation from Debian (DESIGN §4.3,
// journey 7 "by hand, from any computer"): Sequoia's `sqop` (sequoia-sop on Sequoia 2, RFC 9580) from
// the target root filesystem, run inside it through grid/sysroot.ts without writing to it. It must
// read openpgp.js's Argon2id (default 64 MiB) + AES-256/OCB SEIPDv2 file, return exactly the padded
// JSON, and refuse a wrong password and a tampered data packet.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { defaultSpec, isComplete, rootfsPath } from '../../builder/target-rootfs.ts';
import { createLog } from '../../core/log.ts';
import { createRunner } from '../../core/runner.ts';
import { buildIdentity, encryptIdentity, inspectIdentity, padIdentity, type Identity } from '../../grid/identity.ts';
import { sysrootArgv } from '../../grid/sysroot.ts';
import { testUnless } from '../support/skip.ts';
import { isRoot, targetRootfs } from '../support/target.ts';

const PASSWORD = 'kettle raven copper meadow 7';
const work = mkdtempSync(path.join(os.tmpdir(), 'sysback-identity-sqop-'));
const runner = createRunner(createLog({ level: 'warn' }));
let rootfs = '';

test.before(async () => {
  if (isRoot()) rootfs = await targetRootfs();
});

// decided synchronously (ava wants every test declared before the first await): a root filesystem
// already built without sqop is a visible skip; one not built yet is built by the hook above
const knownRootfs = process.env.SYSBACK_ROOTFS ?? rootfsPath(defaultSpec());
const noSqop = isComplete(knownRootfs) && !existsSync(path.join(knownRootfs, 'usr/bin/sqop'));

test.after.always(() => {
  rmSync(work, { recursive: true, force: true });
});

const content: Identity = buildIdentity({
  alias: 'sqop-router',
  grid: {
    introducers: [
      { name: 'introducer-1', furl: 'pb://aaaabbbbccccddddeeeeffffgggghhhh@tcp:127.0.0.1:40001/swissnumber1' },
      { name: 'introducer-2', furl: 'pb://iiiijjjjkkkkllllmmmmnnnnoooopppp@tcp:127.0.0.1:40002/swissnumber2' },
    ],
    shares: { needed: 2, happy: 2, total: 3 },
  },
  private: {
    dircap: 'URI:DIR2:privwritekeyaaaaaaaaaaaaaa:privfingerprintbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
    convergence: 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst',
    nodeKeys: { 'node.privkey': 'priv-v0-' + 'k'.repeat(52), 'node.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
  },
  public: { dircap: 'URI:DIR2:pubwritekeycccccccccccccccccc:pubfingerprintddddddddddddddddddddddddddddddddddd' },
});

let call = 0;
/** Runs `sqop decrypt --with-password=FILE` inside the target root filesystem on `armored`. */
async function sqopDecrypt(armored: string, password: string) {
  const dir = path.join(work, `call-${++call}`);
  const scratch = path.join(dir, 'scratch');
  const passwordFile = path.join(dir, 'password');
  mkdirSync(dir, { recursive: true });
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const argv = sysrootArgv({ rootfs, scratch, binds: [dir] }, ['sqop', 'decrypt', `--with-password=${passwordFile}`]);
  return runner.run(argv, { input: armored, reject: false, secrets: [password], timeoutMs: 120_000 });
}

const sqopTest = testUnless(
  [!isRoot(), 'needs root (mount namespace + chroot into the target root filesystem)'],
  [noSqop, `the target root filesystem ${knownRootfs} has no sqop (package sqop)`],
).serial;

let armored = '';

sqopTest('sqop from Debian trixie decrypts an identity made with the default Argon2id (64 MiB) to the exact padded JSON', async (t) => {
  armored = await encryptIdentity(content, PASSWORD);
  t.deepEqual((await inspectIdentity(armored)).argon2, { passes: 3, parallelism: 4, memoryExponent: 16 });
  const version = await runner.run(sysrootArgv({ rootfs, scratch: path.join(work, 'version'), binds: [] }, ['sqop', 'version', '--backend']));
  t.log(`independent implementation: ${version.stdout.trim().split('\n').join('; ')}`);
  const result = await sqopDecrypt(armored, PASSWORD);
  t.is(result.exitCode, 0, result.stderr);
  const expected = new TextDecoder().decode(padIdentity(content));
  t.is(result.stdout.length, expected.length, "the whole padded block comes back");
  t.true(result.stdout === expected, "byte for byte what was encrypted");
  t.deepEqual(JSON.parse(result.stdout), content);
});

sqopTest('sqop refuses the identity with a wrong password (SOP CANNOT_DECRYPT) and prints nothing', async (t) => {
  armored ||= await encryptIdentity(content, PASSWORD);
  const result = await sqopDecrypt(armored, 'kettle raven copper meadow 8');
  t.not(result.exitCode, 0);
  t.is(result.exitCode, 29, `sqop exit ${result.exitCode}: ${result.stderr}`);
  t.is(result.stdout.trim(), '');
});

sqopTest('sqop refuses a tampered data packet too (the AEAD tag is real, not an openpgp.js convention)', async (t) => {
  armored ||= await encryptIdentity(content, PASSWORD);
  const lines = armored.trim().split('\n');
  const body = lines.slice(lines.indexOf('') + 1, -1).filter((line) => !line.startsWith('='));
  const binary = Buffer.from(body.join(''), 'base64');
  binary[binary.length - 100]! ^= 0x01;
  const tampered = openpgp.armor(openpgp.enums.armor.message, new Uint8Array(binary), undefined, undefined, undefined, true);
  const result = await sqopDecrypt(tampered, PASSWORD);
  t.not(result.exitCode, 0);
  t.false(result.stdout.includes('sqop-router'), 'no plaintext released from a tampered file');
});
