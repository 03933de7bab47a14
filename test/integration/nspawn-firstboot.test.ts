// The first-boot hook under the image's real systemd, booted with systemd-nspawn (DESIGN §5, §6): the
// question owns the console before any login prompt, answering works, a configured router is not asked
// again and the hook costs nothing there, an interrupted first boot asks again, and the kernel command
// line (sysback.mode=recover) runs it on a configured router, and an answers file skips the question.
// (sysback.mode=new skipping the question is checked under qemu, where /proc/cmdline is the guest's own.)
import test from 'ava';
import { testIf } from '../support/skip.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingTools } from '../../builder/host-tools.ts';
import { createContext } from '../../core/context.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { recoveryCard } from '../../grid/public-area.ts';
import { ensureTestImage, type TestImage } from './test-image.ts';
import { bootRouter, upperHas, type NspawnBoot } from './nspawn-router.ts';

const PROMPT = /Is this a new router, or do you want to recover one\? \[new\/recover\]: /;
const LOGIN = /login: /;
const ctx = createContext();
const needed = ['systemd-nspawn', 'mmdebstrap', 'mke2fs', 'mcopy', 'mkfs.vfat', 'sfdisk', 'script', 'unshare', 'nsenter'];
const missing = process.getuid?.() === 0 ? await missingTools(ctx.runner, needed) : ['root'];
const work = mkdtempSync(path.join(os.tmpdir(), 'sysback-nspawn-'));
let image: TestImage | undefined;
const boots: NspawnBoot[] = [];

test.before(async (t) => {
  if (missing.length) return;
  t.timeout(1_800_000); // a cold image layer is built here when the cache is empty
  image = await ensureTestImage();
  t.log(`test image ${image.dir} (${image.built ? `built: ${JSON.stringify(image.seconds)}` : 'cached'})`);
});

test.after.always(async () => {
  for (const boot of boots) await boot.stop(5_000);
  rmSync(work, { recursive: true, force: true });
});

function boot(router: string, initArgs: string[] = []): NspawnBoot {
  const b = bootRouter(ctx, path.join(image!.dir, 'rootfs'), path.join(work, router), initArgs);
  boots.push(b);
  return b;
}

// a visible skip with the reason in each title (test/support/skip.ts), never a passing stand-in
const serial = testIf(missing.length === 0, `nspawn boot tests need root and host programs (missing: ${missing.join(', ')})`).serial;

const STATE = '/var/lib/sysback/state.json';

/** A router that a first-boot flow already configured (the state file is what "configured" means). */
function configure(router: string): void {
  const dir = path.join(work, router, 'upper', 'var', 'lib', 'sysback');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'state.json'), `${JSON.stringify({ format: 'sysback-state/1', mode: 'new', alias: `router-${router}`, configuredAt: '2026-11-27T12:00:00Z' }, null, 2)}\n`, { mode: 0o600 });
}

async function unitShow(b: NspawnBoot): Promise<Record<string, string>> {
  const show = await b.exec(['systemctl', 'show', 'sysback-firstboot.service', '-p', 'ConditionResult', '-p', 'ExecMainStartTimestampMonotonic', '-p', 'ActiveState', '-p', 'Result']);
  return Object.fromEntries(show.stdout.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]));
}

serial('the question comes before any login prompt, and the answer reaches the first-boot command', async (t) => {
  const b = boot('a');
  const { before } = await b.console.waitFor(PROMPT, 120_000);
  t.log(`nspawn boot to the question: ${b.console.elapsed().toFixed(1)} s`);
  t.notRegex(before, LOGIN, 'a login prompt appeared before the question');
  t.false(upperHas(path.join(work, 'a'), STATE));
  b.console.sendLine('new');
  await b.console.waitFor(/mode=new/, 120_000, LOGIN);
  // DESIGN §7: no tor runs in a test image
  const tor = await b.exec(['systemctl', 'is-enabled', 'tor@default.service']);
  t.is(tor.stdout.trim(), 'masked');
  const unit = await unitShow(b);
  t.is(unit.ConditionResult, 'yes');
  await b.stop();
  // the "new" flow cannot finish here (no grid in the container): the router is not marked configured
  t.false(upperHas(path.join(work, 'a'), STATE));
});

