// A configured simulated router for the backup integration tests (issue 3): a router on a real grid,
// its fixture tree laid in, configured through the real "new" flow (`sysback configure --answers
// --no-reboot`), and what the tests need to look at its private area from outside: the private
// node's web API and the private dircap (kept in the node's Tahoe alias file), the generations
// listed in archives/, the manifest, and SysBackup.tar.gz fetched and extracted with GNU tar.
// Contract: `configuredRouter` either returns a router whose configure exited 0, or destroys what it
// made and throws with the command's stderr; the caller destroys the router in teardown.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ARCHIVES_DIR, LATEST_NAME, MANIFEST_NAME, parseManifest, type Manifest } from '../../backup/manifest.ts';
import type { GridConfig } from '../../core/config/grid-config.ts';
import { createLog } from '../../core/log.ts';
import { createRunner } from '../../core/runner.ts';
import { ALIAS_PRIVATE, readAliases } from '../../grid/device-nodes.ts';
import { TahoeWebApi, type DirEntry } from '../../grid/webapi.ts';
import { snapshotTree, type SnapshotEntry } from './archive-fixtures.ts';
import { FIXTURE_ROOTS, writeFixtureTree, type FixtureOptions } from './fixture-tree.ts';
import { SimulatedRouter } from './router.ts';

export const PASSWORD = 'plum-kettle-orbit-Saturn-91';
const runner = createRunner(createLog({ level: 'warn' }));

/** A unique alias on a shared grid: the test's name plus a random suffix. */
export function uniqueAlias(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

export async function configuredRouter(
  name: string,
  grid: GridConfig,
  options: { transport?: 'mount' | 'webapi'; retention?: number; fixture?: FixtureOptions; holdShares?: boolean } = {},
): Promise<SimulatedRouter> {
  const router = await SimulatedRouter.create(name, {
    grid,
    ...(options.transport ? { transport: options.transport } : {}),
    ...(options.retention ? { retention: options.retention } : {}),
    ...(options.holdShares ? { holdShares: true } : {}),
  });
  try {
    await writeFixtureTree(router.root, options.fixture);
    router.write('/root/answers.json', JSON.stringify({ mode: 'new', alias: uniqueAlias(name), password: PASSWORD }) + '\n', 0o600);
    const result = await router.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
    if (result.exitCode !== 0) throw new Error(`sysback configure exited ${result.exitCode}: ${result.stderr.slice(-3000)}`);
    return router;
  } catch (error) {
    await router.destroy();
    throw error;
  }
}

/** The router's private node, seen from the host. */
export function privateApi(router: SimulatedRouter): TahoeWebApi {
  return new TahoeWebApi(router.config().tahoe.webPorts.private);
}

/** The private area's dircap, from the private node's alias file. */
export function privateCap(router: SimulatedRouter): string {
  const cap = readAliases({ path: (p: string) => router.path(p) })[ALIAS_PRIVATE];
  if (!cap) throw new Error(`router ${router.name} has no ${ALIAS_PRIVATE} alias`);
  return cap;
}

export async function generations(router: SimulatedRouter): Promise<DirEntry[]> {
  const api = privateApi(router);
  const cap = privateCap(router);
  if (!(await api.info(cap, ARCHIVES_DIR))) return [];
  return (await api.list(cap, ARCHIVES_DIR)).filter((e) => e.type === 'filenode');
}

export async function manifest(router: SimulatedRouter): Promise<Manifest | undefined> {
  const api = privateApi(router);
  const cap = privateCap(router);
  if (!(await api.info(cap, MANIFEST_NAME))) return undefined;
  return parseManifest((await api.getBytes(cap, MANIFEST_NAME)).toString('utf8'));
}

/** The cap SysBackup.tar.gz points at, or undefined. */
export async function latestCap(router: SimulatedRouter): Promise<string | undefined> {
  const info = await privateApi(router).info(privateCap(router), LATEST_NAME);
  return info?.readCap;
}

/** Fetches SysBackup.tar.gz through the router's private node into a new temp dir; returns the file. */
export async function fetchLatest(router: SimulatedRouter): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-fetched-'));
  const file = path.join(dir, LATEST_NAME);
  await pipeline(await privateApi(router).get(privateCap(router), LATEST_NAME), createWriteStream(file));
  return { file, dir };
}

/** Extracts an archive with GNU tar (`tar -xzpf FILE --numeric-owner`) into DEST. */
export async function gnuTarExtract(file: string, dest: string): Promise<{ stderr: string }> {
  await mkdir(dest, { recursive: true });
  const result = await runner.run(['tar', '-xzpf', file, '--numeric-owner', '-C', dest], { reject: false });
  if (result.exitCode !== 0) throw new Error(`GNU tar exited ${result.exitCode}: ${result.stderr}`);
  return { stderr: result.stderr };
}

/** Whether the host's `tar` is GNU tar (synchronous, so tests can be skipped visibly when they are registered). */
export function haveGnuTar(): boolean {
  const result = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('GNU tar');
}

/** Content, type, mode, owner, mtime and link target of every entry in the fixture's trees under ROOT. */
export async function fixtureSnapshot(root: string): Promise<Record<string, SnapshotEntry>> {
  const out: Record<string, SnapshotEntry> = {};
  for (const devicePath of FIXTURE_ROOTS) {
    const rel = devicePath.slice(1);
    const host = path.join(root, rel);
    if (!existsSync(host)) continue;
    const stat = await lstat(host);
    out[rel] = {
      type: stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : stat.isSymbolicLink() ? 'symlink' : 'other',
      mode: stat.mode & 0o7777,
      uid: stat.uid,
      gid: stat.gid,
      mtime: Math.floor(stat.mtimeMs / 1000),
      size: 0,
    };
    for (const [child, entry] of Object.entries(await snapshotTree(host))) out[`${rel}/${child}`] = entry;
  }
  return out;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The lines of a sysback command's stderr that look like a stack trace. */
export function stackLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^\s+at .+\(.+:\d+:\d+\)$|^\s+at .+:\d+:\d+$/.test(line));
}

export function readLock(router: SimulatedRouter): string | undefined {
  const file = router.path('/var/lib/sysback/backup.lock');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
