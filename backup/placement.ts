// Owns the rule "a backup survives the loss of the router" (issue 11, item 1; DESIGN §4.4): an
// object counts as backed up only when it is recoverable from servers OTHER than this router's own
// storage server, read from Tahoe's check results (which server holds which share) and the router's
// own node id. Contract: `recoverableWithout` is pure; `PlacementError` is exit 11 (like too few
// servers) and says how many other servers hold shares and how many distinct shares they hold.
import { EXIT, SysbackError } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import type { CheckResult, ShareHolder, TahoeClient } from '../grid/tahoe-client.ts';

export interface PlacementVerdict {
  /** the object can be read without the excluded server */
  ok: boolean;
  /** distinct share numbers held by the other servers */
  distinctShares: number;
  /** how many other servers hold at least one share */
  otherServers: number;
  /** shares the excluded server holds */
  ownShares: number;
  needed: number;
}

/**
 * Is the object the check describes recoverable once `ownServerId` is gone? Counts the distinct
 * shares the other servers hold (a share held twice counts once) against `needed` (the check's
 * own count-shares-needed when not given). An unknown own id (undefined) excludes nothing. Pure.
 */
export function recoverableWithout(
  check: Pick<CheckResult, 'placement' | 'neededShares'>,
  ownServerId: string | undefined,
  needed: number = check.neededShares,
): PlacementVerdict {
  const others = check.placement.filter((h: ShareHolder) => h.server !== ownServerId && h.shares.length > 0);
  const distinct = new Set(others.flatMap((h) => h.shares));
  const own = check.placement.find((h) => h.server === ownServerId)?.shares.length ?? 0;
  const wanted = Math.max(1, needed);
  return { ok: distinct.size >= wanted, distinctShares: distinct.size, otherServers: others.length, ownShares: own, needed: wanted };
}

/** One line for logs and errors: `2 of 3 shares on 2 other server(s), 1 on this router`. */
export function describePlacement(what: string, verdict: PlacementVerdict): string {
  return `${what}: ${verdict.distinctShares} distinct share(s) on ${verdict.otherServers} other server(s) (${verdict.needed} needed), ${verdict.ownShares} on this router`;
}

/** A backup object would be lost with the router: exit 11, the last good backup kept. */
export class PlacementError extends SysbackError {
  readonly verdicts: Record<string, PlacementVerdict>;
  constructor(
    verdicts: Record<string, PlacementVerdict>,
    subject: { what: string; hint: string } = {
      what: 'the backup',
      hint: 'wait until more grid storage servers are connected, then run sysback backup again (the last good backup is kept)',
    },
  ) {
    const failing = Object.entries(verdicts).filter(([, v]) => !v.ok);
    const lines = failing.map(([what, v]) => describePlacement(what, v));
    super(`${subject.what} would not survive the loss of this router: ${lines.join('; ')}`, {
      hint: subject.hint,
      exitCode: EXIT.tooFewServers,
    });
    this.verdicts = verdicts;
  }
}

/**
 * Before any write: are at least `needed` storage servers other than this router connected? With
 * fewer, every write into a mutable directory recovery reads (archives/, the manifest's directory)
 * would lean on the router's own shares and could leave the versions readable without it stale, so
 * the run writes nothing. Pure over the welcome page's server list.
 */
export function otherServersConnected(servers: readonly { nodeid: string; connected: boolean }[], ownServerId: string | undefined): number {
  return servers.filter((s) => s.connected && s.nodeid !== ownServerId).length;
}

export class TooFewOtherServersError extends SysbackError {
  constructor(
    connected: number,
    needed: number,
    subject: { what: string; hint: string } = {
      what: 'a backup',
      hint: 'wait until more grid storage servers are connected, then run sysback backup again (the last good backup is kept; nothing was written)',
    },
  ) {
    super(`only ${connected} storage server(s) other than this router are connected; ${subject.what} that survives the loss of this router needs ${needed}`, {
      hint: subject.hint,
      exitCode: EXIT.tooFewServers,
    });
  }
}

/**
 * Checks each object's placement; when one would not survive the loss of this router, repairs
 * everything under `repairRoot` (lease renewal's deep check with repair, which places missing shares
 * on the servers up) once and checks again; still not: `undo`, then PlacementError (exit 11).
 */
