// Owns the identity file (DESIGN §4.3): what a new router needs to resume an old one's place in the grid,
// and its encryption. Format: a JSON object (`identitySchema`, format "sysback-identity/1") padded with
// trailing spaces to a fixed size (IDENTITY_BLOCK bytes, the next multiple for an unusually large one),
// so every normal router's file has the same length; encrypted as one OpenPGP message (RFC 9580) with a
// password: a v6 SKESK whose key comes from Argon2id (default t=3, p=4, m=64 MiB, RFC 9580 §4.3; the
// parameters travel in the packet) and a v2 SEIPD packet with AES-256/OCB (OCB is RFC 9580's
// mandatory-to-implement AEAD mode, so every RFC 9580 implementation decrypts it; Sequoia's `sqop`
// from Debian trixie does, see test/integration/identity-sqop.test.ts). No compression (it would leak
// the content's shape through the size). ASCII armored with a CRC24 line.
// Contract of decryptIdentity, each case its own error, none of them carrying the password or a cap:
//   - not armored OpenPGP / truncated / wrong packet layout / hostile Argon2 parameters -> CorruptError
//   - the password-encrypted session key does not open -> WrongPasswordError. With AEAD the SKESK's own
//     tag fails for a wrong password exactly as for a modified salt, IV or wrapped key: those ~80 bytes
//     cannot tell the two apart; an armor CRC24 that no longer matches turns it into CorruptError, which
//     catches accidental damage, not a deliberate forgery;
//   - the session key opens but the data packet's AEAD tag fails (any change after the SKESK, including
//     a truncation inside the data) -> CorruptError "damaged or tampered with";
//   - decrypts, but the JSON has another format version -> CorruptError "unknown identity format X,
//     upgrade sysback"; invalid against the schema -> CorruptError naming the field paths only.
// Argon2 memory is bounded by what this router can afford, checked before any derivation: at most
// ARGON2_MAX_MEMORY (1 GiB) and at most half of the device's RAM (os.totalmem(), injectable): a
// hostile identity file asking for more is a CorruptError, never an allocation that takes the router
// down at each password try. sysback writes 64 MiB, which even a 128 MiB router affords.
// Cheaper Argon2 parameters exist only through the explicit `insecureArgon2ForTests` option.
import os from 'node:os';
import * as openpgp from 'openpgp';
import { z } from 'zod';
import { gridSchema, sharesSchema } from '../core/config/grid-config.ts';
import { formatPath } from '../core/config/validate.ts';
import { CorruptError, WrongPasswordError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { MAX_ARMORED_BYTES } from './identity-limits.ts';
import { assertPasswordStrong, checkAlias } from './password-policy.ts';

const { enums } = openpgp;

export const IDENTITY_FORMAT = 'sysback-identity/1';

/** Plain identities are padded to a multiple of this many bytes; a normal router's fits in one block. */
export const IDENTITY_BLOCK = 16_384;

export { MAX_ARMORED_BYTES } from './identity-limits.ts';

export interface Argon2Params {
  passes: number;
  parallelism: number;
  /** memory is 2^memoryExponent KiB (16 = 64 MiB) */
  memoryExponent: number;
}

/** RFC 9580 §4.3's recommendation for memory-constrained devices: t=3, p=4, m=2^16 KiB (64 MiB). */
export const DEFAULT_ARGON2: Readonly<Argon2Params> = Object.freeze({ passes: 3, parallelism: 4, memoryExponent: 16 });

/** What decryptIdentity accepts from a file before running Argon2 (a hostile file must not exhaust a router). */
export const ARGON2_LIMITS: Readonly<Argon2Params> = Object.freeze({ passes: 16, parallelism: 16, memoryExponent: 20 });

/** Never more Argon2 memory than this, whatever the RAM: 1 GiB. */
export const ARGON2_MAX_MEMORY = 1024 ** 3;

/** Argon2 memory, in bytes, of these parameters (2^m KiB). */
export function argon2MemoryBytes(params: Pick<Argon2Params, 'memoryExponent'>): number {
  return 2 ** params.memoryExponent * 1024;
}

/** The most Argon2 memory a device with `totalMemory` bytes of RAM spends on one try: half its RAM, at most 1 GiB. */
export function argon2MemoryLimit(totalMemory: number): number {
  return Math.min(ARGON2_MAX_MEMORY, Math.floor(totalMemory / 2));
}

/**
 * Throws CorruptError unless this device can afford `params` (see the module comment). Pure; the
 * RAM comes from the caller (`os.totalmem()` on the device).
 */
export function assertArgon2Affordable(params: Argon2Params, totalMemory: number): void {
  const need = argon2MemoryBytes(params);
  const limit = argon2MemoryLimit(totalMemory);
  if (need > limit) {
    throw new CorruptError(
      `the identity file asks for ${mibText(need)} of Argon2id memory per password try; this router affords ${mibText(limit)} (half of its ${mibText(totalMemory)} RAM, at most 1 GiB)`,
      'sysback writes 64 MiB; a file asking for more was not written by sysback and may be hostile: use the recovery card',
    );
  }
}

function mibText(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

const dirWriteCap = z.string().regex(/^URI:DIR2:[a-z2-7]+:[a-z2-7]+$/, 'not a Tahoe directory write cap (URI:DIR2:...)');

export const identitySchema = z
  .object({
    format: z.literal(IDENTITY_FORMAT),
    alias: z.string().superRefine((value, ctx) => {
      const problem = checkAlias(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    /** ISO 8601 UTC time the identity was made */
    created: z.iso.datetime({ message: 'not an ISO 8601 UTC time' }),
    grid: z
      .object({
        introducers: gridSchema.shape.introducers,
        shares: sharesSchema,
      })
      .strict(),
    /** the router's private area and what its private Tahoe node needs to resume */
    private: z
      .object({
        dircap: dirWriteCap,
        /** the node's convergence secret (base32) */
        convergence: z.string().regex(/^[a-z2-7]{26,128}$/, 'not a base32 convergence secret'),
        /** files of the private node's `private/` directory by name (node.privkey, node.pem, secret, ...) */
        nodeKeys: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'not a plain file name'), z.string().max(16_384)).optional(),
      })
      .strict(),
    /** the router's own public directory, holding identity.asc; its write cap lives only here */
    public: z.object({ dircap: dirWriteCap }).strict(),
  })
  .strict();

export type Identity = z.infer<typeof identitySchema>;

/** Builds a new identity (format and creation time filled in). */
export function buildIdentity(fields: Omit<Identity, 'format' | 'created'>, created: Date = new Date()): Identity {
  return { format: IDENTITY_FORMAT, alias: fields.alias, created: created.toISOString(), grid: fields.grid, private: fields.private, public: fields.public };
}

/**
 * The plaintext that gets encrypted: the JSON (keys in schema order, whatever order the caller built
 * them in), padded with spaces to a multiple of IDENTITY_BLOCK.
 */
export function padIdentity(identity: Identity): Uint8Array {
  const json = Buffer.from(JSON.stringify(identitySchema.parse(identity)), 'utf8');
  const size = Math.max(1, Math.ceil(json.length / IDENTITY_BLOCK)) * IDENTITY_BLOCK;
  const padded = Buffer.alloc(size, 0x20);
  json.copy(padded);
  return new Uint8Array(padded.buffer, padded.byteOffset, padded.length);
}

export interface EncryptOptions {
  /**
   * TESTS ONLY: Argon2id parameters cheaper than DEFAULT_ARGON2, so unit tests run in milliseconds.
   * Production code never sets this; the default is always RFC 9580's t=3, p=4, 64 MiB.
   */
  insecureArgon2ForTests?: Argon2Params;
  /** the grid's name, for the password estimator's user dictionary (grid.json `name`) */
  gridName?: string;
  /**
   * The password already protects this router's published identity (a recovery re-publishing it):
   * the strength floor is not applied again, so a floor raised since the router was set up never
   * fails a recovery halfway. A new password (the "new" flow) never sets this.
   */
  reusedPassword?: boolean;
}

function problemsOf(error: z.ZodError): string {
  return redact(error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; '));
}

/** Encrypts an identity with `password` (which must meet the password policy); returns the armored file. */
export async function encryptIdentity(identity: Identity, password: string, options: EncryptOptions = {}): Promise<string> {
  const checked = identitySchema.safeParse(identity);
  if (!checked.success) {
    // a bug in the caller, not a user mistake: say which fields, never their values (they are caps)
    throw new Error(`refusing to encrypt an invalid identity: ${problemsOf(checked.error)}`);
  }
  if (!options.reusedPassword) await assertPasswordStrong(password, { alias: identity.alias, ...(options.gridName ? { gridName: options.gridName } : {}) });
  const argon2 = options.insecureArgon2ForTests ?? DEFAULT_ARGON2;
  const message = await openpgp.createMessage({ binary: padIdentity(checked.data), format: 'binary', date: new Date(checked.data.created) });
  const binary = await openpgp.encrypt({
    message,
    passwords: [password],
    format: 'binary',
    config: {
      s2kType: enums.s2k.argon2,
      s2kArgon2Params: { ...argon2 },
      aeadProtect: true,
      preferredAEADAlgorithm: enums.aead.ocb,
      preferredSymmetricAlgorithm: enums.symmetric.aes256,
      preferredCompressionAlgorithm: enums.compression.uncompressed,
      showVersion: false,
      showComment: false,
    },
  });
  return openpgp.armor(enums.armor.message, binary, undefined, undefined, undefined, true);
}

/** What an identity file says about its own encryption (readable without the password). */
export interface IdentityEnvelope {
  argon2: Argon2Params;
  cipher: string;
  aead: string;
  /** true/false when the armor has a CRC24 line, undefined when it has none */
  armorChecksumOk: boolean | undefined;
}

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;

function crc24(data: Uint8Array): number {
  let crc = CRC24_INIT;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
  }
  return crc & 0xffffff;
}

/** Compares the armor's CRC24 line (if any) with its base64 body; undefined when there is none or no body. */
function armorChecksum(armored: string): boolean | undefined {
  const lines = armored.replace(/\r/g, '').split('\n').map((line) => line.trimEnd());
  const begin = lines.findIndex((line) => line === '-----BEGIN PGP MESSAGE-----');
  const end = lines.findIndex((line) => line === '-----END PGP MESSAGE-----');
  if (begin < 0 || end < begin) return undefined;
  const blank = lines.slice(begin + 1, end).findIndex((line) => line === '');
  if (blank < 0) return undefined;
  const body = lines.slice(begin + 2 + blank, end);
  const checksum = body.length > 0 && /^=[A-Za-z0-9+/]{4}$/.test(body[body.length - 1]!) ? body.pop()!.slice(1) : undefined;
  if (checksum === undefined) return undefined;
  const bytes = Buffer.from(body.join(''), 'base64');
  const expected = Buffer.from(checksum, 'base64');
  return expected.length === 3 && expected.readUIntBE(0, 3) === crc24(bytes);
}

const DAMAGED_HINT = 'the identity file was damaged or tampered with; if the alias link was replaced, use the read cap on your recovery card';

/** Parses an armored identity file as far as its packets, checking their layout and limits. */
async function readEnvelope(armored: string): Promise<{ message: openpgp.Message<Uint8Array>; envelope: IdentityEnvelope }> {
  if (typeof armored !== 'string' || armored.length === 0) throw new CorruptError('the identity file is empty', DAMAGED_HINT);
  if (armored.length > MAX_ARMORED_BYTES) {
    throw new CorruptError(`the identity file is ${armored.length} bytes, far larger than any identity file`, DAMAGED_HINT);
  }
  let message: openpgp.Message<Uint8Array>;
  try {
    message = await openpgp.readMessage({ armoredMessage: armored, config: { enforceGrammar: true } });
  } catch (error) {
    throw new CorruptError(`the identity file is not a readable OpenPGP message (${reason(error)})`, DAMAGED_HINT);
  }
  const packets = [...message.packets];
  const skesk = packets[0] as unknown as { constructor: { tag: number }; version: number; s2k?: any; sessionKeyAlgorithm?: number; aeadAlgorithm?: number } | undefined;
  const data = packets[1] as unknown as { constructor: { tag: number }; version: number; aeadAlgorithm?: number; cipherAlgorithm?: number } | undefined;
  const layoutOk =
    packets.length === 2 &&
    skesk?.constructor.tag === enums.packet.symEncryptedSessionKey &&
    skesk.version === 6 &&
    data?.constructor.tag === enums.packet.symEncryptedIntegrityProtectedData &&
    data.version === 2;
  if (!layoutOk) {
    throw new CorruptError(
      'the identity file is not a sysback identity: expected one Argon2id password packet and one AEAD-protected data packet (RFC 9580)',
      DAMAGED_HINT,
    );
  }
  const s2k = skesk!.s2k;
  if (!s2k || s2k.type !== 'argon2') {
    throw new CorruptError('the identity file is not protected by Argon2id, as every sysback identity is', DAMAGED_HINT);
  }
  const argon2: Argon2Params = { passes: Number(s2k.t), parallelism: Number(s2k.p), memoryExponent: Number(s2k.encodedM) };
  if (
    !(argon2.passes >= 1 && argon2.passes <= ARGON2_LIMITS.passes) ||
    !(argon2.parallelism >= 1 && argon2.parallelism <= ARGON2_LIMITS.parallelism) ||
    !(argon2.memoryExponent <= ARGON2_LIMITS.memoryExponent)
  ) {
    throw new CorruptError(
      `the identity file asks for Argon2id parameters beyond sysback's limits (t=${argon2.passes}, p=${argon2.parallelism}, m=2^${argon2.memoryExponent} KiB)`,
      'sysback never writes such a file; it may be hostile',
    );
  }
  return {
    message,
    envelope: {
      argon2,
      cipher: nameIn(enums.symmetric, data!.cipherAlgorithm ?? skesk!.sessionKeyAlgorithm),
      aead: nameIn(enums.aead, data!.aeadAlgorithm),
      armorChecksumOk: armorChecksum(armored),
    },
  };
}

function nameIn(table: object, value: number | undefined): string {
  return Object.entries(table).find(([, v]) => v === value)?.[0] ?? 'unknown';
}

function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return redact(text.replace(/^Error [a-z ]+: /, '').split('\n')[0]!.slice(0, 160));
}

/** Reads an identity file's encryption parameters without the password (for checks and status). */
export async function inspectIdentity(armored: string): Promise<IdentityEnvelope> {
  return (await readEnvelope(armored)).envelope;
}

export interface DecryptOptions {
  /** the device's RAM in bytes; default os.totalmem() */
  totalMemory?: number;
}

/** Decrypts and validates an identity file; see the module comment for the error each failure gives. */
export async function decryptIdentity(armored: string, password: string, options: DecryptOptions = {}): Promise<Identity> {
  const { message, envelope } = await readEnvelope(armored);
  const totalMemory = options.totalMemory ?? os.totalmem();
  assertArgon2Affordable(envelope.argon2, totalMemory); // before any derivation
  const maxExponent = Math.min(ARGON2_LIMITS.memoryExponent, Math.floor(Math.log2(argon2MemoryLimit(totalMemory) / 1024)));
  const secrets = [password];
  let sessionKeys: openpgp.DecryptedSessionKey[];
  try {
    sessionKeys = await openpgp.decryptSessionKeys({ message, passwords: [password], config: { maxArgon2MemoryExponent: maxExponent } });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (/Session key decryption failed/.test(text)) {
      if (envelope.armorChecksumOk === false) {
        throw new CorruptError('the identity file is damaged: its armor checksum does not match its content', DAMAGED_HINT);
      }
      throw new WrongPasswordError();
    }
    throw new CorruptError(`the identity file could not be opened (${redact(reason(error), secrets)})`, DAMAGED_HINT);
  }
  let plain: Uint8Array;
  try {
    const result = await openpgp.decrypt({
      message,
      // a v6 SKESK leaves the algorithm to the SEIPDv2 packet, hence the null openpgp.js types reject
      sessionKeys: sessionKeys as openpgp.SessionKey[],
      format: 'binary',
      config: { allowUnauthenticatedMessages: false, allowUnauthenticatedStream: false, enforceGrammar: true },
    });
    plain = result.data as Uint8Array;
  } catch (error) {
    throw new CorruptError(
      `the identity file was damaged or tampered with: the password is right but its integrity check failed (${redact(reason(error), secrets)})`,
      DAMAGED_HINT,
    );
  }
  return parseIdentity(plain);
}

/** Parses decrypted identity bytes (padding included) and validates them. */
export function parseIdentity(plain: Uint8Array): Identity {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    throw new CorruptError('the identity file decrypted, but its content is not JSON', DAMAGED_HINT);
  }
  const format = typeof parsed === 'object' && parsed !== null ? (parsed as { format?: unknown }).format : undefined;
  if (format !== IDENTITY_FORMAT) {
    if (typeof format === 'string' && /^sysback-identity\/[0-9]{1,6}$/.test(format)) {
      throw new CorruptError(`unknown identity format ${format}, upgrade sysback`, 'this identity was written by another sysback version; install a newer sysback and recover again');
    }
    throw new CorruptError('the identity file decrypted, but it is not a sysback identity (no known "format")', DAMAGED_HINT);
  }
  const checked = identitySchema.safeParse(parsed);
  if (!checked.success) {
    throw new CorruptError(`the identity file decrypted, but its content is not valid: ${problemsOf(checked.error)}`, DAMAGED_HINT);
  }
  return checked.data;
}
