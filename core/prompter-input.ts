// Owns reading one answer from a console stream: a line typed by a person on a VGA or 115200-baud serial
// console, over SSH, or piped in. Contract:
// - a line ends at "\r", "\n" or "\r\n" (a bare "\r" is what Enter sends in raw mode);
// - secrets on a TTY are read in raw mode with nothing printed for typed characters; backspace (DEL or
//   BS) and Ctrl-U edit, escape sequences (arrow keys) are ignored, and the terminal mode is restored
//   on every way out (answer, Ctrl-C, end of input, error);
// - Ctrl-C, as ETX in the data (raw mode, or a pipe) or as SIGINT (a TTY in cooked mode), rejects with
//   InterruptedError; end of input with nothing typed does too (the console went away);
// - whatever was typed ahead stays buffered for the next question, and the stream is paused between
//   questions so it never keeps the process alive.
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { InterruptedError } from './errors.ts';

/** The input side of a console: process.stdin, a tty.ReadStream, or any Readable (tests, pipes). */
export type ConsoleReadable = Readable & { isTTY?: boolean; isRaw?: boolean; setRawMode?: (mode: boolean) => unknown };
/** The output side: process.stderr, a tty.WriteStream, or any Writable. */
export type ConsoleWritable = Writable & { isTTY?: boolean; columns?: number };

export interface ConsoleInputOptions {
  input: ConsoleReadable;
  output: ConsoleWritable;
  /** where SIGINT arrives; `process` by default, `null` to not listen */
  signals?: EventEmitter | null;
}

const ETX = '\x03';
const EOT = '\x04';
const BS = '\b';
const DEL = '\x7f';
const NAK = '\x15';
const ESC = '\x1b';

/** What the line editor makes of the characters received so far. */
export type EditResult =
  | { kind: 'line'; text: string; consumed: number }
  | { kind: 'interrupt'; consumed: number }
  | { kind: 'eof'; consumed: number }
  | { kind: 'more' };

/**
 * Pure line editor: scans `data` from the start and returns the first complete outcome. `atEnd` says
 * no more data will come (end of input), so a partial last line is returned as it is.
 */
export function editLine(data: string, atEnd: boolean): EditResult {
  const chars: string[] = [];
  let i = 0;
  while (i < data.length) {
    const c = data[i]!;
    if (c === '\r' || c === '\n') return { kind: 'line', text: chars.join(''), consumed: i + 1 };
    if (c === ETX) return { kind: 'interrupt', consumed: i + 1 };
    if (c === EOT) {
      if (chars.length === 0) return { kind: 'eof', consumed: i + 1 };
      i += 1;
      continue;
    }
    if (c === DEL || c === BS) {
      chars.pop();
      i += 1;
      continue;
    }
    if (c === NAK) {
      chars.length = 0;
      i += 1;
      continue;
    }
    if (c === ESC) {
      // CSI (ESC [ ... final) or SS3 (ESC O x): arrow and function keys; skip the whole sequence
      const next = data[i + 1];
      if (next === undefined) {
        if (atEnd) return { kind: 'line', text: chars.join(''), consumed: data.length };
        return { kind: 'more' };
      }
      if (next === '[' || next === 'O') {
        let j = i + 2;
        while (j < data.length && !(data.charCodeAt(j) >= 0x40 && data.charCodeAt(j) <= 0x7e)) j += 1;
        if (j >= data.length) {
          if (atEnd) return { kind: 'line', text: chars.join(''), consumed: data.length };
          return { kind: 'more' };
        }
        i = j + 1;
      } else {
        i += 2;
      }
      continue;
    }
    if (c < ' ') {
      i += 1;
      continue;
    }
    // keep surrogate pairs whole so backspace removes one character, not half of one
    const code = data.codePointAt(i)!;
    const ch = String.fromCodePoint(code);
    chars.push(ch);
    i += ch.length;
  }
  if (atEnd) {
    return chars.length === 0 && data.length === 0
      ? { kind: 'eof', consumed: 0 }
      : { kind: 'line', text: chars.join(''), consumed: data.length };
  }
  return { kind: 'more' };
}

/** Reads answers from a console stream, one question at a time. */
export class ConsoleInput {
  readonly input: ConsoleReadable;
  readonly output: ConsoleWritable;
  private readonly signals: EventEmitter | null;
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private ended = false;
  private skipLineFeed = false;
  private busy = false;

  constructor(options: ConsoleInputOptions) {
    this.input = options.input;
    this.output = options.output;
    this.signals = options.signals === undefined ? process : options.signals;
  }

  /** True when a person can type here: the input is a terminal. */
  get isTTY(): boolean {
    return this.input.isTTY === true;
  }

