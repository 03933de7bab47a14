// Killing `sysback backup` at random points never leaves the private area without a complete,
// verifiable latest backup (issue 3, Tests; DESIGN §4.4: "a failed or interrupted backup never removes
// or damages the last good one"). Each run changes a file, starts the backup inside a configured
// router, SIGKILLs the device's node process (found by its command line AND as a descendant of the
// process this test started) after a random delay, then checks from outside: SysBackup.tar.gz's sha256
// is one of the manifest's generations, every generation the manifest lists is in archives/ with
// that sha256, and `check --verify` finds the latest healthy; and the next backup run succeeds,
// taking the dead run's lock over.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { createLog } from '../../core/log.ts';
import { createRunner } from '../../core/runner.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { ARCHIVES_DIR } from '../../backup/manifest.ts';
import { configuredRouter, generations, latestCap, manifest, privateApi, privateCap, readLock } from '../support/backup-router.ts';
import { touchFixture } from '../support/fixture-tree.ts';
import type { SimulatedRouter } from '../support/router.ts';
import { sharedGrid, type TestGrid } from '../support/shared-grid.ts';
import { isRoot } from '../support/target.ts';

const RUNS = 10;
const runner = createRunner(createLog({ level: 'warn' }));
let g: TestGrid | undefined;
let router: SimulatedRouter | undefined;

test.before(async () => {
  if (!isRoot()) return;
  g = await sharedGrid();
  // a small big file: a whole run then lasts a few seconds, so delays of 0.2-8 s land in every
  // phase (archive + upload, verify, re-link, manifest, prune, leases), not only in the upload
  router = await configuredRouter('bk-kill', g.grid, { transport: 'webapi', retention: 3, fixture: { bigMiB: 4 } });
});

test.after.always(async () => {
  await router?.destroy();
  await g?.release();
});

const serial = isRoot() ? test.serial : test.skip;
if (!isRoot()) test('backup kill tests need root (chroot, overlayfs, Tahoe from the target root filesystem): skipped', (t) => t.pass());

const CHROOT_SCRIPT = ['set -e', 'm=$1; shift', 'mount -t proc proc "$m/proc"', 'mount --rbind /dev "$m/dev"', 'exec chroot "$m" "$@"'].join('\n');
const MARKER = `${DEVICE.app} backup`;

/** `sysback backup` inside the router, as SimulatedRouter.exec runs it, but started so we hold its PID. */
function startBackup(r: SimulatedRouter) {
  const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8'];
  return runner.pipe(['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', CHROOT_SCRIPT, 'router', r.root, 'env', '-i', ...env, DEVICE.bin, 'backup'], {
    reject: false,
  });
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** The device's sysback node process: its command line runs the bundle's `backup`, and it descends from `ancestor`. */
function findBackupProcess(ancestor: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!cmdline(pid).includes(MARKER)) continue;
    for (let p: number | undefined = pid, depth = 0; p && p > 1 && depth < 20; p = parentOf(p), depth++) {
      if (p === ancestor) return pid;
    }
  }
  return undefined;
}

/** The private area holds a complete, verifiable latest backup that the manifest describes. */
async function assertIntact(t: any, r: SimulatedRouter, label: string): Promise<void> {
  const api = privateApi(r);
  const m = await manifest(r);
  t.truthy(m, `${label}: a manifest`);
  const latest = await latestCap(r);
  t.truthy(latest, `${label}: SysBackup.tar.gz exists`);
  if (!m || !latest) return;
  const digest = await api.digest(latest);
  const described = m.generations.find((gen) => gen.sha256 === digest.sha256);
  t.truthy(described, `${label}: SysBackup.tar.gz (sha256 ${digest.sha256.slice(0, 12)}) is a generation of the manifest`);
  t.is(digest.size, described?.size, `${label}: its size is the manifest's`);
  const check = await api.check(latest, { verify: true });
  t.true(check.recoverable && check.healthy, `${label}: check --verify: ${check.summary}`);
  const listed = new Map((await generations(r)).map((e) => [e.name, e]));
  for (const gen of m.generations) {
    const entry = listed.get(gen.name);
    t.truthy(entry, `${label}: ${ARCHIVES_DIR}/${gen.name} of the manifest exists`);
    if (entry) t.is(entry.size, gen.size, `${label}: ${gen.name} has the manifest's size`);
  }
}

serial(`SIGKILL of sysback backup at ${RUNS} random points leaves a complete, verifiable latest backup, and the next run takes the lock over`, async (t) => {
  const r = router!;
  await assertIntact(t, r, 'after configure');
  const outcomes: string[] = [];
  for (let run = 1; run <= RUNS; run++) {
    await touchFixture(r.root, `kill-${run}`);
    const delayMs = Math.round(200 + Math.random() * 7800);
    const child = startBackup(r);
    child.stdout?.resume();
    const started = Date.now();
    let killed: number | undefined;
    let exited = false;
    void child.done.then(() => (exited = true));
    while (!exited && Date.now() - started < delayMs) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!exited) {
      killed = findBackupProcess(child.pid!);
      if (killed) process.kill(killed, 'SIGKILL');
    }
    const result = await child.done;
    const lastStep = result.stderr.trim().split('\n').filter((l) => !/^\s*storage servers connected/.test(l)).at(-1) ?? '';
    const outcome = killed ? `run ${run}: killed pid ${killed} after ${delayMs} ms during: ${lastStep.slice(0, 100)}` : `run ${run}: finished (exit ${result.exitCode}) before ${delayMs} ms`;
    outcomes.push(outcome);
    t.log(outcome);
    if (!killed) t.is(result.exitCode, 0, result.stderr);
    await assertIntact(t, r, `run ${run}`);
    if (killed) t.true(readLock(r) === undefined || readLock(r)!.includes(`"pid":${killed}`), `run ${run}: any lock left is the dead run's`);
  }
  t.true(outcomes.filter((o) => o.includes('killed')).length >= RUNS / 2, 'most runs were killed, not finished');

  // the next run: takes over whatever lock the last kill left, uploads, and leaves it all intact
  await touchFixture(r.root, 'after-kills');
  const leftLock = readLock(r);
  const next = await r.sysback(['backup', '--json']);
  t.is(next.exitCode, 0, next.stderr);
  t.is(JSON.parse(next.stdout).status, 'uploaded');
  if (leftLock) t.regex(next.stderr, /stale backup lock/);
  t.is(readLock(r), undefined);
  await assertIntact(t, r, 'after the next run');
  const m = await manifest(r);
  t.is(m!.generations[0]!.sha256, (await privateApi(r).digest((await latestCap(r))!)).sha256, 'the latest is the newest generation');
  t.true(m!.generations.length <= 3, 'retention holds');
  void privateCap;
});
