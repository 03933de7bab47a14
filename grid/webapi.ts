// Owns talking to a Tahoe node's web API on 127.0.0.1 (DESIGN §4.2): the real TahoeClient
// (grid/tahoe-client.ts), used by the `webapi` transport and by the verification every transport
// relies on. Contract: caps never appear in errors or logs (they are redacted); a node that does not
// answer is a GridUnreachableError; an HTTP error from Tahoe is a TahoeHttpError with Tahoe's own
// one-line reason; bodies are streamed, never buffered whole; Tahoe's JSON (`[type, data]` tuples,
// check results) is decoded here into the client's types and goes no further.
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GridUnreachableError } from '../core/errors.ts';
import {
  placementFromSharemap,
  TahoeClientBase,
  TahoeHttpError,
  type CheckResult,
  type DirEntry,
  type LeaseRenewal,
  type NodeInfo,
  type NodeKind,
  type PutBody,
  type ServerStatus,
  type Welcome,
} from './tahoe-client.ts';

export { TahoeHttpError, type CheckResult, type DirEntry, type NodeInfo, type ServerStatus, type Welcome } from './tahoe-client.ts';

function enc(cap: string): string {
  return encodeURIComponent(cap);
}

function encPath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

// ---- Tahoe's JSON, decoded (the only place that reads its shapes) ------------------------------

type Json = unknown;

function obj(value: Json): Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, Json>) : {};
}

function str(value: Json): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: Json): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function kindOf(value: Json): NodeKind {
  return value === 'dirnode' || value === 'filenode' ? value : 'unknown';
}

/** `[type, {ro_uri, rw_uri, mutable, size, ...}]` -> NodeInfo; undefined when it names no cap. */
export function decodeNode(tuple: Json): (NodeInfo & { data: Record<string, Json> }) | undefined {
  if (!Array.isArray(tuple)) return undefined;
  const data = obj(tuple[1]);
  const readCap = str(data.ro_uri) ?? str(data.rw_uri);
  if (!readCap) return undefined;
  const writeCap = str(data.rw_uri);
  const size = num(data.size);
  return {
    kind: kindOf(tuple[0]),
    cap: writeCap ?? readCap,
    readCap,
    ...(writeCap ? { writeCap } : {}),
    mutable: Boolean(data.mutable),
    ...(size !== undefined ? { size } : {}),
    data,
  };
}

/** The welcome page's `servers` and `introducers.statuses`. */
export function decodeWelcome(json: Json): Welcome {
  const top = obj(json);
  const servers: ServerStatus[] = (Array.isArray(top.servers) ? top.servers : []).map((raw) => {
    const s = obj(raw);
    return {
      nodeid: String(s.nodeid ?? ''),
      nickname: String(s.nickname ?? ''),
      connected: typeof s.connection_status === 'string' && /^connected/i.test(s.connection_status),
    };
  });
  const statuses = obj(top.introducers).statuses;
  const list = Array.isArray(statuses) ? statuses : [];
  return { servers, introducers: { connected: list.filter((s) => /^connected/i.test(String(s))).length, total: list.length } };
}

/** A `t=check&output=JSON` answer. */
export function decodeCheck(json: Json): CheckResult {
  const top = obj(json);
  const r = obj(top.results);
  const sharemap: Record<string, string[]> = {};
  for (const [id, servers] of Object.entries(obj(r.sharemap))) sharemap[id] = Array.isArray(servers) ? servers.map(String) : [];
  const responding = Array.isArray(r['servers-responding']) ? r['servers-responding'].map(String) : [];
  const needed = Number(r['count-shares-needed'] ?? 0);
  return {
    healthy: Boolean(r.healthy),
    recoverable: Boolean(r.recoverable),
    goodShares: Number(r['count-good-share-hosts'] ?? r['count-shares-good'] ?? 0),
    neededShares: needed,
    expectedShares: Number(r['count-shares-expected'] ?? 0),
    goodShareHosts: Number(r['count-good-share-hosts'] ?? 0),
    summary: String(top.summary ?? ''),
    placement: placementFromSharemap(sharemap, Math.max(1, needed)),
    serversResponding: responding,
  };
}

