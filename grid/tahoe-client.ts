// Owns the typed contract every Tahoe client keeps (DESIGN §4.2): the domain operations sysback needs
// from a node (`welcome`, `info`, `list`, put/get/link/unlink/mkdir, `check` with share placement,
// `renewLeases`) with real types. Two implementations: grid/webapi.ts (HTTP to a real node's web API)
// and grid/memory-grid.ts (an in-memory grid for unit tests). Tahoe's `[type, data]` JSON tuples are
// decoded inside the implementations and never leave them.
// Contract: caps never appear in errors (TahoeHttpError redacts Tahoe's own text); a node that does
// not answer is a GridUnreachableError; an HTTP-level failure is a TahoeHttpError carrying the status
// Tahoe gives (404 no such child, 409 replace=false on an existing child, 410 not enough shares,
// 500 an uncoordinated write); bodies are streams, never buffered whole, except `getBytes`.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, GridUnreachableError, SysbackError, TooFewServersError } from '../core/errors.ts';
import { redactCaps } from '../core/redact.ts';

export interface ServerStatus {
  nodeid: string;
  nickname: string;
  connected: boolean;
}

/** The node's welcome page: the storage servers and introducers it knows. */
export interface Welcome {
  servers: ServerStatus[];
  introducers: { connected: number; total: number };
}

export type NodeKind = 'dirnode' | 'filenode' | 'unknown';

/** What Tahoe says about one node (`?t=json`), decoded. */
export interface NodeInfo {
  kind: NodeKind;
  /** the write cap where the asker holds one, else the read cap */
  cap: string;
  readCap: string;
  writeCap?: string;
  mutable: boolean;
  size?: number;
}

export interface DirEntry {
  name: string;
  type: NodeKind;
  /** read-write cap where we hold one, else the read cap */
  cap: string;
  readCap: string;
  size?: number;
  mtime?: number;
  mutable: boolean;
}

/** Which server holds which share (Tahoe's check `results.sharemap`, inverted per server). */
export interface ShareHolder {
  /** the server's node id as the welcome page names it */
  server: string;
  /** share numbers it holds, ascending */
  shares: number[];
}

export interface CheckResult {
  healthy: boolean;
  recoverable: boolean;
  goodShares: number;
  neededShares: number;
  /** count-shares-expected (N) */
  expectedShares: number;
  /** distinct servers holding good shares */
  goodShareHosts: number;
  summary: string;
  /** share placement: which server holds which share */
  placement: ShareHolder[];
  /** node ids of the servers that answered the check */
  serversResponding: string[];
}

export interface LeaseRenewal {
  objects: number;
  unhealthy: number;
}

export type PutBody = Readable | Uint8Array | string;

/** Servers wanted other than one (waitForServers). */
export interface OthersWanted {
  ownId: string | undefined;
  needed: number;
}

export class TahoeHttpError extends SysbackError {
  readonly status: number;
  constructor(what: string, status: number, reason: string) {
    super(`${what} failed: HTTP ${status} ${redactCaps(reason)}`, { exitCode: EXIT.command });
    this.status = status;
  }
}

/**
 * Tahoe's answers that pass once the grid settles, so a caller may try again: HTTP 500 (an
 * uncoordinated write to a mutable directory, or a server still being reached) and HTTP 410 (for a
 * moment too few shares of one version, e.g. while concurrent writes split a directory).
 */
export function isPassingGridError(error: unknown): error is TahoeHttpError {
  return error instanceof TahoeHttpError && (error.status === 500 || error.status === 410);
}

/** How a grid operation that can pass (isPassingGridError) is retried; every field has a default. */
export interface RetryPolicy {
  /** tries in all, the first included (default 8 for a link into the public directory, 5 for readRetrying) */
  attempts?: number;
  /** the first backoff's upper bound in ms (default 200); it doubles each try, up to maxMs */
  baseMs?: number;
  /** (default 5000) */
  maxMs?: number;
  /** uniform in [0, 1): the jitter (default Math.random; a seeded one in tests) */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** told of each retry, for the log (no cap in it); readRetrying adds what was read, the error and the waits so far */
  onRetry?: (message: string, detail?: RetryDetail) => void | Promise<void>;
  /**
   * readRetrying only: keep trying until the waits add up to this many ms, instead of `attempts`
   * tries (at most 200); for a read a person waits on while servers are still connecting
   */
  waitBudgetMs?: number;
  /**
   * readRetrying only: once the waits add up to `afterMs` and the read still fails for the moment,
   * `run` is awaited (once per read) before the next try; e.g. the node restarted, so that it tries
   * every server again at once. An error from `run` ends the read with that error.
   */
  onStalled?: { afterMs: number; run: () => Promise<void> };
}

/** What readRetrying tells `onRetry` beside its message. */
export interface RetryDetail {
  /** what was being read ("reading the alias …"), no cap in it */
  what: string;
  error: Error;
  /** the waits before this retry, added up, in ms */
  waitedMs: number;
}

