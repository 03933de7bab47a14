// What the fault campaign (scripts/faults.ts) knows about a backup, read from OUTSIDE the router: the
// grid's own gateway node, spoken to over Tahoe's plain HTTP API (fetch, no sysback module), so the
// checks keep meaning the same when sysback's internals change. Contract: `lastGoodIntact` says
// whether a private area holds a last good backup anyone with its cap can restore: the manifest
// parses, its newest generation downloads by cap with the manifest's sha256, SysBackup.tar.gz is a
// generation the manifest names (same sha256), and `tar -tzf` opens it; it returns the fixture's
// generation marker found inside, or the reason it is not intact. Never throws for a grid answer.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const enc = (cap: string) => encodeURIComponent(cap);

export class Gateway {
  constructor(readonly base: string) {}

  static onPort(port: number | string): Gateway {
    return new Gateway(`http://127.0.0.1:${port}`);
  }

  /**
   * `?t=json` of CAP or of PATH under it; undefined when absent (HTTP 404). Unreadable (any other
   * failure, e.g. a 410 while the gateway's connections to restarted servers come back) throws
   * UnreadableError: "absent" is a verdict on the backup, "unreadable" only on this moment.
   */
  async info(cap: string, child?: string): Promise<any | undefined> {
    const url = `${this.base}/uri/${enc(cap)}${child ? `/${child.split('/').map(encodeURIComponent).join('/')}` : ''}?t=json`;
    const res = await fetch(url).catch((error: unknown) => error as Error);
    if (res instanceof Error) throw new UnreadableError(`the gateway does not answer: ${res.message}`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new UnreadableError(`reading ${child ?? 'a directory'} failed: HTTP ${res.status}`);
    return res.json().catch(() => undefined);
  }

  /** The bytes behind a cap (fetched by the cap itself: by name Tahoe would gzip-decode *.gz). */
  async bytes(cap: string): Promise<Buffer> {
    const res = await fetch(`${this.base}/uri/${enc(cap)}`);
    if (!res.ok) throw new UnreadableError(`download failed: HTTP ${res.status} ${(await res.text().catch(() => '')).slice(0, 120)}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async childCap(dirCap: string, child: string): Promise<string | undefined> {
    const info = await this.info(dirCap, child);
    return info?.[1]?.ro_uri ?? info?.[1]?.rw_uri;
  }

  /** Tahoe's plain check of CAP, in a few words: versions recoverable/unrecoverable, good shares. */
  async checkSummary(cap: string): Promise<string> {
    const res = await fetch(`${this.base}/uri/${enc(cap)}?t=check&output=JSON`, { method: 'POST' }).catch((error: unknown) => error as Error);
    if (res instanceof Error) return `check: ${res.message}`;
    if (!res.ok) return `check: HTTP ${res.status}`;
    const r: any = (await res.json().catch(() => ({})))?.results ?? {};
    return `check: ${r['count-recoverable-versions'] ?? '?'} recoverable version(s), ${r['count-unrecoverable-versions'] ?? '?'} unrecoverable, ${r['count-shares-good'] ?? '?'} good shares on ${r['count-good-share-hosts'] ?? '?'} server(s)`;
  }

  async connectedServers(): Promise<number> {
    const res = await fetch(`${this.base}/?t=json`).catch(() => undefined);
    if (!res?.ok) return -1;
    const welcome: any = await res.json().catch(() => ({}));
    return (welcome.servers ?? []).filter((s: any) => typeof s.connection_status === 'string' && /^connected/i.test(s.connection_status)).length;
  }

  async waitForServers(wanted: number, timeoutMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.connectedServers()) >= wanted) return true;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return false;
  }
}

export interface IntactResult {
  ok: boolean;
  reason: string;
  /** the fixture's generation marker (`generation=X` in MARKER_FILE) in the manifest's newest generation: what a recovery restores */
  marker?: string;
  /** the same in SysBackup.tar.gz */
  latestMarker?: string;
  /** the newest generation's size in bytes */
  size?: number;
  generations?: number;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `tar -tzf` opens the archive; returns the marker inside it, or throws with tar's complaint. */
function markerIn(archive: Buffer, markerFile: string, label: string): string | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-faults-tar-'));
  try {
    const file = path.join(dir, 'archive.tar.gz');
    writeFileSync(file, archive);
    const list = spawnSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (list.status !== 0) throw new Error(`tar -tzf fails on ${label}: ${list.stderr.trim()}`);
    const member = list.stdout.split('\n').find((l) => l.replace(/^\.?\//, '') === markerFile.replace(/^\//, ''));
    return member ? /generation=(\S+)/.exec(spawnSync('tar', ['-xzOf', file, member], { encoding: 'utf8' }).stdout)?.[1] : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class UnreadableError extends Error {}

/**
 * Is the last good backup intact, read from the gateway? A read that fails for the moment (not a 404)
 * is tried again for up to `patienceMs`, as a person recovering would: right after servers come back
 * the gateway may still be reconnecting; the verdict names the last failure if it never passes.
 */
export async function lastGoodIntact(gateway: Gateway, privateCap: string, markerFile: string, patienceMs = 30_000): Promise<IntactResult> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      return await intactOnce(gateway, privateCap, markerFile);
    } catch (error) {
      if (!(error instanceof UnreadableError) || Date.now() > deadline) return { ok: false, reason: (error as Error).message };
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function intactOnce(gateway: Gateway, privateCap: string, markerFile: string): Promise<IntactResult> {
  const manifestCap = await gateway.childCap(privateCap, 'manifest.json');
  if (!manifestCap) return { ok: false, reason: 'no manifest.json' };
  const manifest = JSON.parse((await gateway.bytes(manifestCap)).toString('utf8'));
  const gens: Array<{ name: string; sha256: string; size: number }> = manifest.generations ?? [];
  if (gens.length === 0) return { ok: false, reason: 'the manifest lists no generation' };
  const newest = gens[0]!;
  const newestCap = await gateway.childCap(privateCap, `archives/${newest.name}`);
  if (!newestCap) return { ok: false, reason: `the manifest's newest ${newest.name} is not in archives/` };
  const newestBytes = await gateway.bytes(newestCap);
  if (sha256(newestBytes) !== newest.sha256) return { ok: false, reason: `the manifest's newest ${newest.name} does not match its sha256` };
  const latestCap = await gateway.childCap(privateCap, 'SysBackup.tar.gz');
  if (!latestCap) return { ok: false, reason: 'no SysBackup.tar.gz' };
  const latest = latestCap === newestCap ? newestBytes : await gateway.bytes(latestCap);
  const digest = sha256(latest);
  const named = gens.find((g) => g.sha256 === digest);
  if (!named) return { ok: false, reason: `SysBackup.tar.gz (sha256 ${digest.slice(0, 12)}) is no generation of the manifest (${gens.map((g) => g.name).join(', ')})` };
  if (named.size !== latest.length) return { ok: false, reason: `SysBackup.tar.gz is ${latest.length} bytes, the manifest says ${named.size}` };
  const marker = markerIn(newestBytes, markerFile, newest.name);
  const latestMarker = latest === newestBytes ? marker : markerIn(latest, markerFile, 'SysBackup.tar.gz');
  return {
    ok: true,
    reason: `newest ${newest.name} of ${gens.length}${named !== newest ? `, SysBackup.tar.gz is ${named.name}` : ''}`,
    generations: gens.length,
    size: newest.size,
    ...(marker ? { marker } : {}),
    ...(latestMarker ? { latestMarker } : {}),
  };
}
