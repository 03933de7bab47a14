// Owns progress for long transfers (uploads, downloads, extraction): bytes done, rate and time left.
// Contract: on a terminal one line is redrawn in place with "\r" (at most every `redrawMs`, padded so
// a shorter line leaves no debris, and no escape sequences, so it works on a serial console); on
// anything else (the journal, a pipe, a log file) plain lines are printed every `logEverySeconds` or
// every `logEveryPercent`, whichever comes first, plus one at the end. Output goes to stderr, never
// stdout. The formatting functions are pure.
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

/** Plain (non-terminal) mode: whether a new log line is due. */
export function plainLineDue(
  last: { seconds: number; percent: number | undefined },
  now: { seconds: number; percent: number | undefined },
  every: { seconds: number; percent: number },
): boolean {
  if (now.seconds - last.seconds >= every.seconds) return true;
  if (now.percent !== undefined && last.percent !== undefined && now.percent - last.percent >= every.percent) return true;
  return false;
}

export interface ProgressOptions {
  label: string;
  /** total bytes, if known */
  total?: number;
  /** default process.stderr; its isTTY picks the mode */
  output?: { write(text: string): unknown; isTTY?: boolean };
  /** milliseconds clock; default performance.now */
  now?: () => number;
  /** terminal mode: least time between redraws (default 250 ms) */
  redrawMs?: number;
  /** plain mode: a line at least this often (default 10 s) */
  logEverySeconds?: number;
  /** plain mode: a line at least every this many percent (default 25) */
  logEveryPercent?: number;
}

export interface Progress {
  /** sets the bytes done so far */
  update(bytes: number): void;
  /** adds to the bytes done */
  add(delta: number): void;
  /** the final line (or the end of the redrawn one) */
  done(): void;
  /** ends the redrawn line without a summary, for a failure */
  abort(): void;
  readonly bytes: number;
}

export function createProgress(options: ProgressOptions): Progress {
  const output = options.output ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const tty = output.isTTY === true;
  const redrawMs = options.redrawMs ?? 250;
  const every = { seconds: options.logEverySeconds ?? 10, percent: options.logEveryPercent ?? 25 };
  const started = now();
  let bytes = 0;
  let lastDraw = -Infinity;
  let drawnWidth = 0;
  let lastPlain = { seconds: 0, percent: percentOf(0, options.total) as number | undefined };
  let finished = false;

  const snapshot = (): ProgressSnapshot => ({
    label: options.label,
    bytes,
    total: options.total,
    elapsedSeconds: (now() - started) / 1000,
  });

  const redraw = (text: string) => {
    const pad = drawnWidth > text.length ? ' '.repeat(drawnWidth - text.length) : '';
    output.write(`\r${text}${pad}`);
    drawnWidth = text.length;
  };

  const tick = () => {
    if (finished) return;
    const t = now();
    const snap = snapshot();
    if (tty) {
      if (t - lastDraw < redrawMs) return;
      lastDraw = t;
      redraw(formatProgressLine(snap));
      return;
    }
    const current = { seconds: snap.elapsedSeconds, percent: percentOf(bytes, options.total) };
    if (plainLineDue(lastPlain, current, every)) {
      lastPlain = current;
      output.write(`${formatProgressLine(snap)}\n`);
    }
  };

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
      const line = formatProgressDone(snapshot());
      if (tty) {
        redraw(line);
        output.write('\n');
      } else {
        output.write(`${line}\n`);
      }
    },
    abort() {
      if (finished) return;
      finished = true;
      if (tty && drawnWidth > 0) output.write('\n');
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
