// The console prompter on a REAL pseudo-terminal, typed at as a person would: Python's pty module
// gives the program a terminal (it becomes the session's controlling tty, so Ctrl-C is a real SIGINT
// in cooked mode), the test reads what the terminal shows and types only once the prompt is there.
// Checked: a wrong answer is re-asked, a password is never echoed, Ctrl-C at a password prompt (raw
// mode, ETX) and at a line prompt (cooked mode, SIGINT) both exit 130, and the terminal is left in
// cooked mode with echo on. Skips visibly without python3.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { hasPython, onPty as onPtyWith } from '../support/pty.ts';
import { testUnless } from '../support/skip.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** a bound so a broken prompt fails the test instead of hanging it (not a timing assertion) */
const WAIT_MS = 60_000;

const hasStty = spawnSync('stty', ['--version'], { stdio: 'ignore' }).status === 0;

// The program under the pty: the real prompter on process.stdin / process.stderr (the terminal).
// After an error it asks stty (another program, reading the same terminal) how the terminal is now,
// before Node's own exit-time reset could hide a mode left behind.
const PROMPT_SCRIPT = (repo: string) => `
import { spawnSync } from 'node:child_process';
import { reportFatal } from '${repo}/core/errors.ts';
import { createConsolePrompter } from '${repo}/core/prompter-console.ts';
const p = createConsolePrompter();
try {
  const mode = await p.choice('Is this a new router, or do you want to recover one?', [
    { value: 'new', aliases: ['n'] },
    { value: 'recover', aliases: ['r'] },
  ]);
  p.say('MODE=' + mode);
  const password = await p.secret('Password');
  p.say('PASSWORD-LENGTH=' + password.length);
  const alias = await p.line('Alias');
  p.say('ALIAS=' + alias);
} catch (error) {
  const stty = spawnSync('stty', ['-a'], { stdio: ['inherit', 'pipe', 'pipe'], encoding: 'utf8' });
  process.stderr.write('STTY-AFTER-ERROR: ' + stty.stdout.replace(/\\s+/g, ' ') + '\\n');
  process.exitCode = reportFatal(error, (text) => process.stderr.write(text));
}
`;

/** A program on a pty, run from `cwd`. */
function onPty(t: ExecutionContext, argv: string[], cwd: string) {
  return onPtyWith(t, argv, { cwd, waitMs: WAIT_MS });
}

async function promptScript(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-pty-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'prompt.mts');
  await writeFile(file, PROMPT_SCRIPT(REPO));
  return file;
}

const ptyTest = testUnless([!hasPython, 'python3 with the pty module is not installed'], [!hasStty, 'stty is not installed']);

ptyTest('a person types a wrong answer, then "new", a password that is never echoed, then an alias', async (t) => {
  const script = await promptScript(t);
  const pty = onPty(t, [process.execPath, '--import', 'tsx', script], REPO);
  const question = 'Is this a new router, or do you want to recover one? [new/recover]: ';
  await pty.waitFor(question);
  pty.type('maybe\r');
  await pty.waitFor('please type new or n, or recover or r');
  await pty.waitFor(question, 2);
  pty.type('new\r');
  await pty.waitFor('Password: ');
  pty.type('hunter2-s3cret\r');
  await pty.waitFor('PASSWORD-LENGTH=14');
  await pty.waitFor('Alias: ');
  pty.type('alice\r');
  await pty.waitFor('ALIAS=alice');
  const result = await pty.end();
  const screen = pty.screen();
  t.is(result.code, 0, screen);
  t.true(screen.includes('MODE=new'));
  // what a person typed at a line prompt is echoed by the terminal; the password never is
  t.true(screen.includes('maybe'));
  t.true(screen.includes('alice'));
  t.false(screen.includes('hunter2'), screen);
  t.false(screen.includes('*'), 'not even stars for the typed characters');
  t.deepEqual(result.after, { icanon: true, echo: true });
});

ptyTest('backspace at the password prompt edits what was typed, still without echo', async (t) => {
  const script = await promptScript(t);
  const pty = onPty(t, [process.execPath, '--import', 'tsx', script], REPO);
  await pty.waitFor('[new/recover]: ');
  pty.type('r\r');
  await pty.waitFor('Password: ');
  pty.type('abcX\x7fdef\r');
  await pty.waitFor('PASSWORD-LENGTH=6');
  await pty.waitFor('Alias: ');
  pty.type('bob\r');
  const result = await pty.end();
  t.is(result.code, 0);
  t.true(pty.screen().includes('MODE=recover'));
  t.false(pty.screen().includes('abc'));
});

ptyTest('Ctrl-C at the password prompt (raw mode) exits 130 with the terminal back in cooked mode with echo', async (t) => {
  const script = await promptScript(t);
  const pty = onPty(t, [process.execPath, '--import', 'tsx', script], REPO);
  await pty.waitFor('[new/recover]: ');
  pty.type('new\r');
  await pty.waitFor('Password: ');
  pty.type('half-typ');
  pty.type('\x03');
  await pty.waitFor('sysback: interrupted at the prompt (Ctrl-C)');
  const result = await pty.end();
  const screen = pty.screen();
  t.is(result.code, 130, screen);
  t.is(result.signal, null);
  t.false(screen.includes('half-typ'));
  // stty, run by the program after the error and before its exit, sees cooked mode and echo again
  const stty = /STTY-AFTER-ERROR: (.*)/.exec(screen)?.[1] ?? '';
  t.regex(stty, /(^|\s)icanon(\s|$)/, stty);
  t.regex(stty, /(^|\s)echo(\s|$)/, stty);
  t.deepEqual(result.after, { icanon: true, echo: true });
});

ptyTest('Ctrl-C at the first-boot question of the real `sysback firstboot` (a SIGINT) exits 130, nothing written', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-pty-fb-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cmdline = path.join(dir, 'cmdline');
  await writeFile(cmdline, 'root=LABEL=root rw quiet\n');
  const root = path.join(dir, 'root');
  const pty = onPty(
    t,
    [process.execPath, '--import', 'tsx', path.join(REPO, 'cli/sysback.ts'), 'firstboot', '--root', root, '--cmdline', cmdline, '--no-reboot'],
    REPO,
  );
  const question = 'Is this a new router, or do you want to recover one? [new/recover]: ';
  await pty.waitFor(question);
  pty.type('perhaps\r');
  await pty.waitFor(question, 2);
  pty.type('\x03');
  await pty.waitFor('interrupted');
  const result = await pty.end();
  const screen = pty.screen();
  t.is(result.code, 130, screen);
  t.is(result.signal, null, 'the SIGINT was handled, not fatal');
  t.true(screen.includes('"perhaps" is not an answer here'));
  t.true(screen.includes('hint: nothing was half-applied'));
  t.false(screen.includes('sysback: mode='));
  t.deepEqual(result.after, { icanon: true, echo: true });
  const { existsSync } = await import('node:fs');
  t.false(existsSync(path.join(root, 'var/lib/sysback/state.json')));
});
