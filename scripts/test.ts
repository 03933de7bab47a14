// `npm test`: the whole suite on real programs. Prepares what integration tests share — host tools
// (apt, when missing), the bundled CLI, the cached target root filesystem, ONE local grid — runs ava,
// then stops the grid (also when interrupted) and checks nothing was left running or mounted. Prints the closing line
// "N passed, N failed, N skipped". Extra arguments go to ava (e.g. `npm test -- test/unit`).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { $, type ProcessPromise } from 'zx';
import { ensureTargetRootfs } from '../builder/target-rootfs.ts';
import { createLog } from '../core/log.ts';
import { createRunner } from '../core/runner.ts';
import { withCleanup } from '../core/signal-cleanup.ts';
import { mountsUnder, processesMentioning } from '../test/support/leaks.ts';
import { makeGrid, stopPartialGrid, type TestGrid } from '../test/support/shared-grid.ts';
import { bundle } from './bundle.ts';
import { ensureHostTools, TOOLSETS } from '../builder/host-tools.ts';

const log = createLog();
const runner = createRunner(log);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const args = process.argv.slice(2);
const unitOnly = args.length > 0 && args.every((a) => a.startsWith('test/unit'));

if (!unitOnly) {
  await ensureHostTools(runner, log, [...new Set(Object.values(TOOLSETS).flat())]);
}
await log.step('bundling dist/sysback.mjs and dist/device/', () => bundle());
let grid: TestGrid | undefined;
if (!unitOnly && process.getuid?.() === 0) {
  const rootfs = await log.step('target root filesystem (cached)', () =>
    ensureTargetRootfs(async (argv) => {
      await runner.run(argv, { stdio: 'inherit' });
    }),
  );
  log.info(`  ${rootfs.path} (${rootfs.reused ? 'reused' : `built in ${rootfs.seconds.toFixed(0)} s`})`);
  process.env.SYSBACK_ROOTFS = rootfs.path;
}

let passed = 0;
let failed = 0;
let skipped = 0;
let exitCode = 1;
const tmpBefore = new Set(processesMentioning(os.tmpdir() + '/sysback-').map((p) => p.pid));
// Ctrl-C or SIGTERM (a CI timeout) stops the shared grid too: withCleanup runs the release, then the
// signal goes on, so an interrupted suite leaves no node behind (an interrupted CI run once did);
// ava (through npx) gets the signal first and up to 60 s to end (a terminal's Ctrl-C reaches it anyway)
let ava: ProcessPromise | undefined;
/** the shared grid's directory from the moment it is made: a signal while it starts stops what started */
let startingGrid: string | undefined;
const stop = async (signal?: NodeJS.Signals) => {
  if (signal && ava?.child && ava.output === null) {
    ava.child.kill(signal);
    await Promise.race([ava, sleep(60_000)]);
  }
  if (grid) await log.step('stopping the shared test grid', () => grid!.release());
  else if (startingGrid) await log.step('stopping the shared test grid (interrupted while it started)', () => stopPartialGrid(startingGrid!));
};
await withCleanup(stop, async () => {
  if (!unitOnly && process.getuid?.() === 0) {
    grid = await log.step('starting the shared test grid', () => makeGrid({ prefix: 'sysback-shared-grid-', onDir: (dir) => (startingGrid = dir) }));
    process.env.SYSBACK_TEST_GRID = grid.dir;
    log.info(`  shared grid up at ${elapsed()}`);
  }
  const files = args.length ? args : ['test/**/*.test.ts'];
  ava = $({ stdio: ['inherit', 'pipe', 'inherit'], nothrow: true, quiet: true })`npx ava --tap ${files}`;
  // ava's TAP summary (`# pass N`, `# fail N`, `# skip N`) is the count we report
  for await (const line of createInterface({ input: ava.stdout, crlfDelay: Infinity })) {
    process.stdout.write(`${line}\n`);
    const summary = /^# (pass|fail|skip|todo) (\d+)$/.exec(line);
    if (summary?.[1] === 'pass') passed = Number(summary[2]);
    if (summary?.[1] === 'fail') failed = Number(summary[2]);
    if (summary?.[1] === 'skip' || summary?.[1] === 'todo') skipped += Number(summary[2]);
  }
  exitCode = (await ava).exitCode ?? 1;
});

// Nothing may outlive the suite: no node, no mount under a sysback temp dir.
const leftovers = processesMentioning(os.tmpdir() + '/sysback-').filter((p) => !tmpBefore.has(p.pid));
const mounts = mountsUnder(os.tmpdir()).filter((m) => path.basename(m).startsWith('sysback') || m.includes('/sysback-'));
if (leftovers.length || mounts.length) {
  log.error(`the suite left things behind: ${[...leftovers.map((p) => `pid ${p.pid} ${p.cmdline}`), ...mounts.map((m) => `mount ${m}`)].join('; ')}`);
  exitCode = exitCode || 1;
}
log.info(`npm test took ${elapsed()}`);
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 && exitCode === 0 ? 1 : exitCode;