/** "Full jitter": uniform in [0, min(maxMs, baseMs * 2^retry)). */
export function backoffMs(retry: number, policy: RetryPolicy = {}): number {
  const base = policy.baseMs ?? 200;
  const max = policy.maxMs ?? 5000;
  return Math.floor((policy.random ?? Math.random)() * Math.min(max, base * 2 ** retry));
}

/**
 * A read of the grid (the public area; the old private directory in recovery step e; the backup's
 * manifest), retried while it fails the way a read right after the node connected does, or one during
 * another router's write: a 410/500 that passes (`isPassingGridError`). Seen in CI: "insufficient good shares" with 2
 * of 2 servers connected at load 12 (listing the aliases), and over Tor, where servers connect one by
 * one, a directory's shares on the one grid server not connected yet (recover step b, the identity
 * directory; "new" step d, the alias typed). A read is safe to repeat: bounded, jittered backoff
 * (policy.attempts tries, default 5; each wait up to 0.5, 1, 2, 4, then 5 s; or, with
 * policy.waitBudgetMs, until the waits add up to it), then the last error is thrown. With
 * policy.onStalled, a read still failing after that much waiting runs its remedy once.
 */
export async function readRetrying<T>(what: string, read: () => Promise<T>, policy: RetryPolicy = {}): Promise<T> {
  const budget = policy.waitBudgetMs;
  const attempts = policy.attempts ?? (budget === undefined ? 5 : 200);
  let stalled = policy.onStalled;
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!isPassingGridError(error) || attempt >= attempts || (budget !== undefined && waited >= budget)) throw error;
      if (stalled && waited >= stalled.afterMs) {
        const { run } = stalled;
        stalled = undefined;
        await run();
      }
      await policy.onRetry?.(`${what} failed for the moment (${(error as Error).message.slice(0, 80)}); trying again`, { what, error: error as Error, waitedMs: waited });
      const wait = backoffMs(attempt, { baseMs: 500, ...policy });
      await (policy.sleep ?? ((ms: number) => sleep(ms)))(wait);
      waited += wait;
    }
  }
}

/** The primitive operations an implementation provides; the rest derives from them (TahoeClientBase). */
export interface TahoeClient {
  /** where the node is, for messages (`http://127.0.0.1:3456`, `memory:router`) */
  readonly endpoint: string;
  welcome(): Promise<Welcome>;
  isUp(): Promise<boolean>;
  connectedServers(): Promise<number>;
  waitUntilUp(timeoutMs: number): Promise<void>;
  /**
   * Waits for `wanted` connected storage servers, and with `others`, for `others.needed` of them
   * other than the server `others.ownId` (the router's own: a placement that survives its loss needs
   * that many elsewhere); TooFewServersError with the count at the bound.
   */
  waitForServers(wanted: number, timeoutMs: number, onProgress?: (connected: number, others: number) => void, others?: OthersWanted): Promise<number>;
  /** A new mutable directory; its write cap. */
  mkdir(): Promise<string>;
  /** The subdirectory `name` of `dirCap`, made unless it exists; its write cap. */
  mkdirIn(dirCap: string, name: string): Promise<string>;
  /** An immutable file from `body`; its cap. With `target`, linked there (parents made, replacing). */
  put(body: PutBody, target?: { dirCap: string; name: string }): Promise<string>;
  /** The bytes of a file (`cap`, or `name` under the directory `cap`). */
  get(cap: string, name?: string): Promise<Readable>;
  getBytes(cap: string, name?: string): Promise<Buffer>;
  /** sha256 and size of what the grid returns, streamed. */
  digest(cap: string, name?: string): Promise<{ sha256: string; size: number }>;
  /** The node at `cap` (or `name` under it); undefined when there is no such child. */
  info(cap: string, name?: string): Promise<NodeInfo | undefined>;
  /** The cap of `name` under a directory; TahoeHttpError 404 when absent. */
  childCap(dirCap: string, name: string): Promise<string>;
  /** The entries of a directory, sorted by name. */
  list(dirCap: string, name?: string): Promise<DirEntry[]>;
  /** Links `cap` as `name`; with `replace` false an existing child is a 409. */
  link(dirCap: string, name: string, cap: string, replace?: boolean): Promise<void>;
  unlink(dirCap: string, name: string): Promise<void>;
  /** A plain check (share presence and placement, no share fetched); `verify: true` fetches and
      verifies every share (Tahoe's `check --verify`: N/k times the object's size read, so scheduled). */
  check(cap: string, options?: { verify?: boolean; addLease?: boolean }): Promise<CheckResult>;
  /** Deep check with add-lease and repair of everything reachable from `dirCap`. */
  renewLeases(dirCap: string, timeoutMs?: number): Promise<LeaseRenewal>;
}

