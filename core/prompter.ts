// Owns talking to the person at the console: the questions of the first boot and of the flows.
// Contract:
// - one `Prompter` interface, two implementations: the console (a TTY or any stream pair: plain lines
//   that work on a 115200-baud serial line, secrets never echoed) and the scripted one, fed from an
//   answers file: the product's headless path, which runs exactly the same validation and retries;
// - questions are given bare ("Alias"); the prompter adds ": ", " [a/b]: " or " [y/n]: ";
// - every refused answer prints a one-line reason; after `attempts` refusals (3 by default) the
//   operation throws `TooManyAttemptsError` (or the caller's own error, `onExhausted`);
// - Ctrl-C at any prompt throws InterruptedError with the terminal restored; a scripted question the
//   answers do not cover throws a UserError naming the missing key;
// - prompts and messages go to the output (stderr, the console), never stdout.
import type { EventEmitter } from 'node:events';
import { EXIT, SysbackError, UserError } from './errors.ts';
import { ConsoleInput, type ConsoleReadable, type ConsoleWritable } from './prompter-input.ts';
import { type PickState, pickStep, renderPickList } from './prompter-pick.ts';

/** Why an answer is refused, or undefined to accept it. */
export type Validator = (answer: string) => string | undefined | Promise<string | undefined>;

export interface AskOptions {
  /** names the answer in an answers file (`alias`, `password`, ...); the scripted prompter looks it up */
  key?: string;
  /** tries before giving up; 3 unless said otherwise */
  attempts?: number;
  /** returns the reason an answer is refused, or undefined */
  validate?: Validator;
  /** the error to throw when the attempts run out (default: TooManyAttemptsError) */
  onExhausted?: (lastReason: string) => Error;
}

export interface LineOptions extends AskOptions {
  /** the answer when the person just presses Enter; shown as `[default]` */
  default?: string;
}

export interface ChoiceOption<T extends string> {
  value: T;
  /** other accepted spellings, for example `n` for `new` (matched case-insensitively) */
  aliases?: readonly string[];
}

export interface ChoiceOptions<T extends string> extends Omit<AskOptions, 'validate'> {
  default?: T;
}

export interface ConfirmOptions extends Omit<AskOptions, 'validate'> {
  default?: boolean;
}

export interface PickOptions extends AskOptions {
  /** matches numbered on screen at most (15 by default, a 24-line terminal keeps the prompt visible) */
  pageSize?: number;
  /** free text taken as it is instead of a name (for example a recovery card's read cap) */
  accept?: (typed: string) => boolean;
}

export interface Prompter {
  /** `console` talks to a person; `scripted` answers from an answers file */
  readonly kind: 'console' | 'scripted';
  /** true when a person can type the answers (the console input is a terminal) */
  readonly interactive: boolean;
  /** One line of text, trimmed. Empty is refused unless there is a default. */
  line(question: string, options?: LineOptions): Promise<string>;
  /** A password: not echoed on a terminal, not trimmed, not empty. */
  secret(question: string, options?: AskOptions): Promise<string>;
  /** One of a few fixed words: `Question [a/b]: ` */
  choice<T extends string>(question: string, options: readonly (T | ChoiceOption<T>)[], ask?: ChoiceOptions<T>): Promise<T>;
  /** yes or no: `Question [y/n]: ` */
  confirm(question: string, options?: ConfirmOptions): Promise<boolean>;
  /** One name among many, through the type-ahead filter (see prompter-pick.ts). */
  pick(question: string, items: readonly string[], options?: PickOptions): Promise<string>;
  /** Prints a line for the person (a heading, the recovery card, a notice). */
  say(text: string): void;
}

/** The person (or the answers file) gave no acceptable answer in the attempts allowed. */
export class TooManyAttemptsError extends SysbackError {
  readonly question: string;
  readonly lastReason: string;
  constructor(question: string, attempts: number, lastReason: string) {
    super(`no acceptable answer to "${question}" after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}: ${lastReason}`, {
      hint: 'nothing was changed; run the command again',
      exitCode: EXIT.usage,
    });
    this.question = question;
    this.lastReason = lastReason;
  }
}

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_PAGE_SIZE = 15;
/** how many list refinements one pick allows in all, so even a wandering session ends */
const MAX_PICK_ROUNDS = 100;