export async function settlePlacement(
  log: Pick<Log, 'warn'>,
  api: TahoeClient,
  own: string | undefined,
  objects: Record<string, string>,
  repairRoot: string,
  undo: () => Promise<void>,
  subject?: ConstructorParameters<typeof PlacementError>[1],
): Promise<Record<string, PlacementVerdict>> {
  const verdicts = async () => {
    const out: Record<string, PlacementVerdict> = {};
    for (const [what, cap] of Object.entries(objects)) out[what] = recoverableWithout(await api.check(cap), own);
    return out;
  };
  let now = await verdicts();
  if (Object.values(now).every((v) => v.ok)) return now;
  log.warn(`repairing: ${Object.entries(now).filter(([, v]) => !v.ok).map(([what, v]) => describePlacement(what, v)).join('; ')}`);
  await api.renewLeases(repairRoot).catch(() => undefined);
  now = await verdicts();
  if (Object.values(now).every((v) => v.ok)) return now;
  await undo().catch((error: unknown) => log.warn(`could not undo before failing: ${error instanceof Error ? error.message : String(error)}`));
  throw new PlacementError(now, subject);
}

/** How many new directories `mkdirAwayFrom` makes at most before it keeps one with shares on the router. */
export const AWAY_TRIES = 12;

/**
 * A fresh mutable directory (its write cap) for an object a recovery starts from (the identity
 * directory), with no share on this router's own storage server when the grid allows it. Tahoe puts a
 * new directory's shares.total shares on the first servers of a ring permuted by its storage index,
 * the router's own server among them; a share there is worth nothing once the router is lost, and
 * in a grid with as many servers as shares.total the shares left are then on every one of the other
 * servers, so a recovery has to reach each of them (CI's e2e over Tor: the identity read failed for
 * 2 minutes). When at least `total` servers other than the router are connected (so every share can
 * go elsewhere), a directory with a share on the router is let go (empty, linked nowhere: its leases
 * lapse) and another is made, up to AWAY_TRIES in all; otherwise, or when every try lands on the
 * router, the last one is kept (the published identity's placement is checked as before). With 3
 * other servers and the router's for 3 shares a directory lands off the router 1 time in 4: 4 tries
 * on average (a mkdir and a check each, a few seconds over Tor), and 3 % of the time all 12 miss.
 * An unknown own id (undefined) makes one directory.
 */
export async function mkdirAwayFrom(
  api: Pick<TahoeClient, 'mkdir' | 'check' | 'welcome'>,
  own: string | undefined,
  total: number,
  tries = AWAY_TRIES,
): Promise<{ writeCap: string; tries: number; ownShares: number }> {
  let writeCap = await api.mkdir();
  if (own === undefined) return { writeCap, tries: 1, ownShares: 0 };
  const others = otherServersConnected((await api.welcome()).servers, own);
  for (let attempt = 1; ; attempt++) {
    const ownShares = recoverableWithout(await api.check(writeCap), own).ownShares;
    if (ownShares === 0 || others < total || attempt >= tries) return { writeCap, tries: attempt, ownShares };
    writeCap = await api.mkdir();
  }
}

/**
 * The identity a flow just published (its directory, by the WRITE cap the flow still holds, and
 * identity.asc in it) must survive the loss of this router like a backup: a recovery starts from it.
 * The flow holds the directory's write cap only until it succeeds (the router keeps none), so this is
 * the one moment a bad placement can be repaired; when it cannot, the step fails with exit 11 and a
 * rerun resumes (`undo` may make it start over with a fresh directory). Backup runs only check it
 * afterwards (a warning).
 */
export async function settleIdentityPlacement(
  log: Pick<Log, 'warn'>,
  api: TahoeClient,
  own: string | undefined,
  dirWriteCap: string,
  undo: () => Promise<void> = async () => {},
): Promise<Record<string, PlacementVerdict>> {
  // loaded here: the public area's module brings the OpenPGP code, which a backup run never needs
  const { IDENTITY_FILE } = await import('../grid/public-area.ts');
  const objects: Record<string, string> = { 'the identity directory': dirWriteCap };
  const file = await api.info(dirWriteCap, IDENTITY_FILE);
  if (file) objects['the identity file'] = file.readCap;
  return settlePlacement(log, api, own, objects, dirWriteCap, undo, { what: 'the published identity', hint: IDENTITY_HINT });
}

const IDENTITY_HINT = 'wait until more grid storage servers are connected, then run sysback firstboot again (it resumes)';

/** Before publishing an identity: enough servers other than this router to hold it (exit 11 if not; nothing written). */
export async function assertIdentityServers(api: TahoeClient, own: string | undefined, needed: number): Promise<void> {
  const others = otherServersConnected((await api.welcome()).servers, own);
  if (others < needed) throw new TooFewOtherServersError(others, needed, { what: 'an identity', hint: IDENTITY_HINT });
}
