// The console prompter on a REAL pseudo-terminal, typed at as a person would: Python's pty module
// gives the program a terminal (it becomes the session's controlling tty, so Ctrl-C is a real SIGINT
// in cooked mode), the test reads what the terminal shows and types only once the prompt is there.
// Checked: a wrong answer is re-asked, a password is never echoed, Ctrl-C at a password prompt (raw
// mode, ETX) and at a line prompt (cooked mode, SIGINT) both exit 130, and the terminal is left in
// cooked mode with echo on. Skips visibly without python3.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** a bound so a broken prompt fails the test instead of hanging it (not a timing assertion) */
const WAIT_MS = 60_000;

const hasPython = spawnSync('python3', ['-c', 'import pty, termios'], { stdio: 'ignore' }).status === 0;
const hasStty = spawnSync('stty', ['--version'], { stdio: 'ignore' }).status === 0;

// Runs argv on a new pty, relays our stdin to it and its output to our stdout; at the end prints the
// exit status and the terminal's ICANON/ECHO flags (read through the master) as JSON on stderr.
const PTY_DRIVER = String.raw`
import json, os, pty, select, sys, termios
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def flags():
    a = termios.tcgetattr(fd)
    return {"icanon": bool(a[3] & termios.ICANON), "echo": bool(a[3] & termios.ECHO)}
before = flags()
stdin_open = True
while True:
    watch = [fd] + ([0] if stdin_open else [])
    ready, _, _ = select.select(watch, [], [])
    if fd in ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 4096)
        if data:
            os.write(fd, data)
        else:
            stdin_open = False
_, status = os.waitpid(pid, 0)
after = flags()
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
sys.stderr.write(json.dumps({"code": code, "signal": signal, "before": before, "after": after}) + "\n")
`;

// The program under the pty: the real prompter on process.stdin / process.stderr (the terminal).
// After an error it asks stty (another program, reading the same terminal) how the terminal is now,
// before Node's own exit-time reset could hide a mode left behind.
const PROMPT_SCRIPT = (repo: string) => `
import { spawnSync } from 'node:child_process';
import { reportFatal } from '${repo}/core/errors.ts';
import { createConsolePrompter } from '${repo}/core/prompter.ts';
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

interface PtyResult {
  code: number | null;
  signal: number | null;
  before: { icanon: boolean; echo: boolean };
  after: { icanon: boolean; echo: boolean };
}

/** A program running on a pty: what the terminal showed so far, typing, and the end. */
function onPty(t: ExecutionContext, argv: string[], cwd: string) {
  const child = spawn('python3', ['-c', PTY_DRIVER, ...argv], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let stderr = '';
  let closed = false;
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString('utf8');
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<PtyResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      closed = true;
      for (const w of waiters.splice(0)) w();
      const last = stderr.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as PtyResult);
      } catch {
        reject(new Error(`the pty driver did not report: ${stderr}`));
      }
    });
  });
  t.teardown(() => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  });
  return {
    screen: () => screen,
    /** resolves once the terminal has shown `text` `count` times in all */
    async waitFor(text: string, count = 1): Promise<void> {
      const deadline = Date.now() + WAIT_MS;
      while (screen.split(text).length - 1 < count) {
        if (closed || Date.now() > deadline) {
          throw new Error(`the terminal never showed ${JSON.stringify(text)}; it showed:\n${screen}\n${stderr}`);
        }
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 500).unref();
        });
      }
    },
    type(text: string): void {
      child.stdin.write(text);
    },
    async end(): Promise<PtyResult> {
      child.stdin.end();
      return exited;
    },
  };
}

async function promptScript(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-pty-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'prompt.mts');
  await writeFile(file, PROMPT_SCRIPT(REPO));
  return file;
}

const ptyTest = hasPython && hasStty ? test : test.skip;
if (!hasPython || !hasStty) {
  test('prompt on a pseudo-terminal (skipped)', (t) => {
    t.log(`skipped: ${!hasPython ? 'python3 with the pty module' : 'stty'} is not installed`);
    t.pass();
  });
}

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
