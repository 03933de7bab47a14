// `npm run bench`: the benchmark of issues 3, 4 and 5 (DESIGN §8), one run on a real local grid.
// Side by side, on the same grid and the same generated data, inside the same simulated router:
//   - `sysback backup --force` per transport vs the seed's method (`tar czf` + `tahoe put`, timed together)
//   - an unchanged re-backup vs a full one; peak RSS (VmHWM) of the sysback process
//   - `sysback recover` onto a fresh router (whole, password accepted -> reboot, and the restore step
//     alone) vs the seed's restore (`tahoe get` + `tar xzf` into an empty dir)
//   - `sysback backup --if-due` right after a good backup (nothing due): time and peak RSS
//   - scale (issue 9): the same backup and recover on a data set 10x as large, time and peak RSS of both
//   - `sysback configure` ("new") once; `sysback build --overlay-only` and a full build, if they work.
// Prints a table on stdout (issue 9's aims, side by side with their baselines), or with `--json` ONE
// JSON object (keys: backupVsSeed, archiveUploadVsSeed, mountVsWebapi, unchangedVsFull, peakRssMB,
// peakRssRecoverMB, restoreVsSeed, recoverWholeVsSeed, ifDueMs, ifDueRssMB, aims, table, scale, load,
// seconds, imageBuild, ...; scripts/bench-report.ts). In --json mode the table and progress go to stderr.
// Contract: every process, router, grid and temp dir it starts is stopped/removed, also on failure or
// Ctrl-C; a figure that cannot be measured is reported n/a with its reason; nothing here is asserted.
//
// Options: --json  --repeat N (3)  --recover-runs N (1: a recovery costs a minute or more)  --seed N (1)  --files N (3000)
//          --big-mb N (50)  --no-build  --no-full-build  --build-timeout S (600)  --if-due-runs N (5)
//          --no-scale (skip the 10x run)  --quick (repeat 1, 300 files + 5 MB, no image build, no scale run)
//          --scale-factor N (10; to check the scale code cheaply, e.g. `--quick --scale-factor 2` runs it
//          on 2x the quick data set)
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEVICE } from '../core/device-paths.ts';
import { TahoeWebApi } from '../grid/webapi.ts';
import { createLog } from '../core/log.ts';
import type { StepEvent } from '../core/steps.ts';
import { createRunner, type RunResult } from '../core/runner.ts';
import { ensureHostTools, TOOLSETS } from '../builder/host-tools.ts';
import { SimulatedRouter } from '../test/support/router.ts';
import { makeGrid, type TestGrid } from '../test/support/shared-grid.ts';
import { bundle } from './bundle.ts';
import { generateBenchData, TREE_DIR, BIG_FILE, type BenchData } from './bench-data.ts';
import { probeRss, timed, type RssProbe } from './bench-probe.ts';
import { benchFigures, formatTable, type BenchInput, type ImageBuild, type LoadSample, type Phase, type RawRuns, type ScaleInput } from './bench-report.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string' },
    'recover-runs': { type: 'string' },
    seed: { type: 'string', default: '1' },
    files: { type: 'string' },
    'big-mb': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'no-full-build': { type: 'boolean', default: false },
    'build-timeout': { type: 'string', default: '600' },
    'if-due-runs': { type: 'string' },
    'no-scale': { type: 'boolean', default: false },
    'scale-factor': { type: 'string' },
  },
});
/** a number option: its value, else the --quick default, else the full run's */
function numberOption(name: keyof typeof opts, full: number, quick: number): number {
  const given = opts[name];
  const value = typeof given === 'string' ? Number(given) : opts.quick ? quick : full;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number, not "${String(given)}"`);
  return value;
}
const QUICK = opts.quick;
const REPEAT = Math.max(1, numberOption('repeat', 3, 1));
const RECOVER_RUNS = Math.max(1, numberOption('recover-runs', 1, 1));
const FILES = numberOption('files', 3000, 300);
const BIG_MB = numberOption('big-mb', 50, 5);
const IF_DUE_RUNS = Math.max(1, numberOption('if-due-runs', 5, 3));
const NO_BUILD = opts['no-build'] || QUICK;
// the scale run: on in a full run unless --no-scale; in --quick only when --scale-factor asks for it
const SCALE_FACTOR = opts['no-scale'] ? 0 : opts['scale-factor'] !== undefined ? numberOption('scale-factor', 10, 10) : QUICK ? 0 : 10;
const PASSWORD = 'plum-kettle-orbit-Saturn-91';
const PRIVATE_NODE = DEVICE.tahoe('private');

const log = createLog({ level: 'info' });
const runner = createRunner(createLog({ level: 'warn' }));
const say = (message: string) => process.stderr.write(`bench: ${message}\n`);

// ---- cleanup: every router, grid and temp dir, in reverse order, also on Ctrl-C ----
const cleanups: Array<{ what: string; fn: () => Promise<void> }> = [];
async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const { what, fn } = cleanups.pop()!;
    await fn().catch((error) => say(`cleanup of ${what} failed: ${(error as Error).message}`));
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping everything the bench started`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

const phases: Phase[] = [];
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  say(`${name}...`);
  const { seconds, value } = await timed(fn);
  phases.push({ name, seconds });
  say(`${name}: ${seconds.toFixed(1)} s`);
  return value;
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function check(result: RunResult, what: string): RunResult {
  if (result.exitCode !== 0) throw new Error(`${what} failed (exit ${result.exitCode}):\n${tail(result.stderr || result.stdout)}`);
  return result;
}

async function newRouter(name: string, grid: TestGrid): Promise<SimulatedRouter> {
  const router = await SimulatedRouter.create(name, { grid: grid.grid, transport: 'webapi' });
  const entry = { what: `router ${name}`, fn: () => router.destroy() };
  cleanups.push(entry);
  return router;
}

async function destroyRouter(router: SimulatedRouter): Promise<void> {
  const index = cleanups.findIndex((c) => c.what === `router ${router.name}`);
  if (index >= 0) cleanups.splice(index, 1);
  await router.destroy();
}

/** Where a measured run writes its step events (core/steps.ts), as a device path inside the router. */
const EVENTS_FILE = '/tmp/sysback-bench-events.jsonl';

/** The step events a run wrote (one JSON object a line). */
function readEvents(router: SimulatedRouter): StepEvent[] {
  const file = router.path(EVENTS_FILE);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as StepEvent);
}

