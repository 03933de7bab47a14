// Owns an in-memory Tahoe grid for unit tests (DESIGN §6 keeps real programs for integration tests;
// STYLE §5: the transport contract suite and the flows' unit tests run against this too, without
// root). It implements the TahoeClient contract of grid/tahoe-client.ts honestly enough to catch the
// mistakes a real grid would:
// - immutable files are content-addressed (`URI:CHK:key:hash:k:N:size`, the key derived from the
//   client's convergence secret and the bytes: the same bytes from the same node give the same cap);
// - directories are mutable (`URI:DIR2:writekey:fp`, read cap `URI:DIR2-RO:readkey:fp`, the read key
//   derived from the write key); every write is a new version (sequence number) published to the
//   servers that are up; a read takes the newest version recoverable from the servers that are up;
//   a read cap cannot write, and children seen through a read cap are read-only;
// - every object's shares are placed over the configured storage servers (N = `shares.total`, at most
//   one per server while there are enough servers, in a per-object permuted order as Tahoe does), so
//   `check` reports which server holds which share; a stopped server's shares are not counted and
//   a server that is started again brings its (possibly stale) shares back;
// - an immutable upload needs `shares.happy` servers up (else HTTP 500, Tahoe's UploadUnhappinessError),
//   reading needs `shares.needed` shares (else HTTP 410), a missing child is a 404, `replace=false`
//   on an existing child a 409; any operation can be made to fail with an injected HTTP status
//   (for example 500, the uncoordinated-write error several writers to one directory cause);
// - a client whose node is stopped does not answer (GridUnreachableError); an upload can be stored
//   damaged (`corruptNextUpload`), so verification has something to catch;
// - a test can fix where shares go (`placeFirstOn`: the listed servers, when up, come first in every
//   placement, as Tahoe's `[client] peers.preferred` does), so "the router's own server holds 2 of 3"
//   is a scenario, not luck of the permutation.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GridUnreachableError } from '../core/errors.ts';
import {
  TahoeClientBase,
  TahoeHttpError,
  type CheckResult,
  type DirEntry,
  type LeaseRenewal,
  type NodeInfo,
  type NodeKind,
  type PutBody,
  type ShareHolder,
  type Welcome,
} from './tahoe-client.ts';

export interface Encoding {
  needed: number;
  happy: number;
  total: number;
}

export interface MemoryGridOptions {
  /** storage server ids; default three: storage-0, storage-1, storage-2 */
  servers?: readonly string[];
  /** default 2-of-3, happy 3 (the project's test grids) */
  shares?: Encoding;
}

/** The operations a fault can be injected into. */
export type ClientOperation = 'welcome' | 'mkdir' | 'put' | 'get' | 'info' | 'list' | 'link' | 'unlink' | 'check' | 'renewLeases';

