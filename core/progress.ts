// Owns what a person sees while a long step runs (issue 10: every step that can take more than 5 s
// prints progress at least every 10 s), as plain lines that read well on a 115200-baud serial
// console, in the journal and in a log file: no "\r" redraws, no escape sequences.
//
// The API, for any step that waits or transfers:
//   - `createProgress({ label, total?, say? })` for bytes: call `update(bytesSoFar)` or `add(delta)`
//     as they come (or put `progressTap(progress)` in a stream pipeline), then `done()` (a closing
//     line with size, time and rate) or `abort()` (a failure: no closing line). It prints
//     `upload X   45%  12.0 MiB of 26.7 MiB  1.20 MiB/s  ETA 0:12` at least every `everySeconds`
//     (10) while the transfer runs (stalled or not) and at every `everyPercent` (25) step.
//   - `waitWithProgress(label, (report) => wait(...report(detail)...), { say? })` for a wait on
//     something else (Tor's bootstrap %, servers n of happy, a file to appear): it prints
//     `label: detail` when the detail changes and `label: detail (still waiting, 20 s)` at least
//     every `everySeconds` while the wait lasts; it returns (or throws) what the wait does.
// `say` receives one line without its newline (default: stderr; flows pass `ctx.log.info`, so lines
// are redacted and land where the log goes). Nothing ever goes to stdout. The timers are unref'd, so
// a reporter never keeps the process alive; `now` and `every` can be injected for tests. The
// formatting functions are pure.
import { Transform } from 'node:stream';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1536 -> "1.5 KiB"; three significant figures, binary units. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** bytes per second -> "2.50 MiB/s" */
export function formatRate(bytesPerSecond: number | undefined): string {
  if (bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) return '? B/s';
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** seconds -> "0:07", "12:05", "1:02:03"; undefined -> "?" */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Average rate since the start; undefined until some time has passed. */
export function rateOf(bytes: number, elapsedSeconds: number): number | undefined {
  if (elapsedSeconds <= 0) return undefined;
  return bytes / elapsedSeconds;
}

/** Seconds left at `rate`; undefined when the total or the rate is unknown. */
export function etaOf(bytes: number, total: number | undefined, rate: number | undefined): number | undefined {
  if (total === undefined || rate === undefined || rate <= 0) return undefined;
  return Math.max(0, (total - bytes) / rate);
}

export interface ProgressSnapshot {
  label: string;
  bytes: number;
  /** total size if known */
  total?: number;
  elapsedSeconds: number;
}

/** Whole percent done (0..100), or undefined when the total is unknown. */
export function percentOf(bytes: number, total: number | undefined): number | undefined {
  if (total === undefined) return undefined;
  if (total <= 0) return 100;
  return Math.min(100, Math.floor((bytes / total) * 100));
}

/**
 * One progress line, for example
 * `upload SysBackup.tar.gz  45%  12.0 MiB of 26.7 MiB  1.20 MiB/s  ETA 0:12`
 * (without a total: `download  3.00 MiB  1.50 MiB/s`).
 */
export function formatProgressLine(snap: ProgressSnapshot): string {
  const rate = rateOf(snap.bytes, snap.elapsedSeconds);
  const percent = percentOf(snap.bytes, snap.total);
  const parts = [snap.label];
  if (percent !== undefined) parts.push(`${String(percent).padStart(3)}%`);
  parts.push(snap.total !== undefined ? `${formatBytes(snap.bytes)} of ${formatBytes(snap.total)}` : formatBytes(snap.bytes));
  parts.push(formatRate(rate));
  if (snap.total !== undefined) parts.push(`ETA ${formatDuration(etaOf(snap.bytes, snap.total, rate))}`);
  return parts.join('  ');
}

/** The closing line: `upload SysBackup.tar.gz  26.7 MiB in 0:21 (1.27 MiB/s)` */
export function formatProgressDone(snap: ProgressSnapshot): string {
  return `${snap.label}  ${formatBytes(snap.bytes)} in ${formatDuration(snap.elapsedSeconds)} (${formatRate(rateOf(snap.bytes, snap.elapsedSeconds))})`;
}

/** Whether a new line is due: `every.seconds` since the last one, or `every.percent` more done. */
export function lineDue(
  last: { seconds: number; percent: number | undefined },
  now: { seconds: number; percent: number | undefined },
  every: { seconds: number; percent: number },
): boolean {
  if (now.seconds - last.seconds >= every.seconds) return true;
  if (now.percent !== undefined && last.percent !== undefined && now.percent - last.percent >= every.percent) return true;
  return false;
}

/** Where a line for the person goes (without its newline). */
export type Say = (line: string) => void;

/** Calls `fn` every `ms` until the returned function is called; the default never keeps node alive. */
export type Every = (ms: number, fn: () => void) => () => void;

const sayOnStderr: Say = (line) => {
  process.stderr.write(`${line}\n`);
};

/** How often the heartbeat looks whether a line is due; a line is due `HEARTBEAT_MS` early, so the gap between two lines never exceeds `everySeconds`. */
export const HEARTBEAT_MS = 500;

const realEvery: Every = (ms, fn) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

export interface ReporterOptions {
  /** default: a line on stderr */
  say?: Say;
  /** a line at least this often while the step runs (default 10 s) */
  everySeconds?: number;
  /** milliseconds clock; default performance.now */
  now?: () => number;
  /** the heartbeat timer; default an unref'd setInterval */
  every?: Every;
}

export interface ProgressOptions extends ReporterOptions {
  label: string;
  /** total bytes, if known */
  total?: number;
  /** a line at least every this many percent (default 25) */
  everyPercent?: number;
}

export interface Progress {
  /** sets the bytes done so far */
  update(bytes: number): void;
  /** adds to the bytes done */
  add(delta: number): void;
  /** the closing line: size, time, rate */
  done(): void;
  /** stops reporting without a closing line (a failure says why elsewhere) */
  abort(): void;
  readonly bytes: number;
}

/** Progress of a transfer of bytes (see the head comment). */
export function createProgress(options: ProgressOptions): Progress {
  const say = options.say ?? sayOnStderr;
  const now = options.now ?? (() => performance.now());
  const everySeconds = options.everySeconds ?? 10;
  const every = { seconds: everySeconds - HEARTBEAT_MS / 1000, percent: options.everyPercent ?? 25 };
  const started = now();
  let bytes = 0;
  let last = { seconds: 0, percent: percentOf(0, options.total) as number | undefined };
  let finished = false;

  const snapshot = (): ProgressSnapshot => ({
    label: options.label,
    bytes,
    total: options.total,
    elapsedSeconds: (now() - started) / 1000,
  });

  const tick = () => {
    if (finished) return;
    const snap = snapshot();
    const current = { seconds: snap.elapsedSeconds, percent: percentOf(bytes, options.total) };
    if (lineDue(last, current, every)) {
      last = current;
      say(formatProgressLine(snap));
    }
  };
  const stop = (options.every ?? realEvery)(HEARTBEAT_MS, tick);

  return {
    get bytes() {
      return bytes;
    },
    update(value) {
      bytes = value;
      tick();
    },
    add(delta) {
      bytes += delta;
      tick();
    },
    done() {
      if (finished) return;
      finished = true;
      stop();
      say(formatProgressDone(snapshot()));
    },
    abort() {
      if (finished) return;
      finished = true;
      stop();
    },
  };
}

/** A pass-through stream that counts the bytes flowing through it into `progress`. */
export function progressTap(progress: Progress): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      progress.add(chunk.length);
      callback(null, chunk);
    },
  });
}