/** Where answers come from: a console, or a script of answers. */
export interface AnswerSource {
  readonly kind: 'console' | 'scripted';
  readonly interactive: boolean;
  /** writes `prompt` and returns the answer for it */
  read(prompt: string, request: { key?: string; secret: boolean; question: string }): Promise<string>;
  /** whether asking `key` again can give another answer (false: a refusal is final) */
  canRetry(key: string | undefined): boolean;
  write(text: string): void;
}

function normalizeOptions<T extends string>(options: readonly (T | ChoiceOption<T>)[]): ChoiceOption<T>[] {
  return options.map((o) => (typeof o === 'string' ? { value: o } : o));
}

/** Builds the prompter operations over any answer source. */
export function createPrompter(source: AnswerSource): Prompter {
  /**
   * The retry loop every operation shares: read, judge, print the reason, try again, give up.
   * `judge` returns the accepted value or a reason string wrapped in {reason}.
   */
  async function ask<T>(
    question: string,
    prompt: string,
    options: AskOptions,
    secret: boolean,
    judge: (answer: string) => Promise<{ value: T } | { reason: string }>,
  ): Promise<T> {
    const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
    let lastReason = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const answer = await source.read(prompt, { key: options.key, secret, question });
      const verdict = await judge(answer);
      if ('value' in verdict) return verdict.value;
      lastReason = verdict.reason;
      const left = attempts - attempt;
      const final = left === 0 || !source.canRetry(options.key);
      source.write(`  ${verdict.reason}${final ? '' : ` (${left} ${left === 1 ? 'try' : 'tries'} left)`}\n`);
      if (final) break;
    }
    throw options.onExhausted?.(lastReason) ?? new TooManyAttemptsError(question, attempts, lastReason);
  }

  async function validated(options: AskOptions, answer: string): Promise<{ value: string } | { reason: string }> {
    const reason = options.validate ? await options.validate(answer) : undefined;
    return reason === undefined ? { value: answer } : { reason };
  }

  return {
    kind: source.kind,
    interactive: source.interactive,

    line(question, options = {}) {
      const prompt = options.default !== undefined ? `${question} [${options.default}]: ` : `${question}: `;
      return ask(question, prompt, options, false, async (typed) => {
        const answer = typed.trim();
        if (answer === '') {
          if (options.default !== undefined) return validated(options, options.default);
          return { reason: 'an answer is needed' };
        }
        return validated(options, answer);
      });
    },

    secret(question, options = {}) {
      return ask(question, `${question}: `, options, true, async (typed) => {
        if (typed === '') return { reason: 'nothing was typed' };
        return validated(options, typed);
      });
    },

    choice<T extends string>(question: string, choices: readonly (T | ChoiceOption<T>)[], options: ChoiceOptions<T> = {}) {
      const list = normalizeOptions(choices);
      if (list.length === 0) throw new Error('choice: no options');
      const words = list.map((o) => o.value).join('/');
      const prompt = options.default !== undefined ? `${question} [${words}] (${options.default}): ` : `${question} [${words}]: `;
      const fallback = options.default;
      return ask<T>(question, prompt, options, false, async (typed) => {
        const answer = typed.trim().toLowerCase();
        if (answer === '' && fallback !== undefined) return { value: fallback };
        const found = list.find((o) => o.value.toLowerCase() === answer || (o.aliases ?? []).some((a) => a.toLowerCase() === answer));
        if (found) return { value: found.value };
        const accepted = list.map((o) => [o.value, ...(o.aliases ?? [])].join(' or ')).join(', or ');
        return { reason: answer === '' ? `please type ${accepted}` : `"${typed.trim()}" is not an answer here; please type ${accepted}` };
      });
    },

    confirm(question, options = {}) {
      const hint = options.default === undefined ? 'y/n' : options.default ? 'Y/n' : 'y/N';
      const fallback = options.default;
      return ask<boolean>(question, `${question} [${hint}]: `, options, false, async (typed) => {
        const answer = typed.trim().toLowerCase();
        if (answer === '' && fallback !== undefined) return { value: fallback };
        if (answer === 'y' || answer === 'yes' || answer === 'true') return { value: true };
        if (answer === 'n' || answer === 'no' || answer === 'false') return { value: false };
        return { reason: answer === '' ? 'please type y or n' : `"${typed.trim()}" is not yes or no; please type y or n` };
      });
    },

    async pick(question, items, options = {}) {
      const pageSize = Math.max(1, options.pageSize ?? DEFAULT_PAGE_SIZE);
      const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
      const rules = { pageSize, accept: options.accept };
      let state: PickState = { shown: undefined };
      let failures = 0;
      let lastReason = '';
      let prompt: string;
      if (items.length > 0 && items.length <= pageSize && source.kind === 'console') {
        const first = pickStep(items, state, '', rules);
        if (first.kind === 'list') {
          for (const line of renderPickList(first, items.length)) source.write(`${line}\n`);
          state = { shown: first.shown };
        }
        prompt = `${question} (number or name): `;
      } else {
        if (source.kind === 'console') {
          source.write(`  ${items.length} ${items.length === 1 ? 'name' : 'names'}; type part of one to narrow the list\n`);
        }
        prompt = `${question}: `;
      }
      for (let round = 0; round < MAX_PICK_ROUNDS; round += 1) {
        const typed = await source.read(prompt, { key: options.key, secret: false, question });
        let step = pickStep(items, state, typed, rules);
        if (step.kind === 'list' && !source.canRetry(options.key)) {
          // an answers file cannot look at a list and choose: an inexact name is a refusal
          step = { kind: 'refused', reason: `"${typed.trim()}" is not one of the ${items.length} names` };
        }
        if (step.kind === 'chosen') {
          const reason = options.validate ? await options.validate(step.value) : undefined;
          if (reason === undefined) return step.value;
          step = { kind: 'refused', reason };
        }
        if (step.kind === 'list') {
          for (const line of renderPickList(step, items.length)) source.write(`${line}\n`);
          state = { shown: step.shown };
          prompt = step.shown.length === 1 ? 'Press Enter to choose it, or type other letters: ' : 'Number, or more letters: ';
          continue;
        }
        failures += 1;
        lastReason = step.reason;
        const left = attempts - failures;
        const final = left === 0 || !source.canRetry(options.key);
        source.write(`  ${step.reason}${final ? '' : ` (${left} ${left === 1 ? 'try' : 'tries'} left)`}\n`);
        if (final) break;
      }
      if (failures < attempts && lastReason === '') lastReason = 'no name was chosen';
      throw options.onExhausted?.(lastReason) ?? new TooManyAttemptsError(question, attempts, lastReason);
    },

    say(text) {
      source.write(`${text}\n`);
    },
  };
}

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