/** Runs `sysback ARGS` in the router while probing its peak RSS; returns seconds, MB, result and its step events. */
async function measuredSysback(router: SimulatedRouter, args: string[], env: Record<string, string> = {}) {
  rmSync(router.path(EVENTS_FILE), { force: true });
  const probe: RssProbe = probeRss(router.root);
  let stopped: { peakMB: number } | undefined;
  try {
    const { seconds, value } = await timed(() => router.sysback(args, { env: { ...env, SYSBACK_EVENTS: EVENTS_FILE } }));
    stopped = probe.stop();
    return { seconds, rssMB: stopped.peakMB, result: value, events: readEvents(router) };
  } finally {
    if (!stopped) probe.stop();
  }
}

/** Where the in-router timer writes the command's microseconds (a device path). */
const MICROS_FILE = '/tmp/sysback-bench-us';
// Times `sysback ARGS` inside the router, around the device's own /usr/bin/sysback (so neither the
// chroot set-up nor the host's process start is counted): for commands that take milliseconds.
const TIMED_IN_ROUTER = `s=$(date +%s%N); "$@"; rc=$?; e=$(date +%s%N); echo $(( (e - s) / 1000 )) > ${MICROS_FILE}; exit $rc`;

/** Runs a short `sysback ARGS` in the router, timed inside it, probing its peak RSS every 5 ms. */
async function shortSysback(router: SimulatedRouter, args: string[]) {
  rmSync(router.path(MICROS_FILE), { force: true });
  const probe: RssProbe = probeRss(router.root, 5);
  let stopped: { peakMB: number } | undefined;
  try {
    const result = await router.exec(['/bin/sh', '-c', TIMED_IN_ROUTER, 'sh', DEVICE.bin, ...args]);
    stopped = probe.stop();
    const micros = Number(readFileSync(router.path(MICROS_FILE), 'utf8').trim());
    return { ms: micros / 1000, rssMB: stopped.peakMB, result };
  } finally {
    if (!stopped) probe.stop();
  }
}