serial('an interrupted first boot asks again on the next boot', async (t) => {
  const first = boot('b');
  await first.console.waitFor(PROMPT, 120_000);
  await first.pullPlug();
  t.false(upperHas(path.join(work, 'b'), STATE));
  const second = boot('b');
  const { before } = await second.console.waitFor(PROMPT, 120_000);
  t.notRegex(before, LOGIN);
  // an orderly shutdown at the question (the power button) does not mark it done either
  await second.stop();
  t.false(upperHas(path.join(work, 'b'), STATE));
  const third = boot('b');
  await third.console.waitFor(PROMPT, 120_000);
  await third.stop();
});

serial('a configured router is not asked, and the hook costs nothing (skipped by its condition)', async (t) => {
  configure('c');
  const b = boot('c');
  const { before } = await b.console.waitFor(LOGIN, 120_000);
  t.notRegex(before, PROMPT);
  const unit = await unitShow(b);
  t.is(unit.ConditionResult, 'no');
  t.is(unit.ExecMainStartTimestampMonotonic, '0', 'no process was started');
  t.is(unit.ActiveState, 'inactive');
  const blame = await b.exec(['systemd-analyze', 'blame', '--no-pager']);
  t.is(blame.exitCode, 0, blame.stderr);
  t.regex(blame.stdout, /\.service/);
  t.notRegex(blame.stdout, /sysback-firstboot/);
  t.log(`configured boot to the login prompt: ${b.console.elapsed().toFixed(1)} s; sysback-firstboot absent from systemd-analyze blame`);
  await b.stop();
});

serial('sysback.mode=recover on the kernel command line runs the hook on a configured router, which asks for a typed confirmation', async (t) => {
  configure('d');
  const b = boot('d', ['sysback.mode=recover']);
  // inside the container the hook reads the words from PID 1's arguments, as systemd does
  const { before } = await b.console.waitFor(/Type "recover" to recover, or anything else to keep this configuration: /, 180_000);
  t.notRegex(before, LOGIN, 'the confirmation comes before any login prompt');
  b.console.sendLine('keep');
  await b.console.waitFor(LOGIN, 180_000, PROMPT);
  t.regex(b.console.text, /keeps its configuration/);
  const unit = await unitShow(b);
  t.is(unit.ConditionResult, 'yes');
  t.not(unit.ExecMainStartTimestampMonotonic, '0', 'the first-boot command ran');
  await b.stop();
});

serial('the card a flow showed before its reboot is shown again above the login prompt after it, once (the reboot scrolls it away)', async (t) => {
  configure('g');
  const cap = `URI:DIR2-RO:${'a'.repeat(26)}:${'b'.repeat(52)}`;
  const dir = path.join(work, 'g', 'upper', 'var', 'lib', 'sysback');
  writeFileSync(path.join(dir, 'recovery-card.txt'), recoveryCard('router-g', cap), { mode: 0o600 });
  // what firstboot/card-at-login.ts leaves when a flow showed the card on the console
  writeFileSync(path.join(dir, 'recovery-card.at-login'), '', { mode: 0o600 });
  const b = boot('g');
  const { before } = await b.console.waitFor(LOGIN, 120_000);
  const heading = before.indexOf('shown here until the next reboot');
  t.true(heading >= 0, 'the heading is above the login prompt');
  t.true(before.indexOf(cap, heading) > heading, 'the card\'s read cap follows it');
  t.is((await b.exec(['test', '-e', DEVICE.cardAtLogin])).exitCode, 1, 'the marker is gone: once');
  t.is((await b.exec(['stat', '-c', '%a', DEVICE.cardIssue])).stdout.trim(), '600', 'the card in /run is root\'s only');
  await b.stop();
  const again = boot('g');
  const next = await again.console.waitFor(LOGIN, 120_000);
  t.false(next.before.includes(cap), 'the next boot does not show it: /run is empty again');
  t.notRegex(next.before, /issue/i, 'agetty passes over the dangling link without a word');
  await again.stop();
});

serial('an answers file skips the question on a headless board', async (t) => {
  const upper = path.join(work, 'f', 'upper', 'etc', 'sysback');
  mkdirSync(upper, { recursive: true });
  writeFileSync(path.join(upper, 'answers.json'), JSON.stringify({ mode: 'new', alias: 'router-f', password: 'correct horse battery staple 42' }), { mode: 0o600 });
  const b = boot('f');
  const { before } = await b.console.waitFor(/mode=new/, 120_000, PROMPT);
  t.notRegex(before, PROMPT);
  await b.console.waitForAnywhere(/answers from \/etc\/sysback\/answers\.json/, 30_000);
  t.regex(b.console.text, /answers from \/etc\/sysback\/answers\.json/);
  await b.stop();
});
