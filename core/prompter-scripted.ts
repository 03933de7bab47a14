// Owns the headless prompter: every question names its `key` and is answered from an answers file
// (or a test's table). A list of answers is tried in order, so a refusal followed by a good answer can
// be scripted; a key with no answer left is final (no retry), and a question without a key or an
// answer throws a UserError naming what to add. The transcript (secrets hidden) goes to the output.
import { UserError } from './errors.ts';
import type { Prompter } from './prompter.ts';
import { createPrompter } from './prompter-engine.ts';

/** One answer, or several tried in order (a list lets a test give a wrong answer, then a right one). */
export type ScriptedValue = string | number | boolean;
export type ScriptedAnswers = Readonly<Record<string, ScriptedValue | readonly ScriptedValue[] | undefined>>;

export interface ScriptedPrompterOptions {
  /** where the transcript goes (the journal on a headless boot); default process.stderr */
  output?: { write(text: string): unknown };
  /** named in errors: "the answers file /etc/sysback/answers.json" */
  origin?: string;
}

function scriptedText(value: ScriptedValue): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

/**
 * The headless prompter: every question names its `key`, answered from `answers`. It prints a
 * transcript (questions and answers, secrets hidden) so the journal shows what the boot did.
 */
export function createScriptedPrompter(answers: ScriptedAnswers, options: ScriptedPrompterOptions = {}): Prompter {
  const output = options.output ?? process.stderr;
  const origin = options.origin ?? 'the answers file';
  const used = new Map<string, number>();
  const remaining = (key: string): number => {
    const value = answers[key];
    if (value === undefined) return 0;
    const total = Array.isArray(value) ? value.length : 1;
    return total - (used.get(key) ?? 0);
  };
  return createPrompter({
    kind: 'scripted',
    interactive: false,
    async read(prompt, request) {
      output.write(prompt);
      const key = request.key;
      const value = key === undefined ? undefined : answers[key];
      if (key === undefined || value === undefined) {
        output.write('(no answer)\n');
        throw new UserError(
          `${origin} has no answer to "${request.question}"`,
          key === undefined ? 'this question needs a person at the console' : `add "${key}" to ${origin}`,
        );
      }
      const count = used.get(key) ?? 0;
      let answer: ScriptedValue;
      if (Array.isArray(value)) {
        const list = value as readonly ScriptedValue[];
        if (count >= list.length) {
          output.write('(no answer left)\n');
          throw new UserError(`${origin} has no answer left for "${key}" (${list.length} given)`, `check "${key}" in ${origin}`);
        }
        answer = list[count]!;
      } else {
        answer = value as ScriptedValue;
      }
      used.set(key, count + 1);
      const text = scriptedText(answer);
      output.write(`${request.secret ? '(hidden)' : text}\n`);
      return text;
    },
    canRetry: (key) => key !== undefined && remaining(key) > 0,
    write: (text) => {
      output.write(text);
    },
  });
}