/** The machine's load now: `uptime`'s line and os.loadavg(). */
async function loadSample(): Promise<LoadSample> {
  const uptime = await runner.run(['uptime'], { reject: false });
  return { at: new Date().toISOString(), uptime: uptime.stdout.trim(), loadavg: os.loadavg().map((v) => Number(v.toFixed(2))) };
}

/** Writes a data set into the router, lists it in files.txt, and leaves the answers for `mode`. */
function prepareRouter(router: SimulatedRouter, options: { files: number; bigMB: number; alias: string; mode: 'new' | 'recover' }): BenchData | undefined {
  router.write('/root/answers.json', JSON.stringify({ mode: options.mode, alias: options.alias, password: PASSWORD }), 0o600);
  if (options.mode === 'recover') return undefined;
  const data = generateBenchData(router.root, { seed: Number(opts.seed), files: options.files, bigBytes: Math.round(options.bigMB * 1024 * 1024) });
  const defaults = readFileSync(path.join(repo, 'overlays/base/etc/sysback/files.txt'), 'utf8');
  router.write(DEVICE.filesList, `${defaults.trimEnd()}\n# the benchmark's data\n${data.listed.join('\n')}\n`);
  return data;
}

// The seed's method, as a shell script run inside the router: the listed paths (globs expanded by the
// shell, missing ones skipped), one tar czf, one tahoe put; prints the cap.
const SEED_BACKUP = [
  'set -e',
  'cd /',
  'paths=',
  `for p in $(grep -v '^[[:space:]]*#' ${DEVICE.filesList}); do if [ -e "$p" ]; then paths="$paths $p"; fi; done`,
  'tar czf /tmp/x.tar.gz $paths 2>/tmp/tar.err || { cat /tmp/tar.err >&2; exit 1; }',
  `tahoe -d ${PRIVATE_NODE} put /tmp/x.tar.gz`,
].join('\n');
const SEED_RESTORE = (cap: string) => [
  'set -e',
  `tahoe -d ${PRIVATE_NODE} get '${cap}' /tmp/y.tar.gz`,
  'tar xzf /tmp/y.tar.gz -C /tmp/restore',
].join('\n');

/** Seconds of the finished steps (not their parts) of one flow, by the seed's letter. */
function stepSeconds(events: readonly StepEvent[], flow: StepEvent['flow']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) if (e.flow === flow && !e.part && e.outcome !== 'skipped') out[e.step] = (out[e.step] ?? 0) + e.seconds;
  return out;
}

/** a): files.txt read and expanded, the metadata fingerprint; when unchanged, the latest asked for and checked */
const FILES_LIST_STEP = 'a) files list + fingerprint (+ is the latest there)';

/**
 * Short names for the backup's steps and parts (core/steps.ts events of flow "backup"): b) makes the
 * archive (a file for mount; for the web API it is compressed while d) uploads it), c) reaches the
 * private node and waits for happy servers, d)'s parts upload, verify, re-link and renew leases.
 */
function backupStepName(e: StepEvent): string | undefined {
  if (!e.part) return e.step === 'a' ? FILES_LIST_STEP : e.step === 'b' ? 'archive+upload' : e.step === 'c' ? 'preflight' : undefined;
  if (e.step === 'a') return undefined; // a)'s own parts are inside a)'s seconds
  const known: Array<[string, string]> = [['uploading', 'archive+upload'], ['verifying', 'verify (download sha256 + check --verify)'], ['making', 're-link latest'], ['renewing', 'renew leases (deep-check add-lease)']];
  return known.find(([prefix]) => e.part!.startsWith(prefix))?.[1] ?? e.part;
}

