// Owns talking to a Tahoe node's web API on 127.0.0.1 (DESIGN §4.2): the real TahoeClient
// (grid/tahoe-client.ts), used by the `webapi` transport and by the verification every transport
// relies on. Contract: caps never appear in errors or logs (they are redacted); a node that does not
// answer is a GridUnreachableError; an HTTP error from Tahoe is a TahoeHttpError with Tahoe's own
// one-line reason; bodies are streamed, never buffered whole; Tahoe's JSON (`[type, data]` tuples,
// check results) is decoded here into the client's types and goes no further.
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { PassThrough, Readable, pipeline as pipelineCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GridUnreachableError, SysbackError } from '../core/errors.ts';
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

/** A whole (small) answer body as text. */
function readText(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    response.on('data', (chunk: Buffer) => parts.push(chunk));
    response.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    response.on('error', reject);
    response.on('aborted', () => reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
  });
}

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

/** Decodes an HTTP/1.1 chunked body as it arrives (hands out slices of the bytes given; copies nothing). */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'crlf' | 'done' = 'size';
  private line = '';
  private left = 0;

  feed(bytes: Buffer, emit: (slice: Buffer) => void): 'more' | 'done' {
    let at = 0;
    while (at < bytes.length && this.state !== 'done') {
      if (this.state === 'size' || this.state === 'crlf') {
        const newline = bytes.indexOf(0x0a, at);
        const upTo = newline < 0 ? bytes.length : newline;
        if (this.state === 'size') this.line += bytes.toString('latin1', at, upTo);
        at = newline < 0 ? bytes.length : newline + 1;
        if (newline < 0) break;
        if (this.state === 'crlf') {
          this.state = 'size';
          continue;
        }
        const count = Number.parseInt(this.line.split(';')[0]!.trim(), 16);
        this.line = '';
        if (!Number.isFinite(count) || count < 0) throw new TahoeHttpError('download', 0, 'the node sent a malformed chunked body');
        if (count === 0) this.state = 'done';
        else {
          this.left = count;
          this.state = 'data';
        }
      } else {
        const take = Math.min(this.left, bytes.length - at);
        emit(bytes.subarray(at, at + take));
        at += take;
        this.left -= take;
        if (this.left === 0) this.state = 'crlf';
      }
    }
    return this.state === 'done' ? 'done' : 'more';
  }
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

  /**
   * One HTTP exchange with the node (node:http, not fetch: fetch's Readable.toWeb bridge queued up
   * to 16,384 chunks of a request body whatever the socket said, so an upload's memory grew with the
   * archive). A streamed body goes through pipeline(), so the socket's backpressure reaches the
   * archive; a non-2xx answer is a TahoeHttpError with the last line of Tahoe's text.
   */
  private request(what: string, url: string, init: { method?: string; body?: Readable | Uint8Array | string; redirectIsAnswer?: boolean } = {}): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const body = init.body;
      const headers: Record<string, string | number> = {};
      if (typeof body === 'string' || body instanceof Uint8Array) headers['content-length'] = Buffer.byteLength(body);
      else if (body) headers['transfer-encoding'] = 'chunked';
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        reject(this.unreachable(what, error));
      };
      const req = httpRequest(url, { method: init.method ?? 'GET', headers }, (response) => {
        const status = response.statusCode ?? 0;
        // node:http follows no redirect (fetch did): a started operation (`t=start-deep-check`) answers
        // 302 to its status page, which the caller polls itself
        if ((status >= 200 && status < 300) || (init.redirectIsAnswer === true && status >= 300 && status < 400)) {
          settled = true;
          resolve(response);
          return;
        }
        readText(response).then(
          (text) => {
            settled = true;
            reject(new TahoeHttpError(what, status, (text.trim().split('\n').slice(-1)[0] ?? '').slice(0, 300)));
          },
          () => {
            settled = true;
            reject(new TahoeHttpError(what, status, ''));
          },
        );
      });
      req.on('error', fail);
      if (body instanceof Readable) {
        // the source's own error wins: pipeline destroys the request with it
        pipelineCallback(body, req, (error) => {
          if (error) fail(body.errored ?? error);
        });
      } else {
        req.end(body);
      }
    });
  }

  /** A socket error before or while an answer came as a GridUnreachableError; other errors as they are. */
  private unreachable(what: string, error: unknown): Error {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|ERR_STREAM_PREMATURE_CLOSE)$/.test(code)) {
      return new GridUnreachableError(`the Tahoe node at ${this.base} does not answer (${code}) during ${what}`);
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  private async text(what: string, response: IncomingMessage): Promise<string> {
    try {
      return await readText(response);
    } catch (error) {
      throw this.lostDuring(what, error);
    }
  }

  private async json(what: string, response: IncomingMessage): Promise<Json> {
    const text = await this.text(what, response);
    try {
      return JSON.parse(text) as Json;
    } catch {
      throw new TahoeHttpError(what, response.statusCode ?? 0, 'the node answered with something that is not JSON');
    }
  }

  /** The node's welcome page (servers, introducers). */
  async welcome(): Promise<Welcome> {
    const res = await this.request('status', `${this.base}/?t=json`);
    return decodeWelcome(await this.json('status', res));
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
    return (await this.text('mkdir', res)).trim();
  }

  /** Creates (or returns the existing) subdirectory `name` of `dirCap`; returns its write cap. */
  async mkdirIn(dirCap: string, name: string): Promise<string> {
    const res = await this.request('mkdir', `${this.base}/uri/${enc(dirCap)}/${encPath(name)}?t=mkdir`, { method: 'POST' });
    return (await this.text('mkdir', res)).trim();
  }

  /** Uploads `body` (streamed) as an immutable file; returns its cap. With `dirCap`, links it as `name`. */
  async put(body: PutBody, target?: { dirCap: string; name: string }): Promise<string> {
    const url = target ? `${this.base}/uri/${enc(target.dirCap)}/${encPath(target.name)}` : `${this.base}/uri`;
    const res = await this.request('upload', url, { method: 'PUT', body });
    return (await this.text('upload', res)).trim();
  }

  /** Uploads a mutable file (SDMF/MDMF); returns its write cap. */
  async putMutable(body: Uint8Array | string, target?: { dirCap: string; name: string }): Promise<string> {
    const url = target
      ? `${this.base}/uri/${enc(target.dirCap)}/${encPath(target.name)}?format=MDMF`
      : `${this.base}/uri?format=MDMF`;
    const res = await this.request('upload', url, { method: 'PUT', body });
    return (await this.text('upload', res)).trim();
  }

  /** Streams a file's bytes (as Tahoe sends them: node:http decodes no Content-Encoding). */
  async get(cap: string, name?: string): Promise<Readable> {
    // by name, Tahoe labels `*.gz` with Content-Encoding: gzip; node:http hands back the bytes as
    // sent, which are the stored file's, so the name can be asked for directly
    const url = name ? `${this.base}/uri/${enc(cap)}/${encPath(name)}` : `${this.base}/uri/${enc(cap)}`;
    const body = await this.request('download', url);
    // a node that dies mid-body ends the stream with a bare "aborted" (ECONNRESET): say what it is
    const out = new PassThrough({ highWaterMark: 64 * 1024 });
    body.on('error', (error) => out.destroy(this.lostDuring('download', error)));
    body.on('aborted', () => out.destroy(this.lostDuring('download', Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))));
    out.on('close', () => body.destroy()); // a reader that gives up releases the connection
    return body.pipe(out);
  }

  /**
   * sha256 and size of what the grid returns for a file, hashed as it streams. A plain HTTP/1.1 GET
   * on a socket read into ONE reused buffer (net's `onread`): each chunk is hashed before the next
   * read, so the read-back allocates nothing per chunk (a buffer per socket read made the process
   * hold tens of MB of dead buffers until a garbage collection came).
   */
  override async digest(cap: string, name?: string): Promise<{ sha256: string; size: number }> {
    const target = new URL(name ? `${this.base}/uri/${enc(cap)}/${encPath(name)}` : `${this.base}/uri/${enc(cap)}`);
    const host = target.hostname;
    const port = Number(target.port || 80);
    return new Promise((resolve, reject) => {
      const hash = createHash('sha256');
      let size = 0;
      let head: Buffer | undefined = Buffer.alloc(0);
      let status = 0;
      let length: number | undefined;
      let chunked: ChunkedDecoder | undefined;
      let errorText = '';
      let received = 0;
      let done = false;
      const finish = (error?: Error) => {
        if (done) return;
        done = true;
        socket.destroy();
        if (error) reject(error);
        else resolve({ sha256: hash.digest('hex'), size });
      };
      const ok = () => status >= 200 && status < 300;
      const emit = (bytes: Buffer) => {
        if (!ok()) {
          if (errorText.length < 65536) errorText += bytes.toString('utf8');
          return;
        }
        hash.update(bytes);
        size += bytes.length;
      };
      const body = (bytes: Buffer) => {
        if (chunked) {
          if (chunked.feed(bytes, emit) === 'done') complete();
          return;
        }
        emit(bytes);
        received += bytes.length;
        if (length !== undefined && received >= length) complete();
      };
      const complete = () => {
        if (!ok()) return finish(new TahoeHttpError('download', status, (errorText.trim().split('\n').slice(-1)[0] ?? '').slice(0, 300)));
        if (length !== undefined && received !== length) return finish(this.lostDuring('download', Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
        finish();
      };
      const read = (count: number, buffer: Uint8Array): boolean => {
        if (done) return false;
        const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, count);
        if (!head) {
          body(bytes);
          return true;
        }
        head = Buffer.concat([head, bytes]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 65536) finish(new TahoeHttpError('download', 0, 'the node sent no end of its headers'));
          return true;
        }
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const rest = head.subarray(end + 4);
        head = undefined;
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          const key = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          if (key === 'content-length') length = Number(value);
          if (key === 'transfer-encoding' && /chunked/i.test(value)) chunked = new ChunkedDecoder();
        }
        if (chunked) length = undefined;
        if (length === 0) complete();
        else if (rest.length > 0) body(rest);
        return true;
      };
      const socket: Socket = connect({
        host,
        port,
        onread: {
          buffer: Buffer.allocUnsafe(64 * 1024),
          callback: (count: number, buffer: Uint8Array) => {
            try {
              return read(count, buffer);
            } catch (error) {
              finish(error instanceof Error ? error : new Error(String(error)));
              return false;
            }
          },
        },
      });
      socket.on('connect', () => socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`));
      socket.on('error', (error) => finish(head ? this.unreachable('download', error) : this.lostDuring('download', error)));
      socket.on('end', () => {
        if (done) return;
        if (head) return finish(new GridUnreachableError(`the Tahoe node at ${this.base} closed the connection before answering the download`));
        // without a length or chunks, the end of the connection is the end of the body
        if (!chunked && length === undefined) return complete();
        if (!ok()) return complete();
        finish(this.lostDuring('download', Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
      });
      socket.on('close', () => finish(this.lostDuring('download', Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))));
    });
  }

  /** A body that broke off (the node stopped answering mid-reply) as a GridUnreachableError; other errors as they are. */
  private lostDuring(what: string, error: unknown): Error {
    if (error instanceof SysbackError) return error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'EPIPE' || (error instanceof Error && error.message === 'aborted')) {
      return new GridUnreachableError(`the Tahoe node at ${this.base} stopped answering during ${what} (${code ?? 'aborted'})`);
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  /** The raw `?t=json` answer for a cap or a child; undefined when absent (404). */
  private async rawInfo(cap: string, name?: string): Promise<unknown> {
    const url = name ? `${this.base}/uri/${enc(cap)}/${encPath(name)}?t=json` : `${this.base}/uri/${enc(cap)}?t=json`;
    try {
      const res = await this.request('stat', url);
      return await this.json('stat', res);
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
    await this.text('link', await this.request('link', url, { method: 'PUT', body: cap }));
  }

  async unlink(dirCap: string, name: string): Promise<void> {
    await this.text('unlink', await this.request('unlink', `${this.base}/uri/${enc(dirCap)}/${encPath(name)}`, { method: 'DELETE' }));
  }

  /** Checks an object (`t=check`: share presence, no download); `verify` fetches and verifies every
      share too (`verify=true`, the scheduled full verification). The placement comes from its sharemap. */
  async check(cap: string, options: { verify?: boolean; addLease?: boolean } = {}): Promise<CheckResult> {
    const params = new URLSearchParams({ t: 'check', output: 'JSON' });
    if (options.verify === true) params.set('verify', 'true');
    if (options.addLease) params.set('add-lease', 'true');
    const res = await this.request('check', `${this.base}/uri/${enc(cap)}?${params}`, { method: 'POST' });
    return decodeCheck(await this.json('check', res));
  }

  /**
   * Renews leases on everything reachable from `dirCap` (deep check with add-lease), and repairs what
   * lost shares (routers are storage servers: a router that dies takes its shares with it), waiting
   * for it. `objects` were checked, `unhealthy` needed repair before this run.
   */
  async renewLeases(dirCap: string, timeoutMs = 300_000): Promise<LeaseRenewal> {
    const handle = `sysback-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const params = new URLSearchParams({ t: 'start-deep-check', 'add-lease': 'true', repair: 'true', ophandle: handle, output: 'JSON' });
    await this.text('lease renewal', await this.request('lease renewal', `${this.base}/uri/${enc(dirCap)}?${params}`, { method: 'POST', redirectIsAnswer: true }));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.request('lease renewal', `${this.base}/operations/${handle}?t=status&output=JSON`);
      const json = obj(await this.json('lease renewal', res));
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
