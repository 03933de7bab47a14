// A console prompter driven through plain streams (not a TTY), the way a pipe or a test feeds it:
// what is typed goes in at once, what it prints is captured.
import { PassThrough } from 'node:stream';
import { createConsolePrompter } from '../../core/prompter-console.ts';

/** An input and an output stream, with everything written to the output kept as text. */
export function streams() {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { input, output, text: () => text };
}

/** A console prompter fed `typed` (all at once), with its output captured. */
export function consoleWith(typed: string, end = false) {
  const s = streams();
  const prompter = createConsolePrompter({ input: s.input, output: s.output, signals: null });
  s.input.write(typed);
  if (end) s.input.end();
  return { prompter, ...s };
}