/** Adds one run's step seconds (from its step events) to `into`, plus what the steps do not cover. */
function collectBackupSteps(into: Record<string, number[]>, events: readonly StepEvent[], wholeSeconds: number): void {
  let covered = 0;
  const sums: Record<string, number> = {};
  for (const e of events) {
    const name = e.flow === 'backup' && e.outcome !== 'skipped' ? backupStepName(e) : undefined;
    if (!name) continue;
    sums[name] = (sums[name] ?? 0) + e.seconds;
    covered += e.seconds;
  }
  for (const [name, seconds] of Object.entries(sums)) (into[name] ??= []).push(seconds);
  (into['other (node start-up, manifest, state, alias check)'] ??= []).push(Math.max(0, wholeSeconds - covered));
}

/**
 * Adds one recovery's seconds per step ("a) public node, aliases listed", ...; a step's parts as
 * "a)   part", listed before their step), plus what the steps do not cover (node's start, the exit).
 */
function collectRecoverSteps(into: Record<string, number[]>, events: readonly StepEvent[], wholeSeconds: number, peaks: Record<string, number[]>): void {
  let covered = 0;
  for (const e of events as ReadonlyArray<StepEvent & { memory?: { peakMB?: number } }>) {
    if (e.flow !== 'recover' || e.outcome === 'skipped') continue;
    const name = e.part ? `${e.step})   ${e.part}` : `${e.step}) ${e.name}`;
    (into[name] ??= []).push(e.seconds);
    if (e.memory?.peakMB !== undefined) (peaks[name] ??= []).push(e.memory.peakMB);
    if (!e.part) covered += e.seconds;
  }
  (into['other (start-up, outside the steps)'] ??= []).push(Math.max(0, wholeSeconds - covered));
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? countFiles(path.join(dir, entry.name)) : 1;
  }
  return n;
}

