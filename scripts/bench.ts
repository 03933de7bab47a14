// `npm run bench`: the benchmark of issues 3, 4 and 5 (DESIGN §8), one run on a real local grid.
// Side by side, on the same grid and the same generated data, inside the same simulated router:
//   - `sysback backup --force` per transport vs the seed's method (`tar czf` + `tahoe put`, timed together)
//   - an unchanged re-backup vs a full one; peak RSS (VmHWM) of the sysback process
//   - `sysback recover` onto a fresh router (whole, password accepted -> reboot, and the restore step
//     alone) vs the seed's restore (`tahoe get` + `tar xzf` into an empty dir)
//   - `sysback configure` ("new") once; `sysback build --overlay-only` and a full build, if they work.
// Prints a table on stdout, or with `--json` ONE JSON object (keys: backupVsSeed, unchangedVsFull,
// peakRssMB, restoreVsSeed, seconds, imageBuild, ...). Progress and "where the time went" go to stderr
// in --json mode. Contract: every process, router, grid and temp dir it starts is stopped/removed,
// also on failure or Ctrl-C; a figure that cannot be measured is reported n/a with its reason.
//
// Options: --json  --repeat N (3)  --recover-runs N (1: a recovery costs a minute or more)  --seed N (1)  --files N (3000)
//          --big-mb N (50)  --no-build  --no-full-build  --build-timeout S (600)
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEVICE } from '../core/device-paths.ts';
import { createLog } from '../core/log.ts';
import { createRunner, type RunResult } from '../core/runner.ts';
import { SimulatedRouter } from '../test/support/router.ts';
import { makeGrid, type TestGrid } from '../test/support/shared-grid.ts';
import { bundle } from './bundle.ts';
import { generateBenchData, TREE_DIR, BIG_FILE, type BenchData } from './bench-data.ts';
import { probeRss, timed, type RssProbe } from './bench-probe.ts';
import { benchFigures, formatTable, type BenchInput, type ImageBuild, type Phase, type RawRuns } from './bench-report.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    'recover-runs': { type: 'string' },
    seed: { type: 'string', default: '1' },
    files: { type: 'string', default: '3000' },
    'big-mb': { type: 'string', default: '50' },
    'no-build': { type: 'boolean', default: false },
    'no-full-build': { type: 'boolean', default: false },
    'build-timeout': { type: 'string', default: '600' },
  },
});
const REPEAT = Math.max(1, Number(opts.repeat));
const RECOVER_RUNS = Math.max(1, Number(opts['recover-runs'] ?? 1));
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

