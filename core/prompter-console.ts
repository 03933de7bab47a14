// Owns the prompter on a real console (or any stream pair): the person types on a VGA or serial
// console, over SSH, or through a pipe; reading a line (raw mode for secrets, Ctrl-C) is
// prompter-input.ts, the questions and retries are the engine's (prompter-engine.ts).
import type { EventEmitter } from 'node:events';
import type { Prompter } from './prompter.ts';
import { createPrompter } from './prompter-engine.ts';
import { ConsoleInput, type ConsoleReadable, type ConsoleWritable } from './prompter-input.ts';

export interface ConsolePrompterOptions {
  /** default: process.stdin (on the device, /dev/console through the unit's StandardInput=tty) */
  input?: ConsoleReadable;
  /** default: process.stderr */
  output?: ConsoleWritable;
  /** where SIGINT arrives; default `process`, `null` to not listen */
  signals?: EventEmitter | null;
}

/** The prompter on a real console (or any stream pair). */
export function createConsolePrompter(options: ConsolePrompterOptions = {}): Prompter {
  const terminal = new ConsoleInput({
    input: options.input ?? process.stdin,
    output: options.output ?? process.stderr,
    signals: options.signals,
  });
  return createPrompter({
    kind: 'console',
    interactive: terminal.isTTY,
    read: (prompt, request) => terminal.ask(prompt, { secret: request.secret }),
    canRetry: () => true,
    write: (text) => {
      terminal.output.write(text);
    },
  });
}