/** sha256 of a file, read in 1 MiB pieces (the scale run's large file is 500 MB). */
function sha256File(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

async function main(): Promise<BenchInput> {
  const runs: RawRuns = { seedBackup: [], backupWebapi: [], backupMount: [], unchanged: [], seedRestore: [], recoverWhole: [], recoverAfterPassword: [], restoreStep: [], configure: [] };
  const rssMB: BenchInput['rssMB'] = { startup: [], backupWebapi: [], backupMount: [], unchanged: [], recover: [] };
  const notMeasured: Record<string, string> = {};
  const warnings: string[] = [];
  const dataSummary: Record<string, number | string> = {};
  const backupSteps: BenchInput['backupSteps'] = { webapi: {}, mount: {}, unchanged: {} };
  const recoverSteps: NonNullable<BenchInput['recoverSteps']> = {};
  const recoverPeakMB: NonNullable<BenchInput['recoverPeakMB']> = {};
  const ms: NonNullable<BenchInput['ms']> = { startup: [], ifDue: [] };
  const loadAtStart = await loadSample();
  say(`load at start: ${loadAtStart.uptime}`);
  const alias = `bench-${Date.now().toString(36)}`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sysback-bench-'));
  cleanups.push({ what: 'temp dir', fn: async () => rmSync(tmp, { recursive: true, force: true }) });

  // a fresh machine has none of the Debian tools yet: install them as `npm test` does
  await phase('host tools (Debian packages)', () => ensureHostTools(runner, log, [...new Set(Object.values(TOOLSETS).flat())]));
  await phase('bundle the app (dist/sysback.mjs)', async () => {
    try {
      await bundle();
    } catch (error) {
      // another engineer's half-saved source must not stop the bench when a bundle exists
      warnings.push(`bundling failed, the existing dist/sysback.mjs was used: ${(error as Error).message.split('\n')[0]}`);
    }
  });

  const grid = await phase('start the local grid (2 introducers, 3 storage, gateway)', () => makeGrid({ prefix: 'sysback-bench-grid-' }));
  cleanups.push({ what: 'grid', fn: () => grid.release() });
  const gridJson = path.join(tmp, 'grid.json');
  copyFileSync(path.join(grid.dir, 'grid.json'), gridJson);

  // ---- router A: data, configure ----
  const a = await phase('router A and the data set', async () => {
    const router = await newRouter('bench-a', grid);
    const data = prepareRouter(router, { files: FILES, bigMB: BIG_MB, alias, mode: 'new' })!;
    Object.assign(dataSummary, { smallFiles: data.files, smallDirs: data.dirs, smallMB: Number((data.smallBytes / 1048576).toFixed(2)), bigMB: data.bigBytes / 1048576 });
    return router;
  });

  await phase('configure ("new" flow) on router A', async () => {
    const { seconds, result } = await measuredSysback(a, ['configure', '--answers', '/root/answers.json', '--no-reboot']);
    check(result, 'sysback configure');
    runs.configure.push(seconds);
  });
  const listed = check(await a.sysback(['backup', '--list']), 'sysback backup --list').stdout.trim().split('\n').length;
  dataSummary.listedEntries = listed;
  // the floor: node with the device app's entry loaded and nothing done (time and RSS)
  for (let i = 0; i < IF_DUE_RUNS; i++) {
    const { ms: took, rssMB: mb, result } = await shortSysback(a, ['--help']);
    check(result, 'sysback --help');
    rssMB.startup.push(mb);
    ms.startup.push(took);
  }

  // ---- mount transport: needs the private node's SFTP frontend, which configure sets up when the
  // device's transport is mount; configure resumes safely, so switch and rerun it ----
  const configJson = JSON.parse(a.read(DEVICE.config));
  let configureMountError: string | undefined;
  await phase('mount transport: switch to mount and rerun configure', async () => {
    a.write(DEVICE.config, JSON.stringify({ ...configJson, transport: 'mount' }, null, 2) + '\n');
    // configure consumes the password in the answers file once it has used it: give them again
    a.write('/root/answers.json', JSON.stringify({ mode: 'new', alias, password: PASSWORD }), 0o600);
    const result = await a.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
    // the SFTP frontend may be set up even when configure's first mount backup failed: still try the runs
    if (result.exitCode !== 0) configureMountError = `sysback configure with transport mount failed (exit ${result.exitCode}): ${tail(result.stderr, 3).replace(/\n/g, ' | ')}`;
  });
  await phase(`backup --force --transport mount x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result, events } = await measuredSysback(a, ['backup', '--force', '--transport', 'mount', '--json']);
      if (result.exitCode !== 0) {
        const error = `sysback backup --transport mount failed (exit ${result.exitCode}): ${tail(result.stderr, 3).replace(/\n/g, ' | ')}`;
        notMeasured.backupMount = configureMountError ? `${configureMountError}; then ${error}` : error;
        runs.backupMount.length = 0;
        rssMB.backupMount.length = 0;
        return;
      }
      runs.backupMount.push(seconds);
      rssMB.backupMount.push(mb);
      collectBackupSteps(backupSteps.mount, events, seconds);
    }
    if (configureMountError) warnings.push(`${configureMountError} (the mount backups themselves then worked)`);
  });
  // back to webapi (the device config is in the backup list: this is a change, the next --force covers it)
  a.write(DEVICE.config, JSON.stringify(configJson, null, 2) + '\n');

  // ---- the seed's backup ----
  const seedCaps: string[] = [];
  await phase(`seed backup (tar czf + tahoe put) x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, value } = await timed(() => a.exec(['/bin/sh', '-c', SEED_BACKUP]));
      check(value, 'the seed backup (tar czf + tahoe put)');
      seedCaps.push(value.stdout.trim().split('\n').pop()!.trim());
      runs.seedBackup.push(seconds);
      // the floor under both methods: the node's own upload work on the finished archive
      const node = new TahoeWebApi((configJson as { tahoe: { webPorts: { private: number } } }).tahoe.webPorts.private);
      const put = await timed(() => node.put(createReadStream(a.path('/tmp/x.tar.gz'))));
      (runs.webapiPutFloor ??= []).push(put.seconds);
    }
    dataSummary.seedArchiveMB = Number((statSync(a.path('/tmp/x.tar.gz')).size / 1048576).toFixed(2));
  });

  // ---- sysback full backups (webapi) and unchanged re-backups ----
  await phase(`backup --force --transport webapi x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result, events } = await measuredSysback(a, ['backup', '--force', '--transport', 'webapi', '--json']);
      check(result, 'sysback backup --force --transport webapi');
      runs.backupWebapi.push(seconds);
      rssMB.backupWebapi.push(mb);
      collectBackupSteps(backupSteps.webapi, events, seconds);
      const out = JSON.parse(result.stdout);
      if (out.latest?.size) dataSummary.sysbackArchiveMB = Number((out.latest.size / 1048576).toFixed(2));
    }
  });
  await phase(`unchanged re-backup (no --force) x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result, events } = await measuredSysback(a, ['backup', '--transport', 'webapi', '--json']);
      check(result, 'sysback backup (unchanged)');
      const status = JSON.parse(result.stdout).status;
      if (status !== 'unchanged') warnings.push(`unchanged re-backup ${i + 1} reported "${status}", not "unchanged"`);
      runs.unchanged.push(seconds);
      rssMB.unchanged.push(mb);
      collectBackupSteps(backupSteps.unchanged, events, seconds);
    }
  });

  // ---- cron's hourly question right after a good backup: nothing is due ----
  await phase(`backup --if-due (nothing due) x${IF_DUE_RUNS}`, async () => {
    for (let i = 0; i < IF_DUE_RUNS; i++) {
      const { ms: took, rssMB: mb, result } = await shortSysback(a, ['backup', '--if-due']);
      check(result, 'sysback backup --if-due');
      if (!/no backup due/.test(result.stderr + result.stdout)) warnings.push(`backup --if-due run ${i + 1} did not say "no backup due yet": it may have backed up`);
      ms.ifDue.push(took);
      (rssMB.ifDue ??= []).push(mb);
    }
  });

  // ---- the seed's restore, on router A, from the last seed upload ----
  await phase(`seed restore (tahoe get + tar xzf) x${REPEAT}`, async () => {
    const cap = seedCaps.at(-1)!;
    for (let i = 0; i < REPEAT; i++) {
      check(await a.exec(['/bin/sh', '-c', 'rm -rf /tmp/restore /tmp/y.tar.gz && mkdir /tmp/restore']), 'preparing the seed restore');
      const { seconds, value } = await timed(() => a.exec(['/bin/sh', '-c', SEED_RESTORE(cap)]));
      check(value, 'the seed restore (tahoe get + tar xzf)');
      runs.seedRestore.push(seconds);
    }
    const restored = countFiles(a.path(`/tmp/restore${TREE_DIR}`));
    if (restored !== dataSummary.smallFiles) warnings.push(`the seed restore brought back ${restored} files of ${TREE_DIR}, expected ${dataSummary.smallFiles}`);
  });
  const bigSha = sha256File(a.path(BIG_FILE));
  await phase('router A lost (nodes stopped, upper dir removed)', () => destroyRouter(a));

  // ---- sysback recover onto fresh routers ----
  await phase(`recover onto a fresh router x${RECOVER_RUNS}`, async () => {
    for (let i = 0; i < RECOVER_RUNS; i++) {
      const b = await newRouter(`bench-b${i + 1}`, grid);
      try {
        b.write('/root/answers.json', JSON.stringify({ mode: 'recover', alias, password: PASSWORD }), 0o600);
        const { seconds, rssMB: mb, result, events } = await measuredSysback(b, ['recover', '--answers', '/root/answers.json', '--no-reboot']);
        check(result, `sysback recover (run ${i + 1})`);
        runs.recoverWhole.push(seconds);
        rssMB.recover.push(mb);
        // RESTORE f) is the restore step; a) to c) end once the password opened the identity
        const steps = stepSeconds(events, 'recover');
        collectRecoverSteps(recoverSteps, events, seconds, recoverPeakMB);
        const restore = steps.f;
        const before = (steps.a ?? 0) + (steps.b ?? 0) + (steps.c ?? 0);
        if (restore !== undefined) runs.restoreStep.push(restore);
        else warnings.push(`recover run ${i + 1}: no step event for RESTORE f) in ${EVENTS_FILE}`);
        if (before > 0) runs.recoverAfterPassword.push(seconds - before);
        const files = countFiles(b.path(TREE_DIR));
        if (files !== dataSummary.smallFiles) warnings.push(`recover run ${i + 1} restored ${files} files of ${TREE_DIR}, expected ${dataSummary.smallFiles}`);
        if (sha256File(b.path(BIG_FILE)) !== bigSha) warnings.push(`recover run ${i + 1}: ${BIG_FILE} differs from the original`);
      } finally {
        await destroyRouter(b);
      }
    }
  });

  // ---- scale: the same backup and recover on a data set SCALE_FACTOR times as large ----
  let scale: ScaleInput | null = null;
  if (SCALE_FACTOR > 0) {
    scale = await scaleRun(grid, `${alias}-x${SCALE_FACTOR}`, {
      files: Number(dataSummary.smallFiles),
      MB: Number(dataSummary.smallMB) + Number(dataSummary.bigMB),
      backupSeconds: runs.backupWebapi,
      backupRssMB: rssMB.backupWebapi,
      recoverSeconds: runs.recoverWhole,
      recoverRssMB: rssMB.recover,
    }, warnings);
  } else notMeasured.scale = opts['no-scale'] ? 'skipped (--no-scale)' : 'skipped (--quick; --scale-factor N runs it)';

  const index = cleanups.findIndex((c) => c.what === 'grid');
  if (index >= 0) cleanups.splice(index, 1);
  await phase('stop the grid', () => grid.release());

  // ---- image build ----
  let imageBuild: ImageBuild | null = null;
  if (!NO_BUILD) imageBuild = await phase('image build (overlay only, then full)', () => measureImageBuild(gridJson, tmp, notMeasured));
  else notMeasured.imageBuild = QUICK ? 'skipped (--quick)' : 'skipped (--no-build)';

  const loadAtEnd = await loadSample();
  say(`load at end: ${loadAtEnd.uptime}`);
  return {
    runs,
    rssMB,
    ms,
    backupSteps,
    recoverSteps,
    recoverPeakMB,
    data: dataSummary,
    imageBuild,
    scale,
    load: { start: loadAtStart, end: loadAtEnd },
    notMeasured,
    warnings,
    phases,
    environment: { cpus: os.cpus().length, node: process.version, memoryGB: Math.round(os.totalmem() / 2 ** 30), repeat: REPEAT, recoverRuns: RECOVER_RUNS, ifDueRuns: IF_DUE_RUNS, quick: QUICK, scaleFactor: SCALE_FACTOR },
  };
}