export interface Fault {
  operation: ClientOperation;
  status: number;
  reason: string;
  /** how many more calls fail (default 1) */
  times: number;
  /** only calls whose child name satisfies this fail */
  name?: (name: string | undefined) => boolean;
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function fromBase32(text: string): Buffer | undefined {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text) {
    const v = B32.indexOf(ch);
    if (v < 0) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function sha(...parts: (string | Uint8Array)[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

type ParsedCap =
  | { kind: 'file'; si: string; cap: string }
  | { kind: 'dir'; si: string; writable: boolean; readCap: string; writeCap?: string; fingerprint: string };

/** Decodes a cap this grid makes; undefined for anything else. */
function parseCap(cap: string): ParsedCap | undefined {
  const parts = cap.split(':');
  if (parts[0] !== 'URI') return undefined;
  if (parts[1] === 'CHK' && parts.length === 7) {
    const key = fromBase32(parts[2]!);
    if (!key) return undefined;
    return { kind: 'file', si: base32(sha('si', key).subarray(0, 16)), cap };
  }
  if ((parts[1] === 'DIR2' || parts[1] === 'DIR2-RO') && parts.length === 4) {
    const key = fromBase32(parts[2]!);
    if (!key) return undefined;
    const fp = parts[3]!;
    if (parts[1] === 'DIR2') {
      const readKey = sha('readkey', key).subarray(0, 16);
      return { kind: 'dir', si: base32(sha('si', readKey).subarray(0, 16)), writable: true, writeCap: cap, readCap: `URI:DIR2-RO:${base32(readKey)}:${fp}`, fingerprint: fp };
    }
    return { kind: 'dir', si: base32(sha('si', key).subarray(0, 16)), writable: false, readCap: cap, fingerprint: fp };
  }
  return undefined;
}

interface Child {
  kind: NodeKind;
  readCap: string;
  writeCap?: string;
  mutable: boolean;
  size?: number;
  linkmotime: number;
}

type Children = ReadonlyMap<string, Child>;

interface FileObject {
  kind: 'file';
  bytes: Buffer;
  /** server id -> share numbers held */
  shares: Map<string, Set<number>>;
}

interface DirObject {
  kind: 'dir';
  /** sequence number -> the directory's children at that version */
  versions: Map<number, Children>;
  /** server id -> the version it holds and its share numbers */
  shares: Map<string, { seq: number; shares: Set<number> }>;
  /** the fingerprint in its caps (Tahoe's hash of the directory's verification key) */
  fingerprint: string;
}

type StoredObject = FileObject | DirObject;

interface Server {
  id: string;
  nickname: string;
  up: boolean;
}

export class MemoryGrid {
  readonly encoding: Encoding;
  private readonly servers = new Map<string, Server>();
  private readonly objects = new Map<string, StoredObject>();
  private readonly faults: Fault[] = [];
  private linkClock = 0;
  private corruptUploads = 0;
  private preferred: string[] = [];
  private hooks: { operation: ClientOperation; name?: (name: string | undefined) => boolean; run: () => void }[] = [];

  constructor(options: MemoryGridOptions = {}) {
    this.encoding = options.shares ?? { needed: 2, happy: 3, total: 3 };
    for (const id of options.servers ?? ['storage-0', 'storage-1', 'storage-2']) this.addServer(id);
  }

  /** Adds a storage server (up); a router's own node is one too. */
  addServer(id: string, nickname = id): void {
    this.servers.set(id, { id, nickname, up: true });
  }

  stopServer(id: string): void {
    this.server(id).up = false;
  }

  startServer(id: string): void {
    this.server(id).up = true;
  }

  serverIds(): string[] {
    return [...this.servers.keys()];
  }

  private server(id: string): Server {
    const server = this.servers.get(id);
    if (!server) throw new Error(`the memory grid has no server ${id}`);
    return server;
  }

  /** A client node; its own storage server (when it offers storage) goes down with it. */
  client(options: { name?: string; convergence?: string; ownServer?: string } = {}): MemoryTahoeClient {
    if (options.ownServer && !this.servers.has(options.ownServer)) this.addServer(options.ownServer);
    return new MemoryTahoeClient(this, options.name ?? 'client', options.convergence ?? 'memory-grid-convergence', options.ownServer);
  }

  /** Makes the next `times` calls of `operation` fail with HTTP `status`. */
  inject(operation: ClientOperation, status: number, reason: string, options: { times?: number; name?: (name: string | undefined) => boolean } = {}): void {
    this.faults.push({ operation, status, reason, times: options.times ?? 1, ...(options.name ? { name: options.name } : {}) });
  }

  /** Removes every injected fault not yet used up. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Tahoe's error when two writers change one mutable directory at once. */
  uncoordinatedWrite(operation: ClientOperation = 'link', times = 1): void {
    this.inject(operation, 500, 'UncoordinatedWriteError: the directory changed under us', { times });
  }

  /** The next `times` immutable uploads are stored with one byte changed (a grid returning other bytes than written). */
  corruptNextUpload(times = 1): void {
    this.corruptUploads += times;
  }

  /** Runs `run` once, just before the next call of `operation` (whose child name fits): a server stopped between two steps. */
  beforeNext(operation: ClientOperation, run: () => void, options: { name?: (name: string | undefined) => boolean } = {}): void {
    this.hooks.push({ operation, run, ...(options.name ? { name: options.name } : {}) });
  }

  /** Shares go to these servers first (those up, in this order), then the permuted rest; [] clears. */
  placeFirstOn(servers: readonly string[]): void {
    this.preferred = [...servers];
  }

  /** Which server holds which share of `cap` (of the newest version, for a directory), up or not. */
  placement(cap: string): ShareHolder[] {
    const parsed = parseCap(cap);
    const object = parsed && this.objects.get(parsed.si);
    if (!object) return [];
    const holders: ShareHolder[] = [];
    if (object.kind === 'file') {
      for (const [server, shares] of object.shares) if (shares.size) holders.push({ server, shares: [...shares].sort((a, b) => a - b) });
    } else {
      const newest = Math.max(...[...object.shares.values()].map((s) => s.seq));
      for (const [server, held] of object.shares) if (held.seq === newest && held.shares.size) holders.push({ server, shares: [...held.shares].sort((a, b) => a - b) });
    }
    return holders.sort((a, b) => a.server.localeCompare(b.server));
  }

  // ---- what the clients call ------------------------------------------------------------------

  /** @internal */
  fault(operation: ClientOperation, name?: string): void {
    const hook = this.hooks.findIndex((h) => h.operation === operation && (!h.name || h.name(name)));
    if (hook >= 0) this.hooks.splice(hook, 1)[0]!.run();
    const index = this.faults.findIndex((f) => f.operation === operation && (!f.name || f.name(name)));
    if (index < 0) return;
    const fault = this.faults[index]!;
    fault.times -= 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    throw new TahoeHttpError(operation, fault.status, fault.reason);
  }

  /** @internal */
  welcome(): Welcome {
    return {
      servers: [...this.servers.values()].map((s) => ({ nodeid: s.id, nickname: s.nickname, connected: s.up })),
      introducers: { connected: 1, total: 1 },
    };
  }

  private upServers(): string[] {
    return [...this.servers.values()].filter((s) => s.up).map((s) => s.id);
  }

  /** Tahoe's permuted server order for a storage index: where its shares go first. */
  private permuted(si: string, servers: string[]): string[] {
    const first = this.preferred.filter((id) => servers.includes(id));
    const rest = servers.filter((id) => !first.includes(id)).sort((a, b) => sha(si, a).compare(sha(si, b)));
    return [...first, ...rest];
  }

  /** share number -> server, over the servers that are up; N shares, spread as widely as they go. */
  private placeShares(si: string, servers: string[]): Map<string, Set<number>> {
    const order = this.permuted(si, servers);
    const placed = new Map<string, Set<number>>();
    for (let share = 0; share < this.encoding.total; share += 1) {
      const server = order[share % order.length]!;
      placed.set(server, (placed.get(server) ?? new Set()).add(share));
    }
    return placed;
  }

  private nextLinkTime(): number {
    this.linkClock = Math.max(this.linkClock + 0.001, Date.now() / 1000);
    return this.linkClock;
  }

  /** @internal Stores bytes as an immutable file; content-addressed by the convergence secret. */
  storeFile(bytes: Buffer, convergence: string): string {
    const { needed, total, happy } = this.encoding;
    const key = sha('chk-key', convergence, `${needed}-${total}`, bytes).subarray(0, 16);
    const cap = `URI:CHK:${base32(key)}:${base32(sha('ueb', key, bytes))}:${needed}:${total}:${bytes.length}`;
    const si = (parseCap(cap) as { si: string }).si;
    const up = this.upServers();
    if (up.length < happy) {
      throw new TahoeHttpError('upload', 500, `UploadUnhappinessError: shares could be placed on only ${up.length} server(s) such that any ${needed} of them have enough shares to recover the file, but we were asked to place shares on at least ${happy}`);
    }
    const existing = this.objects.get(si);
    let stored = bytes;
    if (this.corruptUploads > 0 && bytes.length > 0) {
      this.corruptUploads -= 1;
      stored = Buffer.from(bytes);
      const middle = stored.length >> 1;
      stored[middle] = stored[middle]! ^ 0xff;
    }
    const object: FileObject = existing?.kind === 'file' ? existing : { kind: 'file', bytes: stored, shares: new Map() };
    for (const [server, shares] of this.placeShares(si, up)) {
      const held = object.shares.get(server) ?? new Set<number>();
      for (const share of shares) held.add(share);
      object.shares.set(server, held);
    }
    this.objects.set(si, object);
    return cap;
  }

  /** @internal A new, empty mutable directory; its write cap. */
  createDir(): string {
    const writeKey = randomBytes(16);
    const cap = `URI:DIR2:${base32(writeKey)}:${base32(sha('fp', writeKey))}`;
    const parsed = parseCap(cap) as { si: string; fingerprint: string };
    this.publish(parsed.si, undefined, new Map(), parsed.fingerprint);
    return cap;
  }

  /** Publishes a new version of a directory to the servers that are up. */
  private publish(si: string, object: DirObject | undefined, children: Children, fingerprint = object?.fingerprint ?? ''): void {
    const up = this.upServers();
    if (up.length < this.encoding.needed) {
      throw new TahoeHttpError('publish', 500, `NotEnoughServersError: only ${up.length} storage server(s) are connected`);
    }
    const dir: DirObject = object ?? { kind: 'dir', versions: new Map(), shares: new Map(), fingerprint };
    const seq = dir.versions.size === 0 ? 1 : Math.max(...dir.versions.keys(), ...[...dir.shares.values()].map((s) => s.seq)) + 1;
    dir.versions.set(seq, new Map(children));
    for (const [server, shares] of this.placeShares(si, up)) dir.shares.set(server, { seq, shares });
    this.objects.set(si, dir);
  }

  /** Distinct shares of a file, or of each directory version, on servers that are up. */
  private goodShares(object: StoredObject): Map<number, { shares: Set<number>; hosts: Map<string, number[]> }> {
    const byVersion = new Map<number, { shares: Set<number>; hosts: Map<string, number[]> }>();
    const add = (seq: number, server: string, shares: Iterable<number>) => {
      if (!this.servers.get(server)?.up) return;
      const entry = byVersion.get(seq) ?? { shares: new Set<number>(), hosts: new Map<string, number[]>() };
      const list = [...shares];
      if (!list.length) return;
      for (const share of list) entry.shares.add(share);
      entry.hosts.set(server, list.sort((a, b) => a - b));
      byVersion.set(seq, entry);
    };
    if (object.kind === 'file') for (const [server, shares] of object.shares) add(0, server, shares);
    else for (const [server, held] of object.shares) add(held.seq, server, held.shares);
    return byVersion;
  }

  /** The newest recoverable version of a directory (its sequence number), if any. */
  private bestVersion(dir: DirObject): number | undefined {
    const recoverable = [...this.goodShares(dir).entries()].filter(([, v]) => v.shares.size >= this.encoding.needed).map(([seq]) => seq);
    return recoverable.length ? Math.max(...recoverable) : undefined;
  }

  /** @internal The bytes of an immutable file. */
  readFile(cap: string): Buffer {
    const parsed = parseCap(cap);
    if (!parsed) throw new TahoeHttpError('download', 400, 'not a cap this grid knows');
    if (parsed.kind !== 'file') throw new TahoeHttpError('download', 400, 'that is a directory, not a file');
    const object = this.objects.get(parsed.si);
    const good = object ? this.goodShares(object).get(0) : undefined;
    if (!object || object.kind !== 'file' || !good || good.shares.size < this.encoding.needed) {
      throw new TahoeHttpError('download', 410, `NotEnoughSharesError: ran out of shares: found ${good?.shares.size ?? 0}, needed ${this.encoding.needed}`);
    }
    return object.bytes;
  }

  /** @internal Has anyone made the object `cap` names (whatever its shares' state)? */
  made(cap: string): boolean {
    const parsed = parseCap(cap);
    return parsed !== undefined && this.objects.has(parsed.si);
  }

  /** @internal The children of a directory (newest recoverable version). */
  readDir(parsed: Extract<ParsedCap, { kind: 'dir' }>, what: string): Children {
    const object = this.objects.get(parsed.si);
    if (!object || object.kind !== 'dir') throw new TahoeHttpError(what, 410, 'NoSharesError: no shares of this directory were found');
    // Tahoe finds a directory's shares by the read key, then ignores those whose key the cap's fingerprint does not match
    if (object.fingerprint !== parsed.fingerprint) throw new TahoeHttpError(what, 410, 'UnrecoverableFileError: no shares of a version this cap verifies');
    const seq = this.bestVersion(object);
    if (seq === undefined) throw new TahoeHttpError(what, 410, 'UnrecoverableFileError: not enough shares of any version of this directory');
    return object.versions.get(seq)!;
  }

  /** @internal Changes a directory: `change` gets a copy of its children, returns what to publish. */
  writeDir(parsed: Extract<ParsedCap, { kind: 'dir' }>, what: string, change: (children: Map<string, Child>) => void): void {
    if (!parsed.writable) throw new TahoeHttpError(what, 403, 'NotWriteableError: this directory is read-only');
    const children = new Map(this.readDir(parsed, what));
    change(children);
    this.publish(parsed.si, this.objects.get(parsed.si) as DirObject, children);
  }

  /** @internal A child record for a cap about to be linked. */
  childFor(cap: string): Child {
    const parsed = parseCap(cap);
    if (!parsed) return { kind: 'unknown', readCap: cap, mutable: false, linkmotime: this.nextLinkTime() };
    if (parsed.kind === 'file') {
      const size = Number(cap.split(':')[6]);
      return { kind: 'filenode', readCap: cap, mutable: false, size, linkmotime: this.nextLinkTime() };
    }
    return { kind: 'dirnode', readCap: parsed.readCap, ...(parsed.writeCap ? { writeCap: parsed.writeCap } : {}), mutable: true, linkmotime: this.nextLinkTime() };
  }

  /** @internal check of one object. */
  check(cap: string): CheckResult {
    const parsed = parseCap(cap);
    if (!parsed) throw new TahoeHttpError('check', 400, 'not a cap this grid knows');
    const stored = this.objects.get(parsed.si);
    // shares the cap's fingerprint does not verify are not counted, as in Tahoe
    const object = stored?.kind === 'dir' && parsed.kind === 'dir' && stored.fingerprint !== parsed.fingerprint ? undefined : stored;
    const versions = object ? this.goodShares(object) : new Map();
    const best = object?.kind === 'dir' ? this.bestVersion(object) : 0;
    const good = best === undefined ? undefined : versions.get(best);
    const goodCount = good?.shares.size ?? 0;
    const placement: ShareHolder[] = good ? [...good.hosts.entries()].map(([server, shares]) => ({ server, shares })).sort((a, b) => a.server.localeCompare(b.server)) : [];
    const { needed, total, happy } = this.encoding;
    // all N shares, spread over enough servers (happiness), as Tahoe's checker counts "healthy"
    // and, for a directory, no other version on the servers up (Tahoe counts several versions unhealthy)
    const healthy = goodCount >= total && placement.length >= Math.min(happy, total) && versions.size <= 1;
    return {
      healthy,
      recoverable: goodCount >= needed,
      goodShares: placement.length,
      neededShares: needed,
      expectedShares: total,
      goodShareHosts: placement.length,
      summary: healthy ? 'Healthy' : `Not Healthy: ${goodCount} shares (enc ${needed}-of-${total})`,
      placement,
      serversResponding: this.upServers().sort(),
    };
  }

  /** @internal Deep check + repair + add-lease from a directory. */
  renewLeases(dirCap: string): LeaseRenewal {
    const seen = new Set<string>();
    const result = { objects: 0, unhealthy: 0 };
    const visit = (cap: string) => {
      const parsed = parseCap(cap);
      if (!parsed || seen.has(parsed.si)) return;
      seen.add(parsed.si);
      result.objects += 1;
      const check = this.check(cap);
      if (!check.recoverable) throw new TahoeHttpError('lease renewal', 410, 'UnrecoverableFileError: an object in the tree cannot be read');
      const object = this.objects.get(parsed.si)!;
      if (!check.healthy) {
        result.unhealthy += 1;
        this.repair(parsed.si, object);
      }
      if (parsed.kind === 'dir') for (const child of this.readDir(parsed, 'lease renewal').values()) visit(child.readCap);
    };
    visit(dirCap);
    return result;
  }

  private repair(si: string, object: StoredObject): void {
    const up = this.upServers();
    if (object.kind === 'file') {
      for (const [server, shares] of this.placeShares(si, up)) {
        const held = object.shares.get(server) ?? new Set<number>();
        for (const share of shares) held.add(share);
        object.shares.set(server, held);
      }
      return;
    }
    const seq = this.bestVersion(object)!;
    for (const [server, shares] of this.placeShares(si, up)) object.shares.set(server, { seq, shares });
  }
}

/** A node's client on the memory grid. */
export class MemoryTahoeClient extends TahoeClientBase {
  readonly endpoint: string;
  /** false while the node is stopped: every call is a GridUnreachableError */
  up = true;
  protected override pollMs = 1;

  constructor(
    readonly grid: MemoryGrid,
    readonly name: string,
    private readonly convergence: string,
    readonly ownServer: string | undefined,
  ) {
    super();
    this.endpoint = `memory:${name}`;
  }

  /** Stops the node (and its own storage server). */
  stop(): void {
    this.up = false;
    if (this.ownServer) this.grid.stopServer(this.ownServer);
  }

  start(): void {
    this.up = true;
    if (this.ownServer) this.grid.startServer(this.ownServer);
  }

  private enter(operation: ClientOperation, name?: string): void {
    if (!this.up) throw new GridUnreachableError(`the Tahoe node at ${this.endpoint} does not answer (stopped) during ${operation}`);
    this.grid.fault(operation, name);
  }

  private dirCapOf(cap: string, what: string): Extract<ParsedCap, { kind: 'dir' }> {
    const parsed = parseCap(cap);
    if (!parsed) throw new TahoeHttpError(what, 400, 'not a cap this grid knows');
    if (parsed.kind !== 'dir') throw new TahoeHttpError(what, 400, 'not a directory');
    return parsed;
  }

  /** The directory holding the last component of `name` under `dirCap`, made on the way when `make`. */
  private parentOf(dirCap: string, name: string, what: string, make: boolean): { parent: Extract<ParsedCap, { kind: 'dir' }>; base: string } {
    const parts = name.split('/').filter((p) => p !== '');
    if (parts.length === 0) throw new TahoeHttpError(what, 400, 'empty child name');
    let current = this.dirCapOf(dirCap, what);
    for (const part of parts.slice(0, -1)) {
      let child = this.grid.readDir(current, what).get(part);
      if (!child && make) {
        const made = this.grid.createDir();
        this.grid.writeDir(current, what, (children) => children.set(part, this.grid.childFor(made)));
        child = this.grid.readDir(current, what).get(part);
      }
      if (!child) throw new TahoeHttpError(what, 404, `No such child: ${part}`);
      if (child.kind !== 'dirnode') throw new TahoeHttpError(what, 400, `${part} is not a directory`);
      const next = this.dirCapOf(current.writable && child.writeCap ? child.writeCap : child.readCap, what);
      current = next;
    }
    return { parent: current, base: parts[parts.length - 1]! };
  }

  /** The child at `name` as this client may see it (read-only through a read-only parent). */
  private childAt(dirCap: string, name: string, what: string): Child | undefined {
    const { parent, base } = this.parentOf(dirCap, name, what, false);
    const child = this.grid.readDir(parent, what).get(base);
    if (!child) return undefined;
    if (parent.writable || !child.writeCap) return child;
    const { writeCap: _hidden, ...readOnly } = child;
    return readOnly;
  }

  async welcome(): Promise<Welcome> {
    this.enter('welcome');
    return this.grid.welcome();
  }

  async mkdir(): Promise<string> {
    this.enter('mkdir');
    return this.grid.createDir();
  }

  async mkdirIn(dirCap: string, name: string): Promise<string> {
    this.enter('mkdir', name);
    const { parent, base } = this.parentOf(dirCap, name, 'mkdir', true);
    const existing = this.grid.readDir(parent, 'mkdir').get(base);
    if (existing) {
      if (existing.kind !== 'dirnode') throw new TahoeHttpError('mkdir', 409, `${base} exists and is not a directory`);
      return existing.writeCap ?? existing.readCap;
    }
    const made = this.grid.createDir();
    this.grid.writeDir(parent, 'mkdir', (children) => children.set(base, this.grid.childFor(made)));
    return made;
  }

  async put(body: PutBody, target?: { dirCap: string; name: string }): Promise<string> {
    this.enter('put', target?.name);
    const bytes = await collect(body);
    if (!this.up) throw new GridUnreachableError(`the Tahoe node at ${this.endpoint} stopped during upload`);
    const cap = this.grid.storeFile(bytes, this.convergence);
    if (target) {
      const { parent, base } = this.parentOf(target.dirCap, target.name, 'upload', true);
      this.grid.writeDir(parent, 'upload', (children) => children.set(base, this.grid.childFor(cap)));
    }
    return cap;
  }

  async get(cap: string, name?: string): Promise<Readable> {
    this.enter('get', name);
    const target = name ? this.childAt(cap, name, 'download') : undefined;
    if (name && !target) throw new TahoeHttpError('download', 404, 'no such file');
    const bytes = this.grid.readFile(target?.readCap ?? cap);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536));
    return Readable.from(chunks);
  }

  async info(cap: string, name?: string): Promise<NodeInfo | undefined> {
    this.enter('info', name);
    if (name) {
      let child: Child | undefined;
      try {
        child = this.childAt(cap, name, 'stat');
      } catch (error) {
        // a child of a directory nobody made: Tahoe answers 404, as for a missing child; a directory
        // that exists but has too few shares up is HTTP 410 there, as in Tahoe
        if (error instanceof TahoeHttpError && (error.status === 404 || (error.status === 410 && !this.grid.made(cap)))) return undefined;
        throw error;
      }
      if (!child) return undefined;
      return nodeInfo(child);
    }
    const parsed = parseCap(cap);
    if (!parsed) throw new TahoeHttpError('stat', 400, 'not a cap this grid knows');
    if (parsed.kind === 'file') {
      const size = this.grid.readFile(cap).length;
      return { kind: 'filenode', cap, readCap: cap, mutable: false, size };
    }
    this.grid.readDir(parsed, 'stat');
    return { kind: 'dirnode', cap: parsed.writeCap ?? parsed.readCap, readCap: parsed.readCap, ...(parsed.writeCap ? { writeCap: parsed.writeCap } : {}), mutable: true };
  }

  async list(dirCap: string, name?: string): Promise<DirEntry[]> {
    this.enter('list', name);
    let cap = dirCap;
    if (name) {
      const child = this.childAt(dirCap, name, 'list');
      if (!child) throw new TahoeHttpError('list', 404, 'no such directory');
      cap = child.writeCap ?? child.readCap;
    }
    const parsed = this.dirCapOf(cap, 'list');
    const entries: DirEntry[] = [];
    for (const [childName, raw] of this.grid.readDir(parsed, 'list')) {
      const child = parsed.writable || !raw.writeCap ? raw : { ...raw, writeCap: undefined };
      entries.push({
        name: childName,
        type: child.kind,
        cap: child.writeCap ?? child.readCap,
        readCap: child.readCap,
        ...(child.size !== undefined ? { size: child.size } : {}),
        mtime: child.linkmotime,
        mutable: child.mutable,
      });
    }
    return entries.sort((a, b) => a.name.localeCompare(b.name));
  }

  async link(dirCap: string, name: string, cap: string, replace = true): Promise<void> {
    this.enter('link', name);
    const { parent, base } = this.parentOf(dirCap, name, 'link', true);
    if (!replace && this.grid.readDir(parent, 'link').has(base)) throw new TahoeHttpError('link', 409, `There was already a child by that name, and you asked me to not replace it.`);
    const child = this.grid.childFor(cap);
    this.grid.writeDir(parent, 'link', (children) => children.set(base, child));
  }

  async unlink(dirCap: string, name: string): Promise<void> {
    this.enter('unlink', name);
    const { parent, base } = this.parentOf(dirCap, name, 'unlink', false);
    if (!this.grid.readDir(parent, 'unlink').has(base)) throw new TahoeHttpError('unlink', 404, `No such child: ${base}`);
    this.grid.writeDir(parent, 'unlink', (children) => children.delete(base));
  }

  async check(cap: string): Promise<CheckResult> {
    this.enter('check');
    return this.grid.check(cap);
  }

  async renewLeases(dirCap: string): Promise<LeaseRenewal> {
    this.enter('renewLeases');
    return this.grid.renewLeases(dirCap);
  }
}

function nodeInfo(child: Child): NodeInfo {
  return {
    kind: child.kind,
    cap: child.writeCap ?? child.readCap,
    readCap: child.readCap,
    ...(child.writeCap ? { writeCap: child.writeCap } : {}),
    mutable: child.mutable,
    ...(child.size !== undefined ? { size: child.size } : {}),
  };
}

async function collect(body: PutBody): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
