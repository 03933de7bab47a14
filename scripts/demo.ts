// `npm run demo`: the main job on a built-in default, and the product shown on this terminal.
//   npm run demo                 start (or make) a local demo grid in out/demo/grid, build a router
//                                image for it in out/demo/image, then, on a terminal, boot the router
//                                (systemd-nspawn, reaching only the demo grid) so a person answers
//                                "new" and watches it configure and back up. Without a terminal (CI,
//                                a pipe) it only builds, and stops the grid.
//   npm run demo -- --recover    boot a second, fresh copy of the image: answer "recover", type part of
//                                the alias and the password, and the lost router comes back.
//   npm run demo -- --stop       stop the demo grid; nothing of the demo runs afterwards.
//   --no-boot                    build only, even on a terminal; --overlay-only as in sysback build.
// Every boot is a throwaway snapshot (sysback boot without --persist): leaving it (Ctrl-] three times,
// or `poweroff` inside) loses that router, which is what --recover is for. The grid keeps running
// between `npm run demo` and `--recover` on a terminal; Ctrl-C outside the router's console, a kill
// (passed on to the boot, which stops its router first), or any failure, stops it. Installs what it needs (Debian packages with apt, the cached root filesystem).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { bundle } from './bundle.ts';
import { ensureHostTools, TOOLSETS } from '../builder/host-tools.ts';
import { createLog } from '../core/log.ts';
import { createRunner } from '../core/runner.ts';
import { withCleanup } from '../core/signal-cleanup.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(repo, 'out', 'demo');
const gridDir = path.join(out, 'grid');
const imageDir = path.join(out, 'image');
const log = createLog();
const started = Date.now();

const args = process.argv.slice(2);
const known = new Set(['--recover', '--stop', '--no-boot', '--overlay-only']);
const unknown = args.filter((a) => !known.has(a));
if (unknown.length > 0 || (args.includes('--recover') && args.includes('--stop'))) {
  process.stderr.write(`demo: ${unknown.length ? `unknown option ${unknown[0]}` : 'choose one of --recover and --stop'}\n` +
    'usage: npm run demo [-- --recover | -- --stop] [-- --no-boot] [-- --overlay-only]\n');
  process.exit(2);
}
const mode = args.includes('--stop') ? 'stop' : args.includes('--recover') ? 'recover' : 'new';
const onTerminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
const boots = onTerminal && !args.includes('--no-boot') && !args.includes('--overlay-only');

const cli = await bundle();
const sysback = $({ stdio: 'inherit', verbose: false });
const rel = (p: string) => path.relative(process.cwd(), p) || '.';

async function stopDemoGrid(): Promise<void> {
  if (existsSync(path.join(gridDir, 'grid.json'))) await sysback`node ${cli} grid stop --dir ${gridDir}`.nothrow();
}

const hints = [
  'lose this router and bring it back on a fresh one:  npm run demo -- --recover',
  'stop the demo grid (nothing of the demo keeps running):  npm run demo -- --stop',
];

if (mode === 'stop') {
  await stopDemoGrid();
  log.info('the demo grid is stopped; out/demo keeps the image and the grid (rm -r out/demo removes them)');
  process.exit(0);
}

let keepGrid = false;
/** the `sysback boot` running on this terminal, while it runs */
let booting: { pid?: number; done: Promise<unknown> } | undefined;
// A signal (Ctrl-C while building; a kill or a closed terminal while the router runs: its console takes
// Ctrl-C for itself) goes on to the boot, by its PID, which stops its router; the demo waits for that,
// then stops the grid and exits 128 + the signal's number (core/signal-cleanup.ts). Without a signal,
// the grid stays up only after a boot the person left (for the next step), and any failure stops it.
async function cleanup(signal?: NodeJS.Signals): Promise<void> {
  if (signal) log.info(`demo: ${signal}: ${booting ? 'stopping the router, then ' : ''}stopping the demo grid`);
  if (booting) {
    if (signal && booting.pid !== undefined) {
      try {
        process.kill(booting.pid, signal);
      } catch {
        // it ended meanwhile
      }
    }
    await booting.done.catch(() => undefined);
  }
  if (signal || !keepGrid) await stopDemoGrid();
}

/** Boots a throwaway copy of the image on this terminal; once the person leaves it, the grid stays up for the next step. */
async function bootOnTerminal(afterwards: string): Promise<void> {
  // through the runner, not a shell, so the PID is sysback's own and a signal reaches it
  const boot: { pid?: number; done: Promise<unknown> } = { done: Promise.resolve() };
  boot.done = createRunner(log).run(['node', cli, 'boot', imageDir, '--grid', gridDir, '--nspawn'], { stdio: 'inherit', reject: false, onStart: (pid) => (boot.pid = pid) });
  booting = boot;
  await boot.done;
  booting = undefined;
  keepGrid = true;
  log.info(afterwards);
  log.info(hints.join('\n'));
}
await withCleanup(cleanup, async () => {
try {
  if (mode === 'recover') {
    if (!existsSync(path.join(gridDir, 'grid.json')) || !existsSync(path.join(imageDir, 'rootfs'))) {
      throw new Error('there is no demo yet: run `npm run demo` first (it builds the image and makes the grid)');
    }
    if (!onTerminal) throw new Error('--recover boots a router for you to answer on a terminal; this is not one');
    await ensureHostTools(createRunner(log), log, TOOLSETS.nspawn);
    await sysback`node ${cli} grid start --dir ${gridDir}`;
    log.info('a fresh router (the same image, a new throwaway disk): answer "recover", type part of your alias, then your password');
    await bootOnTerminal('the recovered router is off again (its disk thrown away too); the grid still holds its backups');
  } else {
    await ensureHostTools(createRunner(log), log, [...new Set(Object.values(TOOLSETS).flat())]);
    mkdirSync(out, { recursive: true });
    if (existsSync(path.join(gridDir, 'grid.json'))) await sysback`node ${cli} grid start --dir ${gridDir}`;
    else await sysback`node ${cli} grid init --dir ${gridDir}`;
    const overlayOnly = args.includes('--overlay-only') ? ['--overlay-only'] : [];
    await sysback`node ${cli} build --grid ${path.join(gridDir, 'grid.json')} --out ${imageDir} ${overlayOnly}`;
    log.info(`built in ${((Date.now() - started) / 1000).toFixed(0)} s: image ${rel(imageDir)} (flash disk.img with dd), grid ${rel(gridDir)}`);
    if (boots) {
      log.info('booting the router on this terminal, reaching only the demo grid: answer "new", then an alias and a password');
      log.info('leave it with Ctrl-] three times (its disk is thrown away: the router is lost)');
      await bootOnTerminal('the router is gone; the demo grid keeps running with its backup');
    } else {
      log.info(`boot it on a terminal: npm run demo (or: node ${rel(cli)} grid start --dir ${rel(gridDir)} && node ${rel(cli)} boot ${rel(imageDir)} --grid ${rel(gridDir)} --nspawn)`);
    }
  }
} catch (error) {
  log.error(`demo: ${(error as Error).message}`);
  process.exitCode = 1;
}
}, { exitOnSignal: true });