/**
 * The scale run (issue 9 item 6): router C makes a data set `SCALE_FACTOR` times the base one (files
 * and the large file), runs "new", then `backup --force` (webapi) xREPEAT; C is lost and one recover
 * onto a fresh router D brings it back. The base figures are the main run's (same grid, same code).
 */
async function scaleRun(grid: TestGrid, scaleAlias: string, base: ScaleInput['base'], warnings: string[]): Promise<ScaleInput> {
  const F = SCALE_FACTOR;
  const tenfold: ScaleInput['tenfold'] = { files: 0, MB: 0, backupSeconds: [], backupRssMB: [], recoverSeconds: [], recoverRssMB: [] };
  const c = await phase(`scale: router C, the x${F} data set, configure`, async () => {
    const router = await newRouter('bench-scale-c', grid);
    const data = prepareRouter(router, { files: Math.round(FILES * F), bigMB: BIG_MB * F, alias: scaleAlias, mode: 'new' })!;
    tenfold.files = data.files;
    tenfold.MB = (data.smallBytes + data.bigBytes) / 1048576;
    check(await router.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']), 'sysback configure (scale)');
    return router;
  });
  await phase(`scale: backup --force --transport webapi x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result } = await measuredSysback(c, ['backup', '--force', '--transport', 'webapi', '--json']);
      check(result, 'sysback backup --force (scale)');
      tenfold.backupSeconds.push(seconds);
      tenfold.backupRssMB.push(mb);
    }
  });
  const bigSha = sha256File(c.path(BIG_FILE));
  await phase('scale: router C lost', () => destroyRouter(c));
  await phase('scale: recover onto a fresh router', async () => {
    const d = await newRouter('bench-scale-d', grid);
    try {
      prepareRouter(d, { files: 0, bigMB: 0, alias: scaleAlias, mode: 'recover' });
      const { seconds, rssMB: mb, result } = await measuredSysback(d, ['recover', '--answers', '/root/answers.json', '--no-reboot']);
      check(result, 'sysback recover (scale)');
      tenfold.recoverSeconds.push(seconds);
      tenfold.recoverRssMB.push(mb);
      const files = countFiles(d.path(TREE_DIR));
      if (files !== tenfold.files) warnings.push(`scale recover restored ${files} files of ${TREE_DIR}, expected ${tenfold.files}`);
      if (sha256File(d.path(BIG_FILE)) !== bigSha) warnings.push(`scale recover: ${BIG_FILE} differs from the original`);
    } finally {
      await destroyRouter(d);
    }
  });
  return { factor: F, base, tenfold };
}

async function measureImageBuild(gridJson: string, tmp: string, notMeasured: Record<string, string>): Promise<ImageBuild> {
  const cli = path.join(repo, 'dist', 'sysback.mjs');
  const timeoutMs = Number(opts['build-timeout']) * 1000;
  const build: ImageBuild = { overlayOnlySeconds: null, fullSeconds: null };
  const errors: Record<string, string> = {};
  const attempt = async (kind: 'overlayOnly' | 'full', extra: string[]) => {
    const out = path.join(tmp, `image-${kind}`);
    try {
      const { seconds, value } = await timed(() => runner.run([process.execPath, cli, 'build', '--grid', gridJson, '--out', out, '--json', ...extra], { reject: false, timeoutMs }));
      if (value.exitCode !== 0) throw new Error(`exit ${value.exitCode}: ${tail(value.stderr, 3).replace(/\n/g, ' | ')}`);
      if (kind === 'overlayOnly') build.overlayOnlySeconds = seconds;
      else {
        build.fullSeconds = seconds;
        try {
          const parsed = JSON.parse(value.stdout);
          if (parsed.seconds) build.steps = parsed.seconds;
        } catch {
          /* the per-step seconds are a bonus */
        }
      }
    } catch (error) {
      errors[kind] = (error as Error).message.split('\n').slice(0, 3).join(' | ');
      notMeasured[kind === 'full' ? 'imageBuildFull' : 'imageBuildOverlayOnly'] = errors[kind]!;
    } finally {
      const removal = await timed(async () => rmSync(out, { recursive: true, force: true }));
      build.removeOutputSeconds = (build.removeOutputSeconds ?? 0) + removal.seconds;
    }
  };
  await attempt('overlayOnly', ['--overlay-only']);
  if (opts['no-full-build']) notMeasured.imageBuildFull = 'skipped (--no-full-build)';
  else await attempt('full', []);
  if (Object.keys(errors).length) build.errors = errors;
  return build;
}

let exitCode = 0;
try {
  const input = await main();
  const figures = benchFigures(input);
  if (opts.json) {
    process.stdout.write(JSON.stringify(figures, null, 2) + '\n');
    process.stderr.write(formatTable(figures));
  } else {
    process.stdout.write(formatTable(figures));
  }
} catch (error) {
  log.error(`bench failed: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await cleanupAll();
}
process.exit(exitCode);
