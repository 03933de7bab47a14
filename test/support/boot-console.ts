// Test support (not a test): drives a booted image's console the way a person would. The console is a
// byte stream (a pty bridged by `script`, or qemu's serial socket); `waitFor` scans it from a cursor
// with ANSI escapes and carriage returns stripped, `send` types a line. The full transcript is kept
// for failure reports.
import { setTimeout as sleep } from 'node:timers/promises';
import { DIR_READ_CAP_PATTERN } from '../../core/config/answers.ts';

// CSI with any parameter bytes (0x30-0x3F: OVMF's `ESC[=3h` too), OSC up to BEL or ST (systemd's
// TTYReset palette reset `ESC]104 BEL`, invisible on a terminal), charset and short escapes, CR
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[()][0-9A-Za-z]|\u001b[=>78c]|\r/g;

/**
 * A recovery card's read cap on the console, whole: its two parts have fixed lengths (core/config/
 * answers.ts DIR_READ_CAP_PATTERN). A console delivers a line in pieces (qemu's serial line a few
 * bytes at a time), and an open-ended pattern matches a cap cut at a piece's end: the --qemu --tcp
 * e2e run of 7 December gave its third router such a cut cap ("nothing is published there").
 */
export const CARD_CAP = new RegExp(DIR_READ_CAP_PATTERN.source.replace(/^\^|\$$/g, ''));

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export class ConsoleTimeout extends Error {}

export class BootConsole {
  private raw = '';
  private cursor = 0;
  private waiters: (() => void)[] = [];
  readonly started = performance.now();

  constructor(private readonly write: (text: string) => void) {}

  /** feed bytes read from the console */
  push(chunk: Buffer | string): void {
    this.raw += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    for (const wake of this.waiters.splice(0)) wake();
  }

  get text(): string {
    return stripAnsi(this.raw);
  }

  /** seconds since the console was opened */
  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Waits until `pattern` appears after the cursor; returns the text before it and the match; advances. */
  async waitFor(pattern: RegExp, timeoutMs: number, failOn?: RegExp): Promise<{ before: string; match: RegExpExecArray }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.text.slice(this.cursor);
      const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
      if (match) {
        const before = rest.slice(0, match.index);
        this.cursor += match.index + match[0].length;
        return { before, match };
      }
      if (failOn?.test(rest)) throw new ConsoleTimeout(`console showed ${failOn} while waiting for ${pattern}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new ConsoleTimeout(`no ${pattern} on the console within ${timeoutMs} ms; last output:\n${rest.slice(-1500)}`);
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(Math.min(left, 1000))]);
    }
  }

  /** Waits until `pattern` appears anywhere in the transcript (lines from the journal may come out of order). */
  async waitForAnywhere(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new ConsoleTimeout(`no ${pattern} on the console within ${timeoutMs} ms; last output:\n${this.text.slice(-1500)}`);
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(Math.min(left, 1000))]);
    }
  }

  /** Everything after the cursor that arrives within `ms` (used to prove something does NOT appear). */
  async quietFor(ms: number): Promise<string> {
    await sleep(ms);
    return this.text.slice(this.cursor);
  }

  sendLine(line: string, eol = '\r'): void {
    this.write(`${line}${eol}`);
  }
}