/** `label: detail`, and while it lasts `label: detail (still waiting, 20 s)` (pure). */
export function formatWaitLine(label: string, detail: string | undefined, elapsedSeconds?: number): string {
  const text = detail === undefined || detail === '' ? label : `${label}: ${detail}`;
  return elapsedSeconds === undefined ? text : `${text} (still waiting, ${Math.round(elapsedSeconds)} s)`;
}

/**
 * Runs `wait`, reporting what it waits for (see the head comment). `wait` calls `report(detail)`
 * whenever it learns something ("3 of 7", "45 %"); a line is printed when the detail changes, and a
 * heartbeat line at least every `everySeconds` while nothing changes.
 */
export async function waitWithProgress<T>(
  label: string,
  wait: (report: (detail: string) => void) => Promise<T>,
  options: ReporterOptions = {},
): Promise<T> {
  const say = options.say ?? sayOnStderr;
  const now = options.now ?? (() => performance.now());
  const everyMs = (options.everySeconds ?? 10) * 1000;
  const started = now();
  let detail: string | undefined;
  let lastLine = started;
  let finished = false;
  const report = (next: string) => {
    if (finished || next === detail) return;
    detail = next;
    lastLine = now();
    say(formatWaitLine(label, detail));
  };
  const stop = (options.every ?? realEvery)(HEARTBEAT_MS, () => {
    const t = now();
    if (finished || t - lastLine < everyMs - HEARTBEAT_MS) return;
    lastLine = t;
    say(formatWaitLine(label, detail, (t - started) / 1000));
  });
  try {
    return await wait(report);
  } finally {
    finished = true;
    stop();
  }
}
