// The one gateway for running programs: the only module that imports execa. It logs every argv
// (secrets and Tahoe caps redacted) and turns a failure into a typed CommandError carrying argv,
// exit code and the tail of stderr. Flows receive a Runner through their Context, so unit tests can
// pass a recording fake and integration tests this real one.
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CommandError } from './errors.ts';
import type { Log } from './log.ts';
import { redact } from './redact.ts';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** bytes or text written to the program's stdin */
  input?: string | Uint8Array;
  /** values to hide from logs and error messages (passwords, caps) */
  secrets?: readonly string[];
  timeoutMs?: number;
  /** 'inherit' shows the program's output to the user (long builds) */
  stdio?: 'pipe' | 'inherit';
  /** when false, a non-zero exit is returned instead of thrown */
  reject?: boolean;
  /** hint added to the CommandError when the program fails */
  hint?: string;
  /** told the program's PID as soon as it is started (a caller that must be able to stop it by PID) */
  onStart?: (pid: number) => void;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** stdout and stderr of the long-lived process go here (appended) */
  logFile: string;
}

export interface PipedProcess {
  pid: number | undefined;
  stdin: Writable | null;
  stdout: Readable | null;
  /** settles when the process exits; rejects with CommandError on failure */
  done: Promise<RunResult>;
  kill(signal?: NodeJS.Signals): void;
}

export interface Runner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-lived process in its own session (setsid), detached from us; returns its PID. */
  start(argv: readonly string[], options: StartOptions): number;
  /** Spawns a process whose stdin/stdout the caller streams (archives, uploads). */
  pipe(argv: readonly string[], options?: Omit<RunOptions, 'input' | 'stdio'>): PipedProcess;
  /** Absolute path of a program on PATH, or undefined. */
  which(program: string): Promise<string | undefined>;
}

function describe(argv: readonly string[], secrets: readonly string[]): string {
  return redact(argv.map((a) => (/[\s'"$]/.test(a) ? JSON.stringify(a) : a)).join(' '), secrets);
}

function tail(text: string, secrets: readonly string[]): string {
  return redact(text.slice(-2000), secrets);
}

export function createRunner(log: Log): Runner {
  return {
    async run(argv, options = {}) {
      const secrets = options.secrets ?? [];
      log.debug(`$ ${describe(argv, secrets)}`);
      const [file, ...args] = argv;
      if (!file) throw new Error('runner: empty argv');
      const child = execa(file, args, {
        cwd: options.cwd,
        env: options.env,
        extendEnv: true,
        input: options.input,
        timeout: options.timeoutMs,
        // 'inherit' gives the program the terminal both ways (sysback boot: the console is typed on)
        stdin: options.input !== undefined ? undefined : options.stdio === 'inherit' ? 'inherit' : 'ignore',
        stdout: options.stdio === 'inherit' ? 'inherit' : 'pipe',
        stderr: options.stdio === 'inherit' ? 'inherit' : 'pipe',
        reject: false,
        stripFinalNewline: false,
        encoding: 'utf8',
      });
      if (child.pid !== undefined) options.onStart?.(child.pid);
      const result = await child;
      const stdout = typeof result.stdout === 'string' ? result.stdout : '';
      const stderr = typeof result.stderr === 'string' ? result.stderr : '';
      const exitCode = result.exitCode ?? (result.failed ? -1 : 0);
      if (result.failed && options.reject !== false) {
        const why = result.timedOut ? `timed out after ${options.timeoutMs} ms` : result.code === 'ENOENT' ? 'not found' : '';
        throw new CommandError(
          argv.map((a) => redact(a, secrets)),
          result.exitCode,
          tail(why ? `${why}\n${stderr}` : stderr || stdout, secrets),
          options.hint ?? (result.code === 'ENOENT' ? `install ${path.basename(file)}` : undefined),
        );
      }
      return { exitCode, stdout, stderr };
    },

    start(argv, options) {
      log.debug(`$ ${describe(argv, [])} &`);
      const [file, ...args] = argv;
      if (!file) throw new Error('runner: empty argv');
      const fd = openSync(options.logFile, 'a');
      try {
        // node's spawn: a plain detached session leader whose output goes straight to the log file
        const child = spawn(file, args, {
          cwd: options.cwd,
          env: { ...process.env, ...options.env },
          detached: true,
          stdio: ['ignore', fd, fd],
        });
        child.unref();
        child.on('error', () => {});
        if (child.pid === undefined) throw new CommandError(argv, undefined, 'no PID');
        return child.pid;
      } finally {
        closeSync(fd);
      }
    },

    pipe(argv, options = {}) {
      const secrets = options.secrets ?? [];
      log.debug(`$ ${describe(argv, secrets)} |`);
      const [file, ...args] = argv;
      if (!file) throw new Error('runner: empty argv');
      const child = execa(file, args, {
        cwd: options.cwd,
        env: options.env,
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: { stdout: false },
        reject: false,
        timeout: options.timeoutMs,
      });
      const done = child.then((result) => {
        const stderr = typeof result.stderr === 'string' ? result.stderr : '';
        if (result.failed && options.reject !== false) {
          throw new CommandError(argv, result.exitCode, tail(stderr, secrets), options.hint);
        }
        return { exitCode: result.exitCode ?? -1, stdout: '', stderr };
      });
      return { pid: child.pid, stdin: child.stdin, stdout: child.stdout, done, kill: (signal) => child.kill(signal) };
    },

    async which(program) {
      if (program.includes('/')) return (await isExecutable(program)) ? program : undefined;
      for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
        const candidate = path.join(dir, program);
        if (await isExecutable(candidate)) return candidate;
      }
      return undefined;
    },
  };
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
