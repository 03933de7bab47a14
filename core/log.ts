// Owns the human-facing log: stderr only (stdout is data), redacted, with timed steps in the style of
// mkosi ("‣ title" ... "‣ title done in 1.2 s"). The device log lines are plain text so they read well
// on a serial console and in the journal.
import { redact } from './redact.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Log {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Runs `fn` under a logged, timed title. */
  step<T>(title: string, fn: () => Promise<T>): Promise<T>;
}

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLog(options: { level?: Level; write?: (line: string) => void; now?: () => number } = {}): Log {
  const threshold = ORDER[options.level ?? (process.env.SYSBACK_DEBUG ? 'debug' : 'info')];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => performance.now());
  const emit = (level: Level, message: string) => {
    if (ORDER[level] < threshold) return;
    const prefix = level === 'info' ? '' : `${level}: `;
    write(`${prefix}${redact(message)}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    async step(title, fn) {
      const started = now();
      emit('info', `‣ ${title}`);
      const result = await fn();
      emit('debug', `‣ ${title}: done in ${((now() - started) / 1000).toFixed(1)} s`);
      return result;
    },
  };
}

/** A log that remembers its lines; for tests and for capturing a flow's output. */
export function createMemoryLog(level: Level = 'debug'): Log & { lines: string[] } {
  const lines: string[] = [];
  const log = createLog({ level, write: (line) => lines.push(line.replace(/\n$/, '')) });
  return Object.assign(log, { lines });
}
