// Owns talking to a Tahoe node's web API on 127.0.0.1 (DESIGN §4.2): the `webapi` transport and the
// verification every transport relies on. Contract: caps never appear in errors or logs (they are
// redacted); a node that does not answer is a GridUnreachableError; an HTTP error from Tahoe is a
// SysbackError with Tahoe's own one-line reason; bodies are streamed, never buffered whole.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GridUnreachableError, SysbackError, TooFewServersError, EXIT } from '../core/errors.ts';
import { redactCaps } from '../core/redact.ts';

export interface ServerStatus {
  nodeid: string;
  nickname: string;
  connected: boolean;
}

export interface DirEntry {
  name: string;
  type: 'dirnode' | 'filenode' | 'unknown';
  /** read-write cap where we hold one, else the read cap */
  cap: string;
  readCap: string;
  size?: number;
  mtime?: number;
  mutable: boolean;
}

export interface CheckResult {
  healthy: boolean;
  recoverable: boolean;
  goodShares: number;
  neededShares: number;
  summary: string;
}

export class TahoeHttpError extends SysbackError {
  readonly status: number;
  constructor(what: string, status: number, reason: string) {
    super(`${what} failed: HTTP ${status} ${redactCaps(reason)}`, { exitCode: EXIT.command });
    this.status = status;
  }
}

function enc(cap: string): string {
  return encodeURIComponent(cap);
}

function encPath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

