// Owns the step machinery the flows share (configure, recover, the backup run): a flow is an ordered
// list of named steps carrying the seed's letters; each step runs under a logged, timed title and
// emits one structured StepEvent when it ends ({flow, step, name, start, end, outcome, error?}), which
// the log prints and any listener on the context collects (the bench reads them from the JSONL file
// named by SYSBACK_EVENTS; no caller parses log text). A step's `parts` (named pieces inside one
// seed step, such as the upload and the verification inside BACKING d) emit events too, with `part`.
// Contract: a failing step's SysbackError is re-thrown naming the step, with the flow's resume hint
// (`step "d) identity file in the public area" failed: ...`); other errors pass through unchanged;
// events never carry caps or secrets (errors are redacted by the log's own redaction).
import { appendFileSync, readFileSync } from 'node:fs';
import type { Log } from './log.ts';
import { redact } from './redact.ts';
import { SysbackError } from './errors.ts';

export type FlowName = 'configure' | 'recover' | 'backup';
export type StepOutcome = 'ok' | 'failed' | 'skipped';

export interface StepEvent {
  flow: FlowName;
  /** the seed's letter: "a" ... "g" */
  step: string;
  name: string;
  /** a named piece inside the step, when the event is for one */
  part?: string;
  /** ISO times */
  start: string;
  end: string;
  seconds: number;
  outcome: StepOutcome;
  /** the error's one-line message, redacted, when the outcome is "failed" */
  error?: string;
}

export type StepListener = (event: StepEvent) => void;

export interface StepEvents {
  emit(event: StepEvent): void;
  /** Adds a listener; returns its removal. */
  listen(listener: StepListener): () => void;
}

export function createStepEvents(listeners: StepListener[] = []): StepEvents {
  const all = [...listeners];
  return {
    emit(event) {
      for (const listener of all) listener(event);
    },
    listen(listener) {
      all.push(listener);
      return () => {
        const index = all.indexOf(listener);
        if (index >= 0) all.splice(index, 1);
      };
    },
  };
}

/** A listener that appends each event as one JSON line to `file` (SYSBACK_EVENTS). */
export function jsonlListener(file: string): StepListener {
  return (event) => appendFileSync(file, `${JSON.stringify({ ...event, memory: memoryNow() })}\n`, { mode: 0o600 });
}

/**
 * The process's memory when an event is written to the bench's file: resident MB now and its peak so
 * far (VmHWM, threads included), so the bench can say which step raised the peak. Linux only; {} elsewhere.
 */
function memoryNow(): { rssMB?: number; peakMB?: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const mb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024;
    return { rssMB: Math.round(mb('VmRSS') * 10) / 10, peakMB: Math.round(mb('VmHWM') * 10) / 10 };
  } catch {
    return {};
  }
}

/** What a step runner needs from the context. */
export interface StepContext {
  log: Log;
  events: StepEvents;
  clock: { now(): Date };
}

export interface FlowSteps {
  /** Runs the step with the seed's `letter`: `step('d', 'identity file in the public area', fn)`. */
  step<T>(letter: string, name: string, fn: () => Promise<T>): Promise<T>;
  /** Reports the step as skipped (it had nothing to do on this run), with the reason. */
  skip(letter: string, name: string, reason: string): void;
  /** A named, timed piece inside step `letter` (not re-labelled on failure). */
  part<T>(letter: string, name: string, fn: () => Promise<T>): Promise<T>;
}

export interface FlowStepOptions {
  /** added to a failed step's hint, e.g. "run sysback firstboot again to resume" */
  resumeHint?: string;
  /** false: a failure passes through as it was thrown (the backup run's errors keep their own words) */
  labelErrors?: boolean;
  /** put before the letter in the log's titles, e.g. "backup " (the backup run inside "new" step e) */
  titlePrefix?: string;
}

export function flowSteps(ctx: StepContext, flow: FlowName, options: FlowStepOptions = {}): FlowSteps {
  const timed = async <T>(letter: string, name: string, part: string | undefined, title: string, fn: () => Promise<T>): Promise<T> => {
    const start = ctx.clock.now();
    const started = performance.now();
    const event = (outcome: StepOutcome, error?: unknown): StepEvent => ({
      flow,
      step: letter,
      name,
      ...(part ? { part } : {}),
      start: start.toISOString(),
      end: new Date(start.getTime() + (performance.now() - started)).toISOString(),
      seconds: Math.round(performance.now() - started) / 1000,
      outcome,
      ...(error !== undefined ? { error: redact(error instanceof Error ? error.message : String(error)).split('\n')[0] } : {}),
    });
    try {
      const result = await ctx.log.step(title, fn);
      ctx.events.emit(event('ok'));
      return result;
    } catch (error) {
      ctx.events.emit(event('failed', error));
      throw error;
    }
  };
  return {
    async step(letter, name, fn) {
      const label = `${letter}) ${name}`;
      try {
        return await timed(letter, name, undefined, `${options.titlePrefix ?? ''}${label}`, fn);
      } catch (error) {
        if (error instanceof SysbackError && options.labelErrors !== false) {
          const hints = [error.hint, options.resumeHint].filter(Boolean).join('; ');
          throw new SysbackError(`step "${label}" failed: ${error.message}`, {
            ...(hints ? { hint: hints } : {}),
            exitCode: error.exitCode,
            cause: error,
          });
        }
        throw error;
      }
    },
    skip(letter, name, reason) {
      const now = ctx.clock.now().toISOString();
      ctx.log.info(`‣ ${options.titlePrefix ?? ''}${letter}) ${name}: skipped (${reason})`);
      ctx.events.emit({ flow, step: letter, name, start: now, end: now, seconds: 0, outcome: 'skipped' });
    },
    part(letter, name, fn) {
      return timed(letter, name, name, name, fn);
    },
  };
}
