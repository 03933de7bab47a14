// Owns the context every flow receives: where the device root is, how to run programs, how to talk
// to the person (log on stderr, prompts on the console) and what time it is. Flows never reach for
// process-global state; everything outside comes through here, so tests can swap any part.
import { underRoot } from './device-paths.ts';
import { createLog, type Log } from './log.ts';
import { createRunner, type Runner } from './runner.ts';

export interface Clock {
  now(): Date;
}

export interface Context {
  /** the device root: `/` on the device, a staging tree in the builder, a temp dir in tests */
  root: string;
  runner: Runner;
  log: Log;
  clock: Clock;
  /** resolves a device path under `root`, refusing escapes */
  path(devicePath: string): string;
}

export const systemClock: Clock = { now: () => new Date() };

export function createContext(options: { root?: string; log?: Log; runner?: Runner; clock?: Clock } = {}): Context {
  const root = options.root ?? '/';
  const log = options.log ?? createLog();
  const runner = options.runner ?? createRunner(log);
  return { root, log, runner, clock: options.clock ?? systemClock, path: (p) => underRoot(root, p) };
}