export class TahoeWebApi extends TahoeClientBase {
  readonly base: string;
  constructor(webPort: number | string, host = '127.0.0.1') {
    super();
    this.base = typeof webPort === 'string' && webPort.startsWith('http') ? webPort.replace(/\/$/, '') : `http://${host}:${webPort}`;
  }

  get endpoint(): string {
    return this.base;
  }

  private async request(what: string, url: string, init: RequestInit & { duplex?: 'half' } = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new GridUnreachableError(`the Tahoe node at ${this.base} does not answer (${cause}) during ${what}`);
    }
    if (!response.ok) {
      const body = (await response.text().catch(() => '')).trim().split('\n').slice(-1)[0] ?? '';
      throw new TahoeHttpError(what, response.status, body.slice(0, 300));
    }
    return response;
  }

  /** The node's welcome page (servers, introducers). */
  async welcome(): Promise<Welcome> {
    const res = await this.request('status', `${this.base}/?t=json`);
    return decodeWelcome(await res.json());
  }

  async servers(): Promise<ServerStatus[]> {
    return (await this.welcome()).servers;
  }

  /** Introducers this node is connected to, and how many it knows. */
  async introducers(): Promise<{ connected: number; total: number }> {
    return (await this.welcome()).introducers;
  }

  /** Creates a new mutable directory; returns its write cap. */
  async mkdir(): Promise<string> {
    const res = await this.request('mkdir', `${this.base}/uri?t=mkdir`, { method: 'POST' });
    return (await res.text()).trim();
  }

  /** Creates (or returns the existing) subdirectory `name` of `dirCap`; returns its write cap. */
  async mkdirIn(dirCap: string, name: string): Promise<string> {
    const res = await this.request('mkdir', `${this.base}/uri/${enc(dirCap)}/${encPath(name)}?t=mkdir`, { method: 'POST' });
    return (await res.text()).trim();
  }

  /** Uploads `body` (streamed) as an immutable file; returns its cap. With `dirCap`, links it as `name`. */
  async put(body: PutBody, target?: { dirCap: string; name: string }): Promise<string> {
    const url = target ? `${this.base}/uri/${enc(target.dirCap)}/${encPath(target.name)}` : `${this.base}/uri`;
    const stream = body instanceof Readable ? (Readable.toWeb(body) as unknown as ReadableStream) : body;
    const res = await this.request('upload', url, { method: 'PUT', body: stream as BodyInit, duplex: 'half' });
    return (await res.text()).trim();
  }

  /** Uploads a mutable file (SDMF/MDMF); returns its write cap. */
  async putMutable(body: Uint8Array | string, target?: { dirCap: string; name: string }): Promise<string> {
    const url = target
      ? `${this.base}/uri/${enc(target.dirCap)}/${encPath(target.name)}?format=MDMF`
      : `${this.base}/uri?format=MDMF`;
    const res = await this.request('upload', url, { method: 'PUT', body: body as BodyInit });
    return (await res.text()).trim();
  }

  /** Streams a file's bytes. */
  async get(cap: string, name?: string): Promise<Readable> {
    // A child is fetched by its own cap: by name, Tahoe labels `*.gz` with Content-Encoding: gzip and
    // fetch() would hand back the *decompressed* bytes, so a backup would not match its sha256.
    const target = name ? await this.childCap(cap, name) : cap;
    const res = await this.request('download', `${this.base}/uri/${enc(target)}`);
    if (!res.body) throw new TahoeHttpError('download', res.status, 'empty body');
    const body = Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]);
    // a node that dies mid-body ends the stream with undici's bare TypeError("terminated"): say what it is
    const out = new PassThrough();
    body.on('error', (error) => out.destroy(this.lostDuring('download', error)));
    out.on('close', () => body.destroy()); // a reader that gives up releases the connection
    return body.pipe(out);
  }

  /** A body that broke off (the node stopped answering mid-reply) as a GridUnreachableError; other errors as they are. */
  private lostDuring(what: string, error: unknown): Error {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    if (error instanceof TypeError && (error.message === 'terminated' || cause?.startsWith('UND_ERR'))) {
      return new GridUnreachableError(`the Tahoe node at ${this.base} stopped answering during ${what} (${cause ?? error.message})`);
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  /** The raw `?t=json` answer for a cap or a child; undefined when absent (404). */
  private async rawInfo(cap: string, name?: string): Promise<unknown> {
    const url = name ? `${this.base}/uri/${enc(cap)}/${encPath(name)}?t=json` : `${this.base}/uri/${enc(cap)}?t=json`;
    try {
      const res = await this.request('stat', url);
      return (await res.json().catch((error: unknown) => {
        throw this.lostDuring('stat', error);
      })) as unknown;
    } catch (error) {
      if (error instanceof TahoeHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Node info of a cap or of `name` under a directory cap; undefined when absent. */
  async info(cap: string, name?: string): Promise<NodeInfo | undefined> {
    const node = decodeNode(await this.rawInfo(cap, name));
    if (!node) return undefined;
    const { data: _data, ...info } = node;
    return info;
  }

  /** Lists a directory. */
  async list(dirCap: string, name?: string): Promise<DirEntry[]> {
    const raw = await this.rawInfo(dirCap, name);
    if (raw === undefined) throw new TahoeHttpError('list', 404, 'no such directory');
    const node = decodeNode(raw);
    if (!node || node.kind !== 'dirnode') throw new TahoeHttpError('list', 400, 'not a directory');
    const entries: DirEntry[] = [];
    for (const [childName, tuple] of Object.entries(obj(node.data.children))) {
      const child = decodeNode(tuple);
      if (!child) continue;
      const linkmotime = num(obj(obj(child.data.metadata).tahoe).linkmotime);
      entries.push({
        name: childName,
        type: child.kind,
        cap: child.cap,
        readCap: child.readCap,
        ...(child.size !== undefined ? { size: child.size } : {}),
        ...(linkmotime !== undefined ? { mtime: linkmotime } : {}),
        mutable: child.mutable,
      });
    }
    return entries.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Links an existing cap into a directory under `name` (replacing what was there unless `replace` is false). */
  async link(dirCap: string, name: string, cap: string, replace = true): Promise<void> {
    const url = `${this.base}/uri/${enc(dirCap)}/${encPath(name)}?t=uri${replace ? '' : '&replace=false'}`;
    await this.request('link', url, { method: 'PUT', body: cap });
  }

  async unlink(dirCap: string, name: string): Promise<void> {
    await this.request('unlink', `${this.base}/uri/${enc(dirCap)}/${encPath(name)}`, { method: 'DELETE' });
  }

  /** Checks an object (`t=check`: share presence, no download); `verify` fetches and verifies every
      share too (`verify=true`, the scheduled full verification). The placement comes from its sharemap. */
  async check(cap: string, options: { verify?: boolean; addLease?: boolean } = {}): Promise<CheckResult> {
    const params = new URLSearchParams({ t: 'check', output: 'JSON' });
    if (options.verify === true) params.set('verify', 'true');
    if (options.addLease) params.set('add-lease', 'true');
    const res = await this.request('check', `${this.base}/uri/${enc(cap)}?${params}`, { method: 'POST' });
    return decodeCheck(await res.json());
  }

  /**
   * Renews leases on everything reachable from `dirCap` (deep check with add-lease), and repairs what
   * lost shares (routers are storage servers: a router that dies takes its shares with it), waiting
   * for it. `objects` were checked, `unhealthy` needed repair before this run.
   */
  async renewLeases(dirCap: string, timeoutMs = 300_000): Promise<LeaseRenewal> {
    const handle = `sysback-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const params = new URLSearchParams({ t: 'start-deep-check', 'add-lease': 'true', repair: 'true', ophandle: handle, output: 'JSON' });
    await this.request('lease renewal', `${this.base}/uri/${enc(dirCap)}?${params}`, { method: 'POST' });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.request('lease renewal', `${this.base}/operations/${handle}?t=status&output=JSON`);
      const json = obj(await res.json());
      if (json.finished) {
        // deep-check-and-repair reports pre-repair counts; plain deep-check has no prefix
        const count = (key: string) => Number(json[key] ?? json[`pre-repair-${key}`] ?? 0);
        return { objects: count('count-objects-checked'), unhealthy: count('count-objects-unhealthy') };
      }
      if (Date.now() > deadline) throw new GridUnreachableError('lease renewal did not finish in time');
      await sleep(300);
    }
  }
}