export interface NewPasswordOptions {
  /** the strength rule: returns why a password is refused */
  validate?: Validator;
  attempts?: number;
  onExhausted?: (lastReason: string) => Error;
  /** questions, if the defaults do not fit */
  question?: string;
  again?: string;
}

/**
 * Asks a new password twice (keys `password` and `passwordConfirm`) until both agree and it passes
 * `validate`; a mismatch or a weak password is a refused attempt with its reason.
 */
export async function askNewPassword(prompter: Prompter, options: NewPasswordOptions = {}): Promise<string> {
  const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
  const question = options.question ?? 'Password';
  let lastReason = '';
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const first = await prompter.secret(question, {
      key: 'password',
      attempts: 1,
      validate: options.validate,
      onExhausted: (reason) => new RetryRound(reason),
    }).catch((error: unknown) => {
      if (error instanceof RetryRound) return error;
      throw error;
    });
    if (first instanceof RetryRound) {
      lastReason = first.reason;
      if (prompter.kind === 'scripted') break;
      continue;
    }
    const second = await prompter.secret(options.again ?? `${question} again`, { key: 'passwordConfirm', attempts: 1 });
    if (second === first) return first;
    lastReason = 'the two passwords differ';
    prompter.say(`  ${lastReason}`);
    if (prompter.kind === 'scripted') break;
  }
  throw options.onExhausted?.(lastReason) ?? new TooManyAttemptsError(question, attempts, lastReason);
}

/** Internal: ends one round of askNewPassword without giving up the whole question. */
class RetryRound extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}
