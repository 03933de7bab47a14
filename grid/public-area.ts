// Owns the public area of the grid (DESIGN §4.3): where every router publishes its encrypted identity
// file so that a new router can find it by alias. Layout:
//   shared public directory (its write cap is in grid.json, so every router can link and unlink)
//     └─ <alias>  -> READ cap of the router's own mutable directory
//                     └─ identity.asc   (the armored identity file, grid/identity.ts)
// Each router makes its own directory; its write cap lives only inside the router's encrypted identity,
// so others can unlink an alias but never change an identity. The recovery card holds the alias and
// the read cap of the router's own directory, so recovery works after such vandalism.
// Contract: an alias is only ever linked with replace=false: an alias that points at someone else's
// directory is refused (AliasTakenError) and nothing of theirs changes; republishing by the router that
// holds the directory's write cap replaces identity.asc there and re-links the alias if it is gone.
// Caps are arguments and results, never parts of messages (TahoeHttpError redacts Tahoe's own text).
import { Readable } from 'node:stream';
import { DIR_READ_CAP_PATTERN } from '../core/config/answers.ts';
import { CorruptError, EXIT, SysbackError, UnknownAliasError, VerifyError } from '../core/errors.ts';
import { inspectIdentity, MAX_ARMORED_BYTES } from './identity.ts';
import { assertAlias, checkAlias } from './password-policy.ts';
import { TahoeHttpError, type TahoeWebApi } from './webapi.ts';

export const IDENTITY_FILE = 'identity.asc';

const DIR_WRITE_CAP_PATTERN = /^URI:DIR2:[a-z2-7]+:[a-z2-7]+$/;

/** The alias is linked to another router's directory. */
export class AliasTakenError extends SysbackError {
  readonly alias: string;
  constructor(alias: string) {
    super(`the alias "${alias}" is already taken by another router`, {
      hint: 'pick another alias; if it is this router\'s old alias, choose "recover" instead of "new"',
      exitCode: EXIT.usage,
    });
    this.alias = alias;
  }
}

/** Nothing can be read at the read cap of a recovery card (mistyped, or its shares are gone). */
export class UnknownCardError extends SysbackError {
  constructor(detail: string) {
    super(`no identity can be read at the recovery card's read cap (${detail})`, {
      hint: 'check that the read cap was typed exactly as printed (it starts with URI:DIR2-RO:), and that the grid is reachable',
      exitCode: EXIT.unknownAlias,
    });
  }
}

export interface IdentityDir {
  writeCap: string;
  readCap: string;
}

/** Makes the router's own public directory (once, before its identity is encrypted: the write cap goes in it). */
export async function makeIdentityDir(api: TahoeWebApi): Promise<IdentityDir> {
  return identityDirOf(api, await api.mkdir());
}

/** The read cap of the router's own directory, from its write cap. */
export async function identityDirOf(api: TahoeWebApi, writeCap: string): Promise<IdentityDir> {
  if (!DIR_WRITE_CAP_PATTERN.test(writeCap)) {
    throw new SysbackError('the identity directory given is not a directory write cap', { exitCode: EXIT.internal });
  }
  const info = await api.info(writeCap);
  const readCap = Array.isArray(info) && info[0] === 'dirnode' ? (info[1]?.ro_uri as string | undefined) : undefined;
  if (!readCap) {
    throw new SysbackError("this router's own identity directory cannot be read from the grid", {
      hint: 'check that enough storage servers are connected (sysback node status)',
      exitCode: EXIT.gridUnreachable,
    });
  }
  return { writeCap, readCap };
}

export type AliasState = 'free' | 'ours' | 'taken';

/** Whether `alias` is free, linked to the directory with `ownReadCap`, or linked to something else. */
export async function aliasState(api: TahoeWebApi, publicDirCap: string, alias: string, ownReadCap?: string): Promise<AliasState> {
  assertAlias(alias);
  const info = await api.info(publicDirCap, alias);
  if (info === undefined) return 'free';
  const linked = Array.isArray(info) ? (info[1]?.ro_uri as string | undefined) : undefined;
  return ownReadCap !== undefined && linked === ownReadCap ? 'ours' : 'taken';
}

export interface PublishResult {
  /** read cap of the router's own directory: what the recovery card prints */
  readCap: string;
  /** true when this call linked the alias (first publish, or re-link after someone unlinked it) */
  aliasLinked: boolean;
}

/**
 * Publishes `armored` (an identity file) as identity.asc in the router's own directory `ownDirWriteCap`
 * and links that directory's read cap under `alias` in the shared public directory, never replacing
 * someone else's link. Checks the alias before uploading, verifies identity.asc by reading it back.
 */