  /**
   * Writes `prompt` and reads one line. Raw mode (`secret` on a TTY) and the Ctrl-C handlers are in
   * place before the prompt is written, so nothing typed after the prompt appears is ever echoed or
   * lost to the default SIGINT action; the mode is restored on every way out.
   */
  async ask(prompt: string, options: { secret: boolean }): Promise<string> {
    if (this.busy) throw new Error('ConsoleInput: one question at a time');
    this.busy = true;
    const raw = options.secret && this.isTTY && typeof this.input.setRawMode === 'function';
    const wasRaw = this.input.isRaw === true;
    try {
      if (raw) this.input.setRawMode!(true);
      else if (this.isTTY && wasRaw) this.input.setRawMode?.(false);
      // A "\n" pending as the second half of a raw-mode "\r\n" can only come from a raw read. In
      // cooked mode the terminal turns Enter into "\n" (ICRNL): that is a real answer, never skipped,
      // so Enter right after a password prompt takes the default instead of vanishing.
      if (this.isTTY && !raw && this.buffer.length === 0) this.skipLineFeed = false;
      // listen (data, end, SIGINT) first, then show the prompt: a Ctrl-C typed the instant the
      // prompt appears must find the handler in place, or the default action would kill us
      const pending = this.readLine();
      this.output.write(prompt);
      let answer: string;
      try {
        answer = await pending;
      } catch (error) {
        if (error instanceof PromptEnd) {
          // the terminal echoes ^C itself in cooked mode; in raw mode nothing did
          this.output.write(error.ctrlC && raw ? '^C\n' : '\n');
          throw error.toError();
        }
        throw error;
      }
      // Enter was not echoed in raw mode: move to the next line ourselves
      if (options.secret && this.isTTY) this.output.write('\n');
      return answer;
    } finally {
      if (this.isTTY && typeof this.input.setRawMode === 'function' && (this.input.isRaw === true) !== wasRaw) {
        this.input.setRawMode(wasRaw);
      }
      this.busy = false;
    }
  }

  private consume(count: number): void {
    this.buffer = this.buffer.slice(count);
  }

  /** Tries to make an answer from the buffer; undefined when more data is needed. */
  private take(): { answer: string } | { error: PromptEnd } | undefined {
    if (this.skipLineFeed && this.buffer.length > 0) {
      if (this.buffer[0] === '\n') this.consume(1);
      this.skipLineFeed = false;
    }
    const result = editLine(this.buffer, this.ended);
    if (result.kind === 'more') return undefined;
    const terminator = this.buffer[result.consumed - 1];
    this.consume(result.consumed);
    if (result.kind === 'line') {
      if (terminator === '\r') {
        if (this.buffer.length > 0) {
          if (this.buffer[0] === '\n') this.consume(1);
        } else {
          this.skipLineFeed = true;
        }
      }
      return { answer: result.text };
    }
    if (result.kind === 'interrupt') return { error: new PromptEnd(true) };
    return { error: new PromptEnd(false) };
  }

  private readLine(): Promise<string> {
    const ready = this.take();
    if (ready) return 'answer' in ready ? Promise.resolve(ready.answer) : Promise.reject(ready.error);
    return new Promise<string>((resolve, reject) => {
      const input = this.input;
      const cleanup = () => {
        input.off('data', onData);
        input.off('end', onEnd);
        input.off('close', onEnd);
        input.off('error', onError);
        this.signals?.off('SIGINT', onSignal);
        input.pause();
      };
      const settle = () => {
        const got = this.take();
        if (!got) return;
        cleanup();
        if ('answer' in got) resolve(got.answer);
        else reject(got.error);
      };
      const onData = (chunk: Buffer | string) => {
        this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
        settle();
      };
      const onEnd = () => {
        if (this.ended) return;
        this.ended = true;
        this.buffer += this.decoder.end();
        settle();
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onSignal = () => {
        cleanup();
        reject(new PromptEnd(true));
      };
      input.on('data', onData);
      input.on('end', onEnd);
      input.on('close', onEnd);
      input.on('error', onError);
      this.signals?.on('SIGINT', onSignal);
      if (input.readableEnded) onEnd();
      else input.resume();
    });
  }
}

/** Internal: the read ended without an answer (Ctrl-C, or the end of input). */
class PromptEnd extends Error {
  readonly ctrlC: boolean;
  constructor(ctrlC: boolean) {
    super(ctrlC ? 'interrupted' : 'end of input');
    this.ctrlC = ctrlC;
  }
  toError(): InterruptedError {
    return this.ctrlC
      ? new InterruptedError('interrupted at the prompt (Ctrl-C)')
      : new InterruptedError('the console closed before an answer was given');
  }
}