/** Runs `sysback ARGS` in the router while probing its peak RSS; returns seconds, MB, result. */
async function measuredSysback(router: SimulatedRouter, args: string[], env: Record<string, string> = {}) {
  const probe: RssProbe = probeRss(router.root);
  let stopped: { peakMB: number } | undefined;
  try {
    const { seconds, value } = await timed(() => router.sysback(args, { env }));
    stopped = probe.stop();
    return { seconds, rssMB: stopped.peakMB, result: value };
  } finally {
    if (!stopped) probe.stop();
  }
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

function parseSteps(stderr: string): Record<string, number> {
  const steps: Record<string, number> = {};
  for (const m of stderr.matchAll(/‣ (.+?): done in ([\d.]+) s/g)) steps[m[1]!] = Number(m[2]);
  return steps;
}

/** Short names for the backup's logged steps (their titles carry generation names and counts). */
function backupStepName(title: string): string {
  const known: Array<[string, string]> = [['checking', 'preflight'], ['uploading', 'archive+upload'], ['verifying', 'verify (download sha256 + check --verify)'], ['making', 're-link latest'], ['renewing', 'renew leases (deep-check add-lease)']];
  return known.find(([prefix]) => title.startsWith(prefix))?.[1] ?? title;
}

/** Adds one run's step seconds (from the debug log) to `into`, plus what the steps do not cover. */
function collectBackupSteps(into: Record<string, number[]>, stderr: string, wholeSeconds: number): void {
  let covered = 0;
  for (const [title, seconds] of Object.entries(parseSteps(stderr))) {
    (into[backupStepName(title)] ??= []).push(seconds);
    covered += seconds;
  }
  (into['other (node start-up, files list, fingerprint, manifest)'] ??= []).push(Math.max(0, wholeSeconds - covered));
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? countFiles(path.join(dir, entry.name)) : 1;
  }
  return n;
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

async function main(): Promise<BenchInput> {
  const runs: RawRuns = { seedBackup: [], backupWebapi: [], backupMount: [], unchanged: [], seedRestore: [], recoverWhole: [], recoverAfterPassword: [], restoreStep: [], configure: [] };
  const rssMB: BenchInput['rssMB'] = { startup: [], backupWebapi: [], backupMount: [], unchanged: [], recover: [] };
  const notMeasured: Record<string, string> = {};
  const warnings: string[] = [];
  const dataSummary: Record<string, number | string> = {};
  const backupSteps: BenchInput['backupSteps'] = { webapi: {}, mount: {}, unchanged: {} };
  const DEBUG = { SYSBACK_DEBUG: '1' };
  const alias = `bench-${Date.now().toString(36)}`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sysback-bench-'));
  cleanups.push({ what: 'temp dir', fn: async () => rmSync(tmp, { recursive: true, force: true }) });

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
    const data: BenchData = generateBenchData(router.root, { seed: Number(opts.seed), files: Number(opts.files), bigBytes: Number(opts['big-mb']) * 1024 * 1024 });
    const defaults = readFileSync(path.join(repo, 'overlays/base/etc/sysback/files.txt'), 'utf8');
    router.write(DEVICE.filesList, `${defaults.trimEnd()}\n# the benchmark's data\n${data.listed.join('\n')}\n`);
    router.write('/root/answers.json', JSON.stringify({ mode: 'new', alias, password: PASSWORD }), 0o600);
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
  // the RSS floor: node with the bundle loaded and nothing done
  for (let i = 0; i < REPEAT; i++) {
    const { rssMB: mb, result } = await measuredSysback(a, ['--help']);
    check(result, 'sysback --help');
    rssMB.startup.push(mb);
  }

  // ---- mount transport: needs the private node's SFTP frontend, which configure sets up when the
  // device's transport is mount; configure resumes safely, so switch and rerun it ----
  const configJson = JSON.parse(a.read(DEVICE.config));
  let configureMountError: string | undefined;
  await phase('mount transport: switch to mount and rerun configure', async () => {
    a.write(DEVICE.config, JSON.stringify({ ...configJson, transport: 'mount' }, null, 2) + '\n');
    const result = await a.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
    // the SFTP frontend may be set up even when configure's first mount backup failed: still try the runs
    if (result.exitCode !== 0) configureMountError = `sysback configure with transport mount failed (exit ${result.exitCode}): ${tail(result.stderr, 3).replace(/\n/g, ' | ')}`;
  });
  await phase(`backup --force --transport mount x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result } = await measuredSysback(a, ['backup', '--force', '--transport', 'mount', '--json'], DEBUG);
      if (result.exitCode !== 0) {
        const error = `sysback backup --transport mount failed (exit ${result.exitCode}): ${tail(result.stderr, 3).replace(/\n/g, ' | ')}`;
        notMeasured.backupMount = configureMountError ? `${configureMountError}; then ${error}` : error;
        runs.backupMount.length = 0;
        rssMB.backupMount.length = 0;
        return;
      }
      runs.backupMount.push(seconds);
      rssMB.backupMount.push(mb);
      collectBackupSteps(backupSteps.mount, result.stderr, seconds);
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
    }
    dataSummary.seedArchiveMB = Number((statSync(a.path('/tmp/x.tar.gz')).size / 1048576).toFixed(2));
  });

  // ---- sysback full backups (webapi) and unchanged re-backups ----
  await phase(`backup --force --transport webapi x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result } = await measuredSysback(a, ['backup', '--force', '--transport', 'webapi', '--json'], DEBUG);
      check(result, 'sysback backup --force --transport webapi');
      runs.backupWebapi.push(seconds);
      rssMB.backupWebapi.push(mb);
      collectBackupSteps(backupSteps.webapi, result.stderr, seconds);
      const out = JSON.parse(result.stdout);
      if (out.latest?.size) dataSummary.sysbackArchiveMB = Number((out.latest.size / 1048576).toFixed(2));
    }
  });
  await phase(`unchanged re-backup (no --force) x${REPEAT}`, async () => {
    for (let i = 0; i < REPEAT; i++) {
      const { seconds, rssMB: mb, result } = await measuredSysback(a, ['backup', '--transport', 'webapi', '--json'], DEBUG);
      check(result, 'sysback backup (unchanged)');
      const status = JSON.parse(result.stdout).status;
      if (status !== 'unchanged') warnings.push(`unchanged re-backup ${i + 1} reported "${status}", not "unchanged"`);
      runs.unchanged.push(seconds);
      rssMB.unchanged.push(mb);
      collectBackupSteps(backupSteps.unchanged, result.stderr, seconds);
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
        const { seconds, rssMB: mb, result } = await measuredSysback(b, ['recover', '--answers', '/root/answers.json', '--no-reboot'], { SYSBACK_DEBUG: '1' });
        check(result, `sysback recover (run ${i + 1})`);
        runs.recoverWhole.push(seconds);
        rssMB.recover.push(mb);
        const steps = parseSteps(result.stderr);
        const restore = Object.entries(steps).find(([k]) => k.startsWith('f) '))?.[1];
        const before = Object.entries(steps).filter(([k]) => k.startsWith('a) ') || k.startsWith('b) ')).reduce((sum, [, v]) => sum + v, 0);
        if (restore !== undefined) runs.restoreStep.push(restore);
        else warnings.push(`recover run ${i + 1}: no timing for step f) in its debug log`);
        if (before > 0) runs.recoverAfterPassword.push(seconds - before);
        const files = countFiles(b.path(TREE_DIR));
        if (files !== dataSummary.smallFiles) warnings.push(`recover run ${i + 1} restored ${files} files of ${TREE_DIR}, expected ${dataSummary.smallFiles}`);
        if (sha256File(b.path(BIG_FILE)) !== bigSha) warnings.push(`recover run ${i + 1}: ${BIG_FILE} differs from the original`);
      } finally {
        await destroyRouter(b);
      }
    }
  });

  const index = cleanups.findIndex((c) => c.what === 'grid');
  if (index >= 0) cleanups.splice(index, 1);
  await phase('stop the grid', () => grid.release());

  // ---- image build ----
  let imageBuild: ImageBuild | null = null;
  if (!opts['no-build']) imageBuild = await phase('image build (overlay only, then full)', () => measureImageBuild(gridJson, tmp, notMeasured));
  else notMeasured.imageBuild = 'skipped (--no-build)';

  return {
    runs,
    rssMB,
    backupSteps,
    data: dataSummary,
    imageBuild,
    notMeasured,
    warnings,
    phases,
    environment: { cpus: os.cpus().length, node: process.version, memoryGB: Math.round(os.totalmem() / 2 ** 30), repeat: REPEAT, recoverRuns: RECOVER_RUNS },
  };
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
    const table = formatTable(figures);
    process.stderr.write(table.slice(table.indexOf('where the time went:')));
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
