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
// Many writers: the shared public directory is one mutable directory every router writes, and Tahoe has
// no locking: two links at the same moment from two nodes make one of them fail with HTTP 500
// (UncoordinatedWriteError), or for a moment leave it split between versions so that a read or write
// meets HTTP 410 "ran out of servers". Every link into it is therefore read back and retried with jittered
// exponential backoff (`linkAlias`; the random source and the sleep are injectable, so a test is
// seeded), and a backup run checks that the alias still names this router's directory
// (`checkAliasLink` / `ensureAliasLink`): a vanished link is re-made, a link that names another
// directory is reported, never overwritten. During a recovery (`relinkAliasAfterRecovery`) an alias
// naming this router's *old* directory is moved to its fresh one, and an alias someone else took is
// a report, not a failure: the recovery card is the way in, and the recovery completes.
import { Readable } from 'node:stream';
import { setTimeout as pause } from 'node:timers/promises';
import { DIR_FINGERPRINT_CHARS, DIR_READ_CAP_PATTERN, DIR_READ_KEY_CHARS } from '../core/config/answers.ts';
import { CorruptError, EXIT, SysbackError, UnknownAliasError, VerifyError } from '../core/errors.ts';
import { MAX_ARMORED_BYTES } from './identity-limits.ts';
import { assertAlias, checkAlias } from './password-policy.ts';
import { backoffMs, isPassingGridError, readRetrying, TahoeHttpError, type RetryPolicy, type TahoeClient } from './tahoe-client.ts';

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

/** The alias entries of the shared public directory, as the functions below need them. */
export interface AliasDirectory {
  /** the cap the alias names now (a directory's read cap), 'not-a-directory' for anything else, or undefined when absent */
  linked(alias: string): Promise<string | undefined>;
  /** links `alias` to `readCap`; with replace=false Tahoe answers 409 when the name exists */
  link(alias: string, readCap: string, replace: boolean): Promise<void>;
}

/** The shared public directory `publicDirCap` seen through a node's web API. */
export function aliasDirectoryOf(api: Pick<TahoeClient, 'info' | 'link'>, publicDirCap: string): AliasDirectory {
  return {
    async linked(alias) {
      assertAlias(alias);
      const info = await api.info(publicDirCap, alias);
      if (info === undefined) return undefined;
      return info.kind === 'dirnode' && info.readCap ? info.readCap : 'not-a-directory';
    },
    link: (alias, readCap, replace) => api.link(publicDirCap, alias, readCap, replace),
  };
}

/**
 * A read or write that raced another node's write to the same mutable directory: HTTP 500
 * (UncoordinatedWriteError), or HTTP 410 when the concurrent writes left the directory's shares split
 * between versions so that no one version had `needed` of them for a moment ("ran out of servers …
 * have 1 remaining shares of the right version"; seen with 15 routers publishing at once). Both pass
 * once the writers are done (`isPassingGridError`). A 410 from a grid that really lacks servers is
 * retried too and then thrown: the bounded backoff costs seconds, not the flow.
 */
const isUncoordinatedWrite = isPassingGridError;

function isConflict(error: unknown): boolean {
  return error instanceof TahoeHttpError && error.status === 409;
}

export type LinkOutcome = 'linked' | 'already' | 'taken';

/**
 * Makes `alias` name `readCap` in the shared public directory and proves it by reading it back.
 * `replaceable`: caps the alias may name and that this call may replace (this router's own old
 * directory after a recovery); anything else is 'taken' and left alone. Retries on Tahoe's
 * uncoordinated-write error and whenever the read-back does not show the link (another node's
 * concurrent write lost it); throws the last error when every try failed.
 */
