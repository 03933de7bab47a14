// The two flows' prompts on a REAL pseudo-terminal inside a simulated router, typed at as a person
// would (issue 4: "the prompts driven through a real pseudo-terminal"; "Ctrl-C at each prompt").
// Python's pty module gives `sysback recover` / `sysback configure` (run in the router's chroot, no
// answers file) a controlling terminal; the test waits for each prompt on the screen before typing.
// Checked: Ctrl-C at the alias prompt (cooked mode: the terminal sends SIGINT) and at the password
// prompt (raw mode: ETX) of both flows exits 130 with no state file and the terminal back in cooked
// mode with echo; three wrong passwords exit 12; and a person recovers a router through the
// type-ahead filter, a password that is never echoed, and the generation question.
// Skips visibly without python3 (pty, termios).
import test, { type ExecutionContext } from 'ava';
import { hasPython, onPty as onPtyWith } from '../support/pty.ts';
import { testIf, testUnless } from '../support/skip.ts';
import { isRoot } from '../support/target.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEVICE } from '../../core/device-paths.ts';
import { EXIT } from '../../core/errors.ts';
import { SimulatedRouter } from '../support/router.ts';
import { sharedGrid, type TestGrid } from '../support/shared-grid.ts';

const PASSWORD = 'plum-kettle-orbit-Saturn-91';
const STAMP = Date.now().toString(36);
const ALIAS = `pty-${STAMP}`;
/** a bound so a broken prompt fails the test instead of hanging it (not a timing assertion) */
const WAIT_MS = 300_000;


// The same chroot as SimulatedRouter.exec; the pty is the program's stdin, stdout and stderr.
const CHROOT_SCRIPT = 'set -e\nm=$1; shift\nmount -t proc proc "$m/proc"\nmount --rbind /dev "$m/dev"\nexec chroot "$m" "$@"';

