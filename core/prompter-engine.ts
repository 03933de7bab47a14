// Owns the retry engine behind every Prompter (core/prompter.ts): one loop that reads an answer from
// an `AnswerSource`, judges it, prints the one-line reason of a refusal with the tries left, and gives
// up with TooManyAttemptsError (or the caller's `onExhausted`). The console and the scripted prompter
// are answer sources; the question formats (`line`, `secret`, `choice`, `confirm`, `pick`) live here
// once, so both kinds run exactly the same validation.
import { DEFAULT_ATTEMPTS, DEFAULT_PAGE_SIZE, TooManyAttemptsError, type AskOptions, type ChoiceOption, type ChoiceOptions, type Prompter } from './prompter.ts';
import { type PickState, pickStep, renderPickList } from './prompter-pick.ts';

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