export async function linkAlias(dir: AliasDirectory, alias: string, readCap: string, options: RetryPolicy & { replaceable?: readonly string[] } = {}): Promise<LinkOutcome> {
  assertAlias(alias);
  const attempts = Math.max(1, options.attempts ?? 8);
  const sleep = options.sleep ?? ((ms: number) => pause(ms));
  let linkedByUs = false;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      const wait = backoffMs(attempt - 1, options);
      options.onRetry?.(`the public directory was being written by another router; linking "${alias}" again in ${wait} ms (try ${attempt + 1} of ${attempts})`);
      await sleep(wait);
    }
    try {
      const now = await dir.linked(alias);
      if (now === readCap) return linkedByUs ? 'linked' : 'already';
      const replace = now !== undefined && (options.replaceable ?? []).includes(now);
      if (now !== undefined && !replace) return 'taken';
      linkedByUs = true; // from here on our read cap under the alias is our doing (a 500 may still have landed)
      try {
        await dir.link(alias, readCap, replace);
      } catch (error) {
        if (!isConflict(error)) throw error;
        // someone linked the name between our read and our link: the next read says whose it is
      }
      // the read-back: only a link we can read is a link (a racing write may have dropped it)
      const back = await dir.linked(alias);
      if (back === readCap) return linkedByUs ? 'linked' : 'already';
      if (back !== undefined && !(options.replaceable ?? []).includes(back)) return 'taken';
      lastError = new VerifyError(`the link "${alias}" did not read back from the public directory`);
    } catch (error) {
      if (!isUncoordinatedWrite(error)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

export type AliasLinkState = 'ok' | 'missing' | 'other-directory';

/** Does `alias` still name this router's identity directory (`ownReadCap`)? One read, no write. */
export async function checkAliasLink(dir: AliasDirectory, alias: string, ownReadCap: string): Promise<AliasLinkState> {
  const now = await dir.linked(alias);
  if (now === undefined) return 'missing';
  return now === ownReadCap ? 'ok' : 'other-directory';
}

export interface AliasLinkReport {
  state: AliasLinkState;
  /** true when this call re-made a missing link */
  relinked: boolean;
  /** for the log and the journal when something is wrong (no cap in it) */
  message?: string;
}

/**
 * What every backup run does for its alias: 'ok' stays; 'missing' is re-linked (verified, retried);
 * 'other-directory' is reported and never overwritten. Never throws for a vandalised alias.
 */
export async function ensureAliasLink(dir: AliasDirectory, alias: string, ownReadCap: string, policy: RetryPolicy = {}): Promise<AliasLinkReport> {
  const state = await checkAliasLink(dir, alias, ownReadCap);
  if (state === 'ok') return { state, relinked: false };
  if (state === 'missing') {
    const outcome = await linkAlias(dir, alias, ownReadCap, policy);
    if (outcome !== 'taken') return { state, relinked: outcome === 'linked', message: `the alias "${alias}" had vanished from the public directory; it was linked again` };
  }
  return {
    state: 'other-directory',
    relinked: false,
    message: `the alias "${alias}" in the public directory now names another router's directory; it was left as it is. Your recovery card still recovers this router: keep it safe`,
  };
}

export interface RecoveryAliasReport {
  outcome: 'linked' | 'already' | 'taken';
  /** a line for the person and the journal when the alias could not be taken back (no cap in it) */
  message?: string;
}

/**
 * During a recovery (by alias or by card): link `alias` to the router's fresh identity directory
 * `newReadCap`, replacing a link to its old directory `oldReadCap` (the one the decrypted identity
 * names). An alias that now names something else (vandalism, or another router took the free name)
 * is a report, not an error: the recovery goes on and completes, and the new card is the way in.
 */
export async function relinkAliasAfterRecovery(
  dir: AliasDirectory,
  alias: string,
  caps: { newReadCap: string; oldReadCap: string },
  policy: RetryPolicy = {},
): Promise<RecoveryAliasReport> {
  const outcome = await linkAlias(dir, alias, caps.newReadCap, { ...policy, replaceable: [caps.oldReadCap] });
  if (outcome !== 'taken') return { outcome };
  return {
    outcome,
    message: `the alias "${alias}" is taken by another directory in the public directory (vandalism, or another router took it); the recovery goes on. Recover next time with the new recovery card printed below`,
  };
}

/** Makes the router's own public directory (once, before its identity is encrypted: the write cap goes in it). */
export async function makeIdentityDir(api: TahoeClient): Promise<IdentityDir> {
  return identityDirOf(api, await api.mkdir());
}

/** The read cap of the router's own directory, from its write cap. */
export async function identityDirOf(api: TahoeClient, writeCap: string): Promise<IdentityDir> {
  if (!DIR_WRITE_CAP_PATTERN.test(writeCap)) {
    throw new SysbackError('the identity directory given is not a directory write cap', { exitCode: EXIT.internal });
  }
  const info = await api.info(writeCap);
  const readCap = info?.kind === 'dirnode' ? info.readCap : undefined;
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
export async function aliasState(api: TahoeClient, publicDirCap: string, alias: string, ownReadCap?: string, policy: RetryPolicy = {}): Promise<AliasState> {
  assertAlias(alias);
  const info = await aliasEntry(api, publicDirCap, alias, policy);
  if (info === undefined) return 'free';
  const linked = info.readCap;
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
  api: TahoeClient,
  publicDirCap: string,
  alias: string,
  armored: string,
  ownDirWriteCap: string,
  retry: RetryPolicy = {},
): Promise<PublishResult> {
  assertAlias(alias);
  await inspectArmored(armored); // refuses to publish anything that is not an identity file
  const own = await identityDirOf(api, ownDirWriteCap);
  const before = await aliasState(api, publicDirCap, alias, own.readCap, retry);
  if (before === 'taken') throw new AliasTakenError(alias);

  await api.put(armored, { dirCap: own.writeCap, name: IDENTITY_FILE });
  const back = await readIdentityFile(api, own.readCap, "this router's identity directory", retry);
  if (back !== armored) throw new VerifyError(`${IDENTITY_FILE} read back from the grid differs from what was written`);

  if (before === 'ours') return { readCap: own.readCap, aliasLinked: false };
  // verified by reading back, retried when another router writes the public directory at the same
  // moment; someone who linked the alias between our check and our link keeps it (AliasTakenError)
  const outcome = await linkAlias(aliasDirectoryOf(api, publicDirCap), alias, own.readCap, retry);
  if (outcome === 'taken') throw new AliasTakenError(alias);
  return { readCap: own.readCap, aliasLinked: outcome === 'linked' };
}

/** What `alias` names in the shared public directory (undefined when absent), read as readRetrying says. */
function aliasEntry(api: TahoeClient, publicDirCap: string, alias: string, policy: RetryPolicy) {
  return readRetrying(`reading the alias "${alias}"`, () => api.info(publicDirCap, alias), policy);
}

/** The aliases published in the shared public directory (those naming a directory), sorted; reads retried as readRetrying says. */
export async function listAliases(api: Pick<TahoeClient, 'list'>, publicDirCap: string, policy: RetryPolicy = {}): Promise<string[]> {
  const entries = await readRetrying('reading the public directory', () => api.list(publicDirCap), policy);
  return entries
    .filter((entry) => entry.type === 'dirnode' && checkAlias(entry.name) === undefined)
    .map((entry) => entry.name)
    .sort();
}

/** The armored identity file published under `alias` (UnknownAliasError when the alias is absent). */
export async function fetchIdentity(api: TahoeClient, publicDirCap: string, alias: string, policy: RetryPolicy = {}): Promise<string> {
  assertAlias(alias);
  const info = await aliasEntry(api, publicDirCap, alias, policy);
  if (info === undefined) throw new UnknownAliasError(alias);
  if (info.kind !== 'dirnode') {
    throw new CorruptError(`the alias "${alias}" does not point at an identity directory`, 'use the read cap on your recovery card');
  }
  return readIdentityFile(api, info.readCap, `the directory published as "${alias}"`, policy);
}

/** The armored identity file in the directory whose read cap is printed on a recovery card. */
export async function fetchIdentityByCard(api: TahoeClient, readCap: string, policy: RetryPolicy = {}): Promise<string> {
  const cap = parseCardCap(readCap);
  let info: unknown;
  try {
    info = await readRetrying("reading the recovery card's directory", () => api.info(cap, IDENTITY_FILE), policy);
  } catch (error) {
    if (error instanceof TahoeHttpError && error.status === 410) {
      // shares of no version the read cap's fingerprint matches: a character after the second colon
      // mistyped (Tahoe finds the shares by the read key, then ignores them), or the servers holding
      // them not connected yet: the same answer
      throw new UnknownCardError('nothing readable there yet: a character after the second colon may be mistyped, or the servers holding it are not connected yet');
    }
    if (error instanceof TahoeHttpError) throw new UnknownCardError(`the grid answered HTTP ${error.status}`);
    throw error;
  }
  // Tahoe answers 404 for a child of a directory nobody made: say "nothing there", not "damaged"
  if (info === undefined) throw new UnknownCardError(`nothing is published there`);
  return readIdentityFile(api, cap, "the recovery card's directory", policy);
}

/** Reads identity.asc from a directory, bounded in size, as text; the reads retried as readRetrying says. */
async function readIdentityFile(api: TahoeClient, dirCap: string, what: string, policy: RetryPolicy): Promise<string> {
  return readRetrying(`reading ${what}`, () => readIdentityFileOnce(api, dirCap, what), policy);
}

async function readIdentityFileOnce(api: TahoeClient, dirCap: string, what: string): Promise<string> {
  const info = await api.info(dirCap, IDENTITY_FILE);
  if (info === undefined) throw new CorruptError(`${what} holds no ${IDENTITY_FILE}`, 'use the read cap on your recovery card, or another alias');
  const size = info.size ?? 0;
  if (info.kind !== 'filenode' || size > MAX_ARMORED_BYTES) {
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

const CARD_PREFIX = 'URI:DIR2-RO:';

/** A read cap as typed from a card: whitespace (line breaks, spaces between groups) removed, then checked. */
export function parseCardCap(text: string): string {
  const cap = text.replace(/\s+/g, '');
  if (DIR_READ_CAP_PATTERN.test(cap)) return cap;
  // a directory read cap of the wrong length: a group missed, doubled or cut off while copying
  const parts = /^URI:DIR2-RO:([a-z2-7]*):([a-z2-7]*)$/.exec(cap);
  if (parts) {
    throw new SysbackError(
      `that read cap has ${parts[1]!.length} + ${parts[2]!.length} characters after ${CARD_PREFIX}; a recovery card's has ${DIR_READ_KEY_CHARS} + ${DIR_FINGERPRINT_CHARS}`,
      { hint: 'a group of 4 is missing, doubled or cut off: compare the numbered groups on the card', exitCode: EXIT.usage },
    );
  }
  throw new SysbackError('that is not the read cap of a recovery card', {
    hint: 'it starts with URI:DIR2-RO: and is printed on the recovery card shown when the router was set up',
    exitCode: EXIT.usage,
  });
}

/**
 * The read cap in groups of 4 characters, 8 groups to a line, numbered, for copying by hand (pure).
 * parseCardCap drops the spaces and line breaks, so what a person types back from it is the cap.
 */
export function groupedCap(readCap: string): string[] {
  const body = parseCardCap(readCap).slice(CARD_PREFIX.length);
  const groups = body.match(/.{1,4}/g) ?? [];
  const lines: string[] = [];
  for (let i = 0; i < groups.length; i += 8) lines.push(`${String(lines.length + 1).padStart(2)}  ${groups.slice(i, i + 8).join(' ')}`);
  return lines;
}

/**
 * The printable recovery card: plain lines that fit an 80-column serial console (all but the cap's
 * own line), the read cap on a line of its own to copy and paste, and again grouped to copy by hand.
 * No QR code: a serial console at 115200 baud may not draw block characters, and the grouped lines
 * are what a person writes down (docs/security.md, "The recovery card").
 */
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
    `  to copy by hand: ${CARD_PREFIX} then (spaces and line breaks do not matter)`,
    ...groupedCap(cap).map((line) => `  ${line}`),
    '',
    'To recover: flash or power on a sysback router, choose "recover", pick the',
    'alias and type your password. If the alias is missing from the list, type',
    'the read cap above instead. The read cap alone opens nothing: the identity',
    'it points to is encrypted with your password, which is not on this card.',
    '',
  ].join('\n');
}

/** The read cap printed on a recovery card (the line that is one), or undefined when none parses. */
export function cardReadCap(cardText: string): string | undefined {
  const line = cardText.split('\n').find((l) => l.trim().startsWith('URI:DIR2-RO:'));
  if (!line) return undefined;
  try {
    return parseCardCap(line);
  } catch {
    return undefined;
  }
}

export interface RecoveredPublishResult {
  /** the fresh identity directory's read cap: what the new recovery card prints */
  readCap: string;
  alias: RecoveryAliasReport;
}

/**
 * A recovery's step g): puts `armored` into the router's FRESH identity directory (`newDirWriteCap`,
 * made by makeIdentityDir; its write cap goes only into the identity), verifies it by reading it
 * back, then moves the alias from the old directory (`oldDirReadCap`, from the decrypted identity)
 * to the fresh one. A taken alias is in the report, never thrown: the recovery completes.
 */
export async function publishRecoveredIdentity(
  api: TahoeClient,
  publicDirCap: string,
  alias: string,
  armored: string,
  dirs: { newDirWriteCap: string; oldDirReadCap: string },
  retry: RetryPolicy = {},
): Promise<RecoveredPublishResult> {
  assertAlias(alias);
  await inspectArmored(armored);
  const fresh = await identityDirOf(api, dirs.newDirWriteCap);
  await api.put(armored, { dirCap: fresh.writeCap, name: IDENTITY_FILE });
  if ((await readIdentityFile(api, fresh.readCap, "this router's new identity directory", retry)) !== armored) {
    throw new VerifyError(`${IDENTITY_FILE} read back from the grid differs from what was written`);
  }
  const report = await relinkAliasAfterRecovery(aliasDirectoryOf(api, publicDirCap), alias, { newReadCap: fresh.readCap, oldReadCap: dirs.oldDirReadCap }, retry);
  return { readCap: fresh.readCap, alias: report };
}

/** grid/identity.ts's check of an identity file's packets; openpgp.js is loaded only when one is published. */
async function inspectArmored(armored: string): Promise<void> {
  await (await import('./identity.ts')).inspectIdentity(armored);
}
