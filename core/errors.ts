// The one error family of sysback, and the one place that maps it to exit codes.
// Contract: anything thrown to the top level is either a SysbackError (expected; printed as one line
// plus a hint, no stack) or a bug (printed with its stack, exit code 70). Exit codes are documented in
// README.md ("Exit codes"); keep the two in step.

export const EXIT = {
  ok: 0,
  /** a problem the user can fix: bad flag, bad config, missing program */
  usage: 2,
  /** an external program failed (tahoe, mmdebstrap, rsync, ...) */
  command: 3,
  /** the device is not configured yet, or the state says something else is needed */
  notConfigured: 4,
  /** another sysback run holds the lock */
  locked: 5,
  /** the grid (introducer, node or web API) cannot be reached */
  gridUnreachable: 10,
  /** fewer storage servers connected than shares.happy */
  tooFewServers: 11,
  /** the identity password is wrong (restic uses 12 too) */
  wrongPassword: 12,
  /** no identity published under that alias */
  unknownAlias: 13,
  /** the identity file or a backup is damaged, tampered with, or of an unknown format */
  corrupt: 14,
  /** an archive tried to write outside the root, or holds device nodes or unlisted paths */
  unsafeArchive: 15,
  /** not enough free space to do the job safely */
  noSpace: 16,
  /** a verification after writing failed: the grid did not return what was written */
  verifyFailed: 17,
  /** a bug: unexpected error (EX_SOFTWARE) */
  internal: 70,
  /** interrupted by Ctrl-C or SIGTERM (restic's 130) */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Base of every expected failure: a one-line cause and a hint for what to do. */
export class SysbackError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;
  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? EXIT.usage;
    this.hint = options.hint;
  }
}

/** A mistake the user can fix (bad flag, bad input file, missing program). */
export class UserError extends SysbackError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: EXIT.usage });
  }
}

export interface ConfigProblem {
  /** field path, for example `introducers[1].furl` */
  path: string;
  message: string;
}

/** A config file failed validation; carries every problem found, each with its field path. */
export class ConfigError extends SysbackError {
  readonly problems: readonly ConfigProblem[];
  constructor(file: string, problems: readonly ConfigProblem[]) {
    const list = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    super(`${file} is not valid: ${list}`, { hint: `fix the fields listed in ${file}`, exitCode: EXIT.usage });
    this.problems = problems;
  }
}

/** An external program exited non-zero or could not start. */
export class CommandError extends SysbackError {
  readonly argv: readonly string[];
  readonly code: number | undefined;
  readonly stderrTail: string;
  constructor(argv: readonly string[], code: number | undefined, stderrTail: string, hint?: string) {
    const what = code === undefined ? 'could not start' : `exited with code ${code}`;
    const tail = stderrTail.trim().split('\n').slice(-3).join(' | ');
    super(`${argv[0]} ${what}${tail ? `: ${tail}` : ''}`, { hint, exitCode: EXIT.command });
    this.argv = argv;
    this.code = code;
    this.stderrTail = stderrTail;
  }
}

export class GridUnreachableError extends SysbackError {
  constructor(message: string, hint = 'check that the Tahoe node and the grid are running (sysback node status)') {
    super(message, { hint, exitCode: EXIT.gridUnreachable });
  }
}

export class TooFewServersError extends SysbackError {
  readonly connected: number;
  readonly needed: number;
  /** `otherThanRouter`: the count is of servers other than this router's own, which a placement that survives its loss needs */
  constructor(connected: number, needed: number, waitedSeconds: number, otherThanRouter = false) {
    super(otherThanRouter
      ? `only ${connected} storage server(s) other than this router are connected (waited ${waitedSeconds} s); what survives the loss of this router needs ${needed}`
      : `only ${connected} of the ${needed} storage servers needed are connected (waited ${waitedSeconds} s)`, {
      hint: 'wait for more servers to come online, or check the introducers and Tor',
      exitCode: EXIT.tooFewServers,
    });
    this.connected = connected;
    this.needed = needed;
  }
}

export class WrongPasswordError extends SysbackError {
  constructor(message = 'wrong password for this identity') {
    super(message, { hint: 'type the password you chose when this router was first set up', exitCode: EXIT.wrongPassword });
  }
}

export class UnknownAliasError extends SysbackError {
  constructor(alias: string) {
    super(`no identity is published under the alias "${alias}"`, {
      hint: 'check the spelling, or use the read cap printed on your recovery card',
      exitCode: EXIT.unknownAlias,
    });
  }
}

export class CorruptError extends SysbackError {
  constructor(message: string, hint = 'the file was damaged or tampered with; use an older generation or the recovery card') {
    super(message, { hint, exitCode: EXIT.corrupt });
  }
}

export class UnsafeArchiveError extends SysbackError {
  readonly entry: string;
  constructor(entry: string, reason: string) {
    super(`refusing archive entry "${entry}": ${reason}`, {
      hint: 'nothing was changed; the archive may be hostile, restore another generation',
      exitCode: EXIT.unsafeArchive,
    });
    this.entry = entry;
  }
}

export class NoSpaceError extends SysbackError {
  constructor(message: string) {
    super(message, { hint: 'free some space and run the command again; nothing was changed', exitCode: EXIT.noSpace });
  }
}

export class VerifyError extends SysbackError {
  constructor(message: string) {
    super(message, { hint: 'the previous good backup is kept; try again later', exitCode: EXIT.verifyFailed });
  }
}

export class LockedError extends SysbackError {
  constructor(message: string) {
    super(message, { hint: 'wait for the other run to finish', exitCode: EXIT.locked });
  }
}

export class NotConfiguredError extends SysbackError {
  constructor(message: string, hint = 'run sysback firstboot (or sysback configure) first') {
    super(message, { hint, exitCode: EXIT.notConfigured });
  }
}

export class InterruptedError extends SysbackError {
  constructor(message = 'interrupted') {
    super(message, { hint: 'nothing was half-applied; run the command again to resume', exitCode: EXIT.interrupted });
  }
}

/**
 * The top-level handler: prints the error for a person on `write` and returns the exit code.
 * Expected errors get one line and a hint; anything else is a bug and keeps its stack.
 */
export function reportFatal(error: unknown, write: (text: string) => void): number {
  if (error instanceof SysbackError) {
    write(`sysback: ${error.message}\n`);
    if (error.hint) write(`  hint: ${error.hint}\n`);
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  write(`sysback: internal error (please report it): ${text}\n`);
  return EXIT.internal;
}
