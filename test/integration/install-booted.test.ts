// The seed's installation script on a booted plain Debian trixie (issue 10, item 6): the target root
// filesystem without sysback, booted under its own systemd (systemd-nspawn, no network), gets the host
// CLI copied in as a person would copy it, and runs `sysback install --grid G --skip-apt` in the box:
// - with `--power-off` the box powers itself off, and its next boot asks "new or recover?" on the
//   console before any login prompt;
// - without it, the question comes at once on the terminal that ran the install.
// `--skip-apt`: the target root filesystem already has every package (the box has no network here);
// apt-get itself is the one part left to the unit test's recorder (build-install.test.ts).
import test from 'ava';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { missingTools } from '../../builder/host-tools.ts';
import { isComplete } from '../../builder/target-rootfs.ts';
import { createContext } from '../../core/context.ts';
import { BootConsole } from '../support/boot-console.ts';
import { testIf } from '../support/skip.ts';
import { bootRouter, upperHas, type NspawnBoot } from './nspawn-router.ts';
import { TEST_GRID } from './test-image.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROMPT = /Is this a new router, or do you want to recover one\? \[new\/recover\]: /;
const LOGIN = /login: /;
const ctx = createContext();
const rootfs = process.env.SYSBACK_ROOTFS;
const missing = process.getuid?.() === 0 ? await missingTools(ctx.runner, ['systemd-nspawn', 'script', 'unshare', 'nsenter']) : ['root'];
if (!rootfs || !isComplete(rootfs)) missing.push('the cached target rootfs (npm test sets SYSBACK_ROOTFS)');
const work = mkdtempSync(path.join(os.tmpdir(), 'sysback-install-boot-'));
const boots: NspawnBoot[] = [];
const run = testIf(missing.length === 0, `booted install tests need root, systemd-nspawn and the target rootfs (missing: ${missing.join(', ')})`).serial;

test.after.always(async () => {
  for (const boot of boots) await boot.stop(5_000);
  rmSync(work, { recursive: true, force: true });
});

/**
 * A plain Debian box: the target rootfs as lower layer, with what a person copies onto it in its own
 * layer, as the README's `sysback install` says: the built `dist/` (the host CLI, the device app beside
 * it) and `overlays/`, side by side in /root/sysback; and grid.json. Its tor is not touched: the
 * container has no network (--private-network) and the grid is TCP.
 */
function plainBox(name: string): string {
  const dir = path.join(work, name);
  const into = path.join(dir, 'upper', 'root', 'sysback');
  mkdirSync(into, { recursive: true });
  cpSync(path.join(repo, 'dist'), path.join(into, 'dist'), { recursive: true });
  cpSync(path.join(repo, 'overlays'), path.join(into, 'overlays'), { recursive: true });
  writeFileSync(path.join(dir, 'upper', 'root', 'grid.json'), JSON.stringify(TEST_GRID));
  return dir;
}

function boot(dir: string): NspawnBoot {
  const b = bootRouter(ctx, rootfs!, dir);
  boots.push(b);
  return b;
}

/** Waits until the container's systemd has finished starting up (its own answer, over nsenter). */
async function waitBooted(b: NspawnBoot): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (b.containerInit() !== undefined) {
      const state = await b.exec(['systemctl', 'is-system-running']).catch(() => undefined);
      if (state && /^(running|degraded)$/m.test(state.stdout)) return;
    }
    await sleep(200);
  }
  throw new Error('the booted box did not finish starting within 60 s');
}

const INSTALL = ['node', '/root/sysback/dist/sysback.mjs', 'install', '--grid', '/root/grid.json', '--skip-apt'];

run('install --power-off on a booted plain trixie lays sysback, powers the box off, and its next boot asks the question first', async (t) => {
  t.timeout(600_000);
  const dir = plainBox('power-off');
  const first = boot(dir);
  await waitBooted(first);
  t.false(upperHas(dir, '/usr/bin/sysback'), 'a plain box: no sysback before the install');
  const installed = await first.exec([...INSTALL, '--power-off']);
  t.is(installed.exitCode, 0, installed.stderr.slice(-1500));
  t.regex(installed.stderr, /powering off; the question comes at the next boot/);
  // the box powers itself off: nspawn ends with its container, nobody stops it
  const ended = await Promise.race([first.done.then((r) => r.exitCode), sleep(120_000).then(() => 'still running')]);
  t.is(ended, 0, 'systemctl poweroff ended the container');
  t.true(upperHas(dir, '/usr/bin/sysback'));
  t.true(upperHas(dir, '/etc/systemd/system/multi-user.target.wants/sysback-firstboot.service'));

  const second = boot(dir);
  const { before } = await second.console.waitFor(PROMPT, 180_000);
  t.notRegex(before, LOGIN, 'the question comes before any login prompt');
  second.console.sendLine('new');
  await second.console.waitFor(/mode=new/, 60_000);
  await second.stop(10_000);
});

run('install without --power-off on a booted plain trixie asks the question at once on its own terminal', async (t) => {
  t.timeout(600_000);
  const dir = plainBox('ask-now');
  const box = boot(dir);
  await waitBooted(box);
  const init = box.containerInit()!;
  // the person's terminal in the box (a pty, as an SSH session would give)
  const nsenter = ['nsenter', '-t', String(init), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--', ...INSTALL].join(' ');
  const terminal = ctx.runner.pipe(['script', '-qfec', nsenter, '/dev/null'], { env: { SHELL: '/bin/sh', TERM: 'vt100' }, reject: false });
  const console = new BootConsole((text) => terminal.stdin?.write(text));
  terminal.stdout?.on('data', (chunk: Buffer) => console.push(chunk));
  try {
    await console.waitFor(PROMPT, 120_000);
    t.true(upperHas(dir, '/usr/bin/sysback'), 'the overlay is laid before the question');
  } finally {
    terminal.kill('SIGTERM');
    await terminal.done.catch(() => undefined);
    await box.stop(10_000);
  }
});
