// Owns what talking to the person at the console means: the `Prompter` interface every question of
// the first boot and of the flows goes through, its options, and the error for answers that run out.
// Contract:
// - two implementations: the console (prompter-console.ts: a TTY or any stream pair, plain lines that
//   work on a 115200-baud serial line, secrets never echoed) and the scripted one (prompter-scripted.ts,
//   fed from an answers file: the product's headless path), both built on the one retry engine
//   (prompter-engine.ts), so they run exactly the same validation and retries; the new-password
//   dialogue (asked twice) is prompter-new-password.ts;
// - questions are given bare ("Alias"); the prompter adds ": ", " [a/b]: " or " [y/n]: ";
// - every refused answer prints a one-line reason; after `attempts` refusals (3 by default) the
//   operation throws `TooManyAttemptsError` (or the caller's own error, `onExhausted`);
// - Ctrl-C at any prompt throws InterruptedError with the terminal restored; a scripted question the
//   answers do not cover throws a UserError naming the missing key;
// - prompts and messages go to the output (stderr, the console), never stdout.
import { EXIT, SysbackError } from './errors.ts';

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