export class TahoeWebApi {
  readonly base: string;
  constructor(webPort: number | string, host = '127.0.0.1') {
    this.base = typeof webPort === 'string' && webPort.startsWith('http') ? webPort.replace(/\/$/, '') : `http://${host}:${webPort}`;
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

  /** The node's welcome page as JSON (servers, introducers). */
  async welcome(): Promise<any> {
    const res = await this.request('status', `${this.base}/?t=json`);
    return res.json();
  }

  async isUp(): Promise<boolean> {
    try {
      await this.welcome();
      return true;
    } catch {
      return false;
    }
  }

  async servers(): Promise<ServerStatus[]> {
    const welcome = await this.welcome();
    return (welcome.servers ?? []).map((s: any) => ({
      nodeid: String(s.nodeid ?? ''),
      nickname: String(s.nickname ?? ''),
      connected: typeof s.connection_status === 'string' && /^connected/i.test(s.connection_status),
    }));
  }

  async connectedServers(): Promise<number> {
    return (await this.servers()).filter((s) => s.connected).length;
  }

  /** Introducers this node is connected to, and how many it knows. */
  async introducers(): Promise<{ connected: number; total: number }> {
    const welcome = await this.welcome();
    const statuses: any[] = welcome.introducers?.statuses ?? [];
    return { connected: statuses.filter((s) => /^connected/i.test(String(s))).length, total: statuses.length };
  }

  /** Waits until the web API answers; bounded. */
  async waitUntilUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.isUp())) {
      if (Date.now() > deadline) {
        throw new GridUnreachableError(`the Tahoe node at ${this.base} did not start answering within ${Math.round(timeoutMs / 1000)} s`);
      }
      await sleep(250);
    }
  }

  /**
   * Waits until at least `wanted` storage servers are connected, reporting progress; throws
   * TooFewServersError with the count when the bound passes.
   */
  async waitForServers(wanted: number, timeoutMs: number, onProgress?: (connected: number) => void): Promise<number> {
    const started = Date.now();
    let last = -1;
    for (;;) {
      let connected = 0;
      try {
        connected = await this.connectedServers();
      } catch (error) {
        if (!(error instanceof GridUnreachableError)) throw error;
      }
      if (connected !== last) onProgress?.(connected);
      last = connected;
      if (connected >= wanted) return connected;
      if (Date.now() - started > timeoutMs) throw new TooFewServersError(connected, wanted, Math.round(timeoutMs / 1000));
      await sleep(250);
    }
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
  async put(body: Readable | Uint8Array | string, target?: { dirCap: string; name: string }): Promise<string> {
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
    return Readable.fromWeb(res.body as any);
  }

  async getBytes(cap: string, name?: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.get(cap, name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** sha256 and size of what the grid returns for a file, streamed. */
  async digest(cap: string, name?: string): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of await this.get(cap, name)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sha256: hash.digest('hex'), size };
  }

  /** Node info (`?t=json`) of a cap or of `name` under a directory cap; undefined when absent. */
  async info(cap: string, name?: string): Promise<any | undefined> {
    const url = name ? `${this.base}/uri/${enc(cap)}/${encPath(name)}?t=json` : `${this.base}/uri/${enc(cap)}?t=json`;
    try {
      const res = await this.request('stat', url);
      return await res.json();
    } catch (error) {
      if (error instanceof TahoeHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** The cap of `name` under a directory (read cap where we hold no write cap); 404 when absent. */
  async childCap(dirCap: string, name: string): Promise<string> {
    const info = await this.info(dirCap, name);
    const cap: string | undefined = info?.[1]?.ro_uri ?? info?.[1]?.rw_uri;
    if (!cap) throw new TahoeHttpError('download', 404, 'no such file');
    return cap;
  }

  /** Lists a directory. */
  async list(dirCap: string, name?: string): Promise<DirEntry[]> {
    const info = await this.info(dirCap, name);
    if (!info) throw new TahoeHttpError('list', 404, 'no such directory');
    const [type, data] = info as [string, any];
    if (type !== 'dirnode') throw new TahoeHttpError('list', 400, 'not a directory');
    return Object.entries<any>(data.children ?? {})
      .map(([childName, [childType, child]]) => ({
        name: childName,
        type: childType === 'dirnode' || childType === 'filenode' ? childType : 'unknown',
        cap: child.rw_uri ?? child.ro_uri,
        readCap: child.ro_uri ?? child.rw_uri,
        size: child.size,
        mtime: child.metadata?.tahoe?.linkmotime,
        mutable: Boolean(child.mutable),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)) as DirEntry[];
  }

  /** Links an existing cap into a directory under `name` (replacing what was there unless `replace` is false). */
  async link(dirCap: string, name: string, cap: string, replace = true): Promise<void> {
    const url = `${this.base}/uri/${enc(dirCap)}/${encPath(name)}?t=uri${replace ? '' : '&replace=false'}`;
    await this.request('link', url, { method: 'PUT', body: cap });
  }

  async unlink(dirCap: string, name: string): Promise<void> {
    await this.request('unlink', `${this.base}/uri/${enc(dirCap)}/${encPath(name)}`, { method: 'DELETE' });
  }

  /** Checks a file with share verification (`t=check&verify=true`). */
  async check(cap: string, options: { verify?: boolean; addLease?: boolean } = {}): Promise<CheckResult> {
    const params = new URLSearchParams({ t: 'check', output: 'JSON' });
    if (options.verify !== false) params.set('verify', 'true');
    if (options.addLease) params.set('add-lease', 'true');
    const res = await this.request('check', `${this.base}/uri/${enc(cap)}?${params}`, { method: 'POST' });
    const json: any = await res.json();
    const r = json.results ?? {};
    return {
      healthy: Boolean(r.healthy),
      recoverable: Boolean(r.recoverable),
      goodShares: Number(r['count-good-share-hosts'] ?? r['count-shares-good'] ?? 0),
      neededShares: Number(r['count-shares-needed'] ?? 0),
      summary: String(json.summary ?? ''),
    };
  }

  /**
   * Renews leases on everything reachable from `dirCap` (deep check with add-lease), and repairs what
   * lost shares (routers are storage servers: a router that dies takes its shares with it), waiting
   * for it. `objects` were checked, `unhealthy` needed repair before this run.
   */
  async renewLeases(dirCap: string, timeoutMs = 300_000): Promise<{ objects: number; unhealthy: number }> {
    const handle = `sysback-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const params = new URLSearchParams({ t: 'start-deep-check', 'add-lease': 'true', repair: 'true', ophandle: handle, output: 'JSON' });
    await this.request('lease renewal', `${this.base}/uri/${enc(dirCap)}?${params}`, { method: 'POST' });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.request('lease renewal', `${this.base}/operations/${handle}?t=status&output=JSON`);
      const json: any = await res.json();
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
