// `sysback install` (the seed's installation script) run whole against a root directory: preflight,
// the apt step (injected: the host's packages are never touched), the base overlay laid in, the units
// enabled, then the question now or the hook armed and a power-off (injected: the host never powers
// off). The root is a real Debian trixie tree (an overlayfs over the cached target root filesystem),
// so the Python and Node checks run the real interpreters.
import test from 'ava';
import { testIf } from '../support/skip.ts';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runInstall, type InstallDeps } from '../../builder/install.ts';
import { defaultSpec, isComplete, rootfsPath } from '../../builder/target-rootfs.ts';
import { createContext, type Context } from '../../core/context.ts';
import { createMemoryLog } from '../../core/log.ts';
import { UserError } from '../../core/errors.ts';
import { TEST_GRID } from './test-image.ts';

const base = rootfsPath(defaultSpec());
const canRun = process.getuid?.() === 0 && isComplete(base);
const work = mkdtempSync(path.join(os.tmpdir(), 'sysback-install-'));
const mounted: string[] = [];
const log = createMemoryLog('info');
const gridFile = path.join(work, 'grid.json');
writeFileSync(gridFile, JSON.stringify(TEST_GRID));
const app = path.join(work, 'sysback.mjs');
writeFileSync(app, '#!/usr/bin/env node\nconsole.log("sysback test app")\n');

test.after.always(async () => {
  const ctx = createContext();
  for (const dir of mounted.reverse()) await ctx.runner.run(['umount', dir], { reject: false });
  rmSync(work, { recursive: true, force: true });
});

/** A fresh Debian trixie root: overlayfs over the cached target rootfs (never written). */
async function freshRoot(name: string): Promise<Context> {
  const dir = path.join(work, name);
  for (const sub of ['upper', 'work', 'root']) mkdirSync(path.join(dir, sub), { recursive: true });
  const root = path.join(dir, 'root');
  const ctx = createContext({ root, log });
  await ctx.runner.run(['mount', '-t', 'overlay', 'sysback-install-test', '-o', `lowerdir=${base},upperdir=${dir}/upper,workdir=${dir}/work`, root]);
  mounted.push(root);
  return ctx;
}

/** a unit link points at an absolute device path, so it is checked as a link, not followed on the host */
function isLink(file: string): boolean {
  return lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() === true;
}

function recorder() {
  const calls: string[] = [];
  const deps: InstallDeps = {
    apt: async (_ctx, packages) => {
      calls.push(`apt ${packages.length}`);
    },
    firstboot: async () => {
      calls.push('firstboot');
    },
    powerOff: async () => {
      calls.push('poweroff');
    },
  };
  return { calls, deps };
}

// a visible skip with the reason in each title (test/support/skip.ts), never a passing stand-in
const maybe = testIf(canRun, 'install tests need root and the cached target rootfs (run as root after `npm run rootfs`)').serial;

maybe('install lays the base overlay, enables the units, then asks the question now', async (t) => {
  const ctx = await freshRoot('asks');
  const { calls, deps } = recorder();
  const result = await runInstall(ctx, { gridFile, appBundle: app }, deps);
  t.deepEqual(calls, [`apt ${result.aptPackages.length}`, 'firstboot']);
  t.true(result.aptPackages.includes('tahoe-lafs'));
  t.regex(result.preflight.node!, /^\d+\./);
  t.regex(result.preflight.python!, /^3\./);
  t.is(result.then, 'asked');
  const root = ctx.root;
  t.is(JSON.parse(readFileSync(path.join(root, 'etc/sysback/sysback.json'), 'utf8')).grid.name, TEST_GRID.name);
  t.is(lstatSync(path.join(root, 'etc/sysback/sysback.json')).mode & 0o777, 0o600);
  t.is(readFileSync(path.join(root, 'usr/lib/sysback/sysback.mjs'), 'utf8'), readFileSync(app, 'utf8'));
  t.is(lstatSync(path.join(root, 'usr/bin/sysback')).mode & 0o777, 0o755);
  t.true(existsSync(path.join(root, 'etc/systemd/system/sysback-firstboot.service')));
  t.regex(readlinkSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/sysback-firstboot.service')), /sysback-firstboot\.service$/);
  t.true(isLink(path.join(root, 'etc/systemd/system/multi-user.target.wants/sysback-tahoe@private.service')));
  // a running box keeps its own fstab, hostname and network: image-only files are not laid
  t.false(readFileSync(path.join(root, 'etc/fstab'), 'utf8').includes('LABEL=root'));
  t.false(existsSync(path.join(root, 'etc/repart.d/50-root.conf')));
  t.false(existsSync(path.join(root, 'etc/systemd/network/20-wired.network')));
});

maybe('--power-off arms the hook and powers off instead of asking', async (t) => {
  const ctx = await freshRoot('poweroff');
  const { calls, deps } = recorder();
  const result = await runInstall(ctx, { gridFile, appBundle: app, powerOff: true, skipApt: true }, deps);
  t.deepEqual(calls, ['poweroff']);
  t.is(result.then, 'powered-off');
  t.deepEqual(result.aptPackages, []);
  t.true(isLink(path.join(ctx.root, 'etc/systemd/system/multi-user.target.wants/sysback-firstboot.service')));
  t.false(existsSync(path.join(ctx.root, 'var/lib/sysback/state.json')), 'armed: the next boot asks');
});

maybe('a box without Node.js is refused before anything is written', async (t) => {
  const ctx = await freshRoot('no-node');
  rmSync(path.join(ctx.root, 'usr/bin/node'));
  const { calls, deps } = recorder();
  await t.throwsAsync(runInstall(ctx, { gridFile, appBundle: app, skipApt: true }, deps), { instanceOf: UserError, message: /Node\.js is not installed/ });
  t.deepEqual(calls, []);
  t.false(existsSync(path.join(ctx.root, 'etc/sysback/sysback.json')));
});

maybe('a bad grid.json is refused before anything is laid', async (t) => {
  const ctx = await freshRoot('bad-grid');
  const bad = path.join(work, 'bad-grid.json');
  writeFileSync(bad, JSON.stringify({ ...TEST_GRID, introducers: [] }));
  const { calls, deps } = recorder();
  await t.throwsAsync(runInstall(ctx, { gridFile: bad, appBundle: app, skipApt: true }, deps), { message: /introducers/ });
  t.deepEqual(calls, []);
  t.false(existsSync(path.join(ctx.root, 'etc/sysback')));
});