export async function publishIdentity(
  api: TahoeWebApi,
  publicDirCap: string,
  alias: string,
  armored: string,
  ownDirWriteCap: string,
): Promise<PublishResult> {
  assertAlias(alias);
  await inspectIdentity(armored); // refuses to publish anything that is not an identity file
  const own = await identityDirOf(api, ownDirWriteCap);
  const before = await aliasState(api, publicDirCap, alias, own.readCap);
  if (before === 'taken') throw new AliasTakenError(alias);

  await api.put(armored, { dirCap: own.writeCap, name: IDENTITY_FILE });
  const back = await readIdentityFile(api, own.readCap);
  if (back !== armored) throw new VerifyError(`${IDENTITY_FILE} read back from the grid differs from what was written`);

  if (before === 'ours') return { readCap: own.readCap, aliasLinked: false };
  try {
    await api.link(publicDirCap, alias, own.readCap, false);
  } catch (error) {
    // someone linked the alias between our check and our link: theirs stays, ours is refused
    if (error instanceof TahoeHttpError && error.status === 409) {
      if ((await aliasState(api, publicDirCap, alias, own.readCap)) === 'ours') return { readCap: own.readCap, aliasLinked: false };
      throw new AliasTakenError(alias);
    }
    throw error;
  }
  return { readCap: own.readCap, aliasLinked: true };
}

/** Every alias in the public directory that names a directory, sorted. */
export async function listAliases(api: TahoeWebApi, publicDirCap: string): Promise<string[]> {
  const entries = await api.list(publicDirCap);
  return entries
    .filter((entry) => entry.type === 'dirnode' && checkAlias(entry.name) === undefined)
    .map((entry) => entry.name)
    .sort();
}

/** The armored identity file published under `alias` (UnknownAliasError when the alias is absent). */
export async function fetchIdentity(api: TahoeWebApi, publicDirCap: string, alias: string): Promise<string> {
  assertAlias(alias);
  const info = await api.info(publicDirCap, alias);
  if (info === undefined) throw new UnknownAliasError(alias);
  if (!Array.isArray(info) || info[0] !== 'dirnode' || typeof info[1]?.ro_uri !== 'string') {
    throw new CorruptError(`the alias "${alias}" does not point at an identity directory`, 'use the read cap on your recovery card');
  }
  return readIdentityFile(api, info[1].ro_uri as string, `the directory published as "${alias}"`);
}

/** The armored identity file in the directory whose read cap is printed on a recovery card. */
export async function fetchIdentityByCard(api: TahoeWebApi, readCap: string): Promise<string> {
  const cap = parseCardCap(readCap);
  let info: unknown;
  try {
    info = await api.info(cap, IDENTITY_FILE);
  } catch (error) {
    if (error instanceof TahoeHttpError) throw new UnknownCardError(`the grid answered HTTP ${error.status}`);
    throw error;
  }
  // Tahoe answers 404 for a child of a directory nobody made: say "nothing there", not "damaged"
  if (info === undefined) throw new UnknownCardError(`nothing is published there`);
  return readIdentityFile(api, cap, "the recovery card's directory");
}

/** Reads identity.asc from a directory, bounded in size, as text. */
async function readIdentityFile(api: TahoeWebApi, dirCap: string, what = "this router's identity directory"): Promise<string> {
  const info = await api.info(dirCap, IDENTITY_FILE);
  if (info === undefined) throw new CorruptError(`${what} holds no ${IDENTITY_FILE}`, 'use the read cap on your recovery card, or another alias');
  const size = Number(info[1]?.size ?? 0);
  if (info[0] !== 'filenode' || size > MAX_ARMORED_BYTES) {
    throw new CorruptError(`${what} holds an ${IDENTITY_FILE} that is not an identity file`, 'use the read cap on your recovery card');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const stream: Readable = await api.get(dirCap, IDENTITY_FILE);
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > MAX_ARMORED_BYTES) {
      stream.destroy();
      throw new CorruptError(`${what} holds an ${IDENTITY_FILE} larger than any identity file`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A read cap as typed from a card: whitespace (line breaks, spaces between groups) removed, then checked. */
export function parseCardCap(text: string): string {
  const cap = text.replace(/\s+/g, '');
  if (!DIR_READ_CAP_PATTERN.test(cap)) {
    throw new SysbackError('that is not the read cap of a recovery card', {
      hint: 'it starts with URI:DIR2-RO: and is printed on the recovery card shown when the router was set up',
      exitCode: EXIT.usage,
    });
  }
  return cap;
}

/** The printable recovery card: plain lines that fit a serial console, the read cap on a line of its own. */
export function recoveryCard(alias: string, readCap: string): string {
  assertAlias(alias);
  const cap = parseCardCap(readCap);
  return [
    'SYSBACK RECOVERY CARD',
    '=====================',
    'Print this or write it down, and keep it with the router\'s papers.',
    '',
    `  alias:     ${alias}`,
    '  read cap:',
    `${cap}`,
    '',
    'To recover: flash or power on a sysback router, choose "recover", pick the',
    'alias and type your password. If the alias is missing from the list, type',
    'the read cap above instead. The read cap alone opens nothing: the identity',
    'it points to is encrypted with your password, which is not on this card.',
    '',
  ].join('\n');
}
