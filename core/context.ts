// Owns the context every flow receives: where the device root is, how to run programs, how to talk
// to the person (log on stderr, prompts on the console), what time it is, and where step events go
// (core/steps.ts). Flows never reach for process-global state; everything outside comes through here,
// so tests can swap any part. The grid side of a device (its Tahoe clients, nodes and transports)
// is the Device of grid/device.ts, handed to the flows beside this context (core imports nothing above it).
import { underRoot } from './device-paths.ts';
import { createLog, type Log } from './log.ts';
import { createRunner, type Runner } from './runner.ts';
import { createStepEvents, jsonlListener, type StepEvents } from './steps.ts';

export interface Clock {
  now(): Date;
}

export interface Context {
  /** the device root: `/` on the device, a staging tree in the builder, a temp dir in tests */
  root: string;
  runner: Runner;
  log: Log;
  clock: Clock;
  /** where the flows' step events go (the bench's JSONL file when SYSBACK_EVENTS names one) */
  events: StepEvents;
  /** resolves a device path under `root`, refusing escapes */
  path(devicePath: string): string;
}

/**
 * The device's clock. SYSBACK_CLOCK_OFFSET_S (seconds, may be negative) shifts it: the fault campaign
 * (scripts/faults.ts, docs/faults.md) moves a simulated router's clock behind and ahead with it. A real
 * router never sets it; this is the only place it is read.
 */
export const systemClock: Clock = {
  now: () => {
    const offset = Number(process.env.SYSBACK_CLOCK_OFFSET_S ?? 0);
    return new Date(Date.now() + (Number.isFinite(offset) ? offset * 1000 : 0));
  },
};

export function createContext(options: { root?: string; log?: Log; runner?: Runner; clock?: Clock; events?: StepEvents; env?: Readonly<Record<string, string | undefined>> } = {}): Context {
  const root = options.root ?? '/';
  const log = options.log ?? createLog();
  const runner = options.runner ?? createRunner(log);
  const eventsFile = (options.env ?? process.env).SYSBACK_EVENTS;
  const events = options.events ?? createStepEvents(eventsFile ? [jsonlListener(eventsFile)] : []);
  return { root, log, runner, clock: options.clock ?? systemClock, events, path: (p) => underRoot(root, p) };
}
