// A program on a REAL pseudo-terminal, typed at as a person would: Python's pty module gives the
// program a terminal (it becomes the session's controlling tty, so Ctrl-C in cooked mode is a real
// SIGINT); the test reads what the terminal shows and types only once a prompt is there. At the end
// the driver reports the exit status and the terminal's ICANON/ECHO flags before and after.
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';

export const hasPython = spawnSync('python3', ['-c', 'import pty, termios'], { stdio: 'ignore' }).status === 0;

// Runs argv on a new pty, relays our stdin to it and its output to our stdout; at the end prints the
// exit status and the terminal's flags (read through the master) as JSON on stderr.
const PTY_DRIVER = String.raw`
import json, os, pty, select, sys, termios
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def flags():
    try:
        a = termios.tcgetattr(fd)
        return {"icanon": bool(a[3] & termios.ICANON), "echo": bool(a[3] & termios.ECHO)}
    except Exception:
        return None
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

export interface TerminalFlags {
  icanon: boolean;
  echo: boolean;
}

export interface PtyResult {
  code: number | null;
  signal: number | null;
  before: TerminalFlags | null;
  after: TerminalFlags | null;
}

/**
 * Starts argv on a pty. `waitMs` bounds every wait so a broken prompt fails the test instead of
 * hanging it (a bound, not a timing assertion).
 */
export function onPty(t: ExecutionContext, argv: readonly string[], options: { cwd?: string; waitMs?: number } = {}) {
  const waitMs = options.waitMs ?? 60_000;
  const child = spawn('python3', ['-c', PTY_DRIVER, ...argv], { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
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
      try {
        resolve(JSON.parse(stderr.trim().split('\n').at(-1) ?? '') as PtyResult);
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
      const deadline = Date.now() + waitMs;
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