/** `sysback ARGS` inside router `r`, on a pty: what the terminal showed, typing, and the end. */
function sysbackOnPty(t: ExecutionContext, r: SimulatedRouter, args: string[]) {
  const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=vt100'];
  return onPty(t, ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', CHROOT_SCRIPT, 'router', r.root, 'env', '-i', ...env, DEVICE.bin, ...args]);
}

/** Any program on a pty. */
function onPty(t: ExecutionContext, argv: string[]) {
  return onPtyWith(t, argv, { waitMs: WAIT_MS });
}

let grid: TestGrid;
let a: SimulatedRouter;
const routers: SimulatedRouter[] = [];

async function router(name: string): Promise<SimulatedRouter> {
  const r = await SimulatedRouter.create(name, { grid: grid.grid, transport: 'webapi' });
  routers.push(r);
  return r;
}

const NO_PTY = 'python3 with the pty and termios modules is not installed';
const ptyTest = testUnless([!hasPython, NO_PTY], [!isRoot(), 'the flows run in a simulated router: needs root (chroot, overlayfs)']).serial;

test.before(async () => {
  if (!hasPython || !isRoot()) return;
  grid = await sharedGrid();
  a = await router('pty-a');
  a.write(DEVICE.filesList, '/etc/sysback\n/etc/myapp\n/var/spool/cron\n');
  a.write('/etc/myapp/app.conf', 'typed by a person\n');
  a.write('/root/answers.json', JSON.stringify({ mode: 'new', alias: ALIAS, password: PASSWORD }), 0o600);
  const run = await a.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
  if (run.exitCode !== 0) throw new Error(`router A could not be configured: ${run.stderr}`);
});

test.after.always(async () => {
  for (const r of routers) await r.destroy().catch(() => {});
  await grid?.release();
});

const ALIAS_PROMPT = 'Which router is yours?';

/** The interrupted run: 130, said so, terminal restored, nothing configured or restored. */
async function assertInterrupted(t: ExecutionContext, r: SimulatedRouter, pty: ReturnType<typeof sysbackOnPty>): Promise<void> {
  await pty.waitFor('interrupted');
  const result = await pty.end();
  const screen = pty.screen();
  t.is(result.code, EXIT.interrupted, screen);
  t.is(result.signal, null, 'the interrupt was handled, not fatal');
  t.regex(screen, /hint: nothing was half-applied/);
  t.deepEqual(result.after, { icanon: true, echo: true }, 'the terminal is back in cooked mode with echo');
  t.false(r.exists(DEVICE.state), 'no state file');
  t.false(r.exists('/etc/myapp'), 'nothing restored');
}

let recovering: SimulatedRouter;

ptyTest('recover: Ctrl-C at the alias prompt exits 130, nothing written', async (t) => {
  recovering = await router('pty-b');
  const pty = sysbackOnPty(t, recovering, ['recover', '--no-reboot']);
  await pty.waitFor(ALIAS_PROMPT);
  pty.type(STAMP.slice(0, 3));
  pty.type('\x03');
  await assertInterrupted(t, recovering, pty);
});

ptyTest('recover: a wrong password is re-asked with a reason, then Ctrl-C at the password prompt exits 130', async (t) => {
  const pty = sysbackOnPty(t, recovering, ['recover', '--no-reboot']);
  await pty.waitFor(ALIAS_PROMPT);
  pty.type(`${ALIAS}\r`);
  await pty.waitFor('Password: ');
  pty.type('not-the-right-one-42\r');
  await pty.waitFor('wrong password (2 tries left)');
  await pty.waitFor('Password: ', 2);
  pty.type('half-typ\x03');
  await assertInterrupted(t, recovering, pty);
  t.false(pty.screen().includes('not-the-right-one'), 'the password is not echoed');
});

ptyTest('recover: three wrong passwords exit 12, nothing written', async (t) => {
  const pty = sysbackOnPty(t, recovering, ['recover', '--no-reboot']);
  await pty.waitFor(ALIAS_PROMPT);
  pty.type(`${ALIAS}\r`);
  for (let i = 1; i <= 3; i += 1) {
    await pty.waitFor('Password: ', i);
    pty.type(`wrong-guess-number-${i}\r`);
  }
  await pty.waitFor('sysback: ');
  const result = await pty.end();
  const screen = pty.screen();
  t.is(result.code, EXIT.wrongPassword, screen);
  t.regex(screen, /wrong password, 3 times; nothing was changed/);
  t.false(screen.includes('wrong-guess'));
  t.false(recovering.exists(DEVICE.state));
  t.false(recovering.exists('/etc/myapp'));
});

ptyTest('recover typed by a person: part of the alias, Enter on the one match, an unechoed password, Enter for the latest backup', async (t) => {
  const pty = sysbackOnPty(t, recovering, ['recover', '--no-reboot']);
  await pty.waitFor(ALIAS_PROMPT);
  pty.type(`${STAMP}\r`);
  await pty.waitFor(`1) ${ALIAS}`);
  await pty.waitFor('Press Enter to choose it');
  pty.type('\r');
  await pty.waitFor('Password: ');
  pty.type(`${PASSWORD}\r`);
  await pty.waitFor('Restore which one?');
  pty.type('\r'); // Enter: the default, the latest
  await pty.waitFor('would reboot now');
  const result = await pty.end();
  const screen = pty.screen();
  t.is(result.code, 0, screen);
  t.false(screen.includes(PASSWORD), 'the password was never echoed');
  t.regex(screen, new RegExp(`Identity of "${ALIAS}" opened`));
  t.is(recovering.read('/etc/myapp/app.conf'), 'typed by a person\n');
  t.is(JSON.parse(recovering.read(DEVICE.state)).mode, 'recover');
  t.deepEqual(result.after, { icanon: true, echo: true });
});

let fresh: SimulatedRouter;

ptyTest('configure: Ctrl-C at the alias prompt exits 130, no state file', async (t) => {
  fresh = await router('pty-new');
  const pty = sysbackOnPty(t, fresh, ['configure', '--no-reboot']);
  await pty.waitFor('Alias for this router');
  pty.type('half');
  pty.type('\x03');
  await assertInterrupted(t, fresh, pty);
});

ptyTest('configure: Ctrl-C at the second password prompt exits 130, nothing published', async (t) => {
  const alias = `pty-n-${STAMP}`;
  const pty = sysbackOnPty(t, fresh, ['configure', '--no-reboot']);
  await pty.waitFor('Alias for this router');
  pty.type(`${alias}\r`);
  await pty.waitFor('Password: ');
  pty.type(`${PASSWORD}\r`);
  await pty.waitFor('Password again: ');
  pty.type('\x03');
  await assertInterrupted(t, fresh, pty);
  t.false(fresh.exists(DEVICE.recoveryCard));
  t.is(await grid.api.info(grid.grid.publicDirectory, alias), undefined, 'nothing published under the alias');
});

// Regression: after a secret read in raw mode, the Enter (a bare "\r") left `skipLineFeed` set, so the
// "\n" that the NEXT question's Enter sends in cooked mode (ICRNL) was swallowed as the second half of a
// CRLF: Enter at "Restore which one?" right after the password did nothing until a second Enter.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const enterAfterSecret = testIf(hasPython, NO_PTY);
enterAfterSecret('a bare Enter at a line prompt right after the password prompt takes the default (Enter is not swallowed)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-flows-pty-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'prompt.mts');
  await writeFile(
    script,
    [
      `import { createConsolePrompter } from '${REPO}/core/prompter-console.ts';`,
      'const p = createConsolePrompter();',
      "await p.secret('Password');",
      "p.say('GENERATION=' + await p.line('Restore which one?', { default: '1' }));",
    ].join('\n'),
  );
  const pty = onPty(t, [process.execPath, '--import', 'tsx', script]);
  await pty.waitFor('Password: ');
  pty.type('s3cret-enough\r');
  await pty.waitFor('Restore which one? [1]: ');
  // Enter for the default, then "2" and Enter: a swallowed first Enter makes the answer "2"
  pty.type('\r');
  pty.type('2\r');
  await pty.waitFor('GENERATION=');
  const result = await pty.end();
  t.is(result.code, 0, pty.screen());
  t.regex(pty.screen(), /GENERATION=1/, 'the Enter took the default');
});