/** The primitives an implementation must write; the derived operations come from TahoeClientBase. */
export abstract class TahoeClientBase implements TahoeClient {
  abstract readonly endpoint: string;
  abstract welcome(): Promise<Welcome>;
  abstract mkdir(): Promise<string>;
  abstract mkdirIn(dirCap: string, name: string): Promise<string>;
  abstract put(body: PutBody, target?: { dirCap: string; name: string }): Promise<string>;
  abstract get(cap: string, name?: string): Promise<Readable>;
  abstract info(cap: string, name?: string): Promise<NodeInfo | undefined>;
  abstract list(dirCap: string, name?: string): Promise<DirEntry[]>;
  abstract link(dirCap: string, name: string, cap: string, replace?: boolean): Promise<void>;
  abstract unlink(dirCap: string, name: string): Promise<void>;
  abstract check(cap: string, options?: { verify?: boolean; addLease?: boolean }): Promise<CheckResult>;
  abstract renewLeases(dirCap: string, timeoutMs?: number): Promise<LeaseRenewal>;
  /** how long the waits sleep between polls */
  protected pollMs = 250;

  async isUp(): Promise<boolean> {
    try {
      await this.welcome();
      return true;
    } catch {
      return false;
    }
  }

  async connectedServers(): Promise<number> {
    return (await this.welcome()).servers.filter((s) => s.connected).length;
  }

  async waitUntilUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.isUp())) {
      if (Date.now() > deadline) {
        throw new GridUnreachableError(`the Tahoe node at ${this.endpoint} did not start answering within ${Math.round(timeoutMs / 1000)} s`);
      }
      await sleep(this.pollMs);
    }
  }

  async waitForServers(wanted: number, timeoutMs: number, onProgress?: (connected: number, others: number) => void, others?: OthersWanted): Promise<number> {
    const started = Date.now();
    let last = '';
    for (;;) {
      let connected = 0;
      let elsewhere = 0;
      try {
        const servers = (await this.welcome()).servers.filter((s) => s.connected);
        connected = servers.length;
        elsewhere = servers.filter((s) => s.nodeid !== others?.ownId).length;
      } catch (error) {
        if (!(error instanceof GridUnreachableError)) throw error;
      }
      if (`${connected}/${elsewhere}` !== last) onProgress?.(connected, elsewhere);
      last = `${connected}/${elsewhere}`;
      if (connected >= wanted && (!others || elsewhere >= others.needed)) return connected;
      if (Date.now() - started > timeoutMs) {
        throw connected >= wanted && others
          ? new TooFewServersError(elsewhere, others.needed, Math.round(timeoutMs / 1000), true)
          : new TooFewServersError(connected, wanted, Math.round(timeoutMs / 1000));
      }
      await sleep(this.pollMs);
    }
  }

  async getBytes(cap: string, name?: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.get(cap, name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async digest(cap: string, name?: string): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of await this.get(cap, name)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sha256: hash.digest('hex'), size };
  }

  async childCap(dirCap: string, name: string): Promise<string> {
    const info = await this.info(dirCap, name);
    if (!info) throw new TahoeHttpError('download', 404, 'no such file');
    return info.readCap;
  }
}

/**
 * Inverts Tahoe's `sharemap` ({shareid: [serverid]}) into who holds which share of the version a
 * reader gets. An immutable file has one version (share ids `shK` or `K`). A mutable file's sharemap
 * lists the shares of EVERY version the checker saw (ids `seqN-xxxx-shK`): only the best recoverable
 * version counts (the highest sequence number with `needed` distinct shares, as Tahoe's retrieval
 * picks it; none recoverable: the highest). Counting an older version's shares would call a directory
 * recoverable without this router when what other servers hold is an older version of it (say, one
 * without the manifest).
 */
export function placementFromSharemap(sharemap: Readonly<Record<string, readonly string[]>>, needed = 1): ShareHolder[] {
  const versions = new Map<string, { seq: number; hash: string; byServer: Map<string, Set<number>>; distinct: Set<number> }>();
  for (const [shareId, servers] of Object.entries(sharemap)) {
    const mutable = /^seq(\d+)-([^-]*)-sh(\d+)$/.exec(shareId);
    const key = mutable ? `${mutable[1]}-${mutable[2]}` : '';
    const number = Number(mutable ? mutable[3] : (/(\d+)$/.exec(shareId)?.[1] ?? NaN));
    let version = versions.get(key);
    if (!version) versions.set(key, (version = { seq: mutable ? Number(mutable[1]) : 0, hash: mutable ? mutable[2]! : '', byServer: new Map(), distinct: new Set() }));
    for (const server of servers) {
      const set = version.byServer.get(server) ?? new Set<number>();
      if (Number.isFinite(number)) {
        set.add(number);
        version.distinct.add(number);
      }
      version.byServer.set(server, set);
    }
  }
  const newestFirst = [...versions.values()].sort((a, b) => b.seq - a.seq || b.hash.localeCompare(a.hash));
  const best = newestFirst.find((v) => v.distinct.size >= needed) ?? newestFirst[0];
  if (!best) return [];
  return [...best.byServer.entries()]
    .map(([server, shares]) => ({ server, shares: [...shares].sort((a, b) => a - b) }))
    .sort((a, b) => a.server.localeCompare(b.server));
}

/** How many shares `server` holds according to a check. */
export function sharesOn(result: Pick<CheckResult, 'placement'>, server: string): number {
  return result.placement.find((h) => h.server === server)?.shares.length ?? 0;
}
