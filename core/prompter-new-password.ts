// Owns the new-password dialogue of the "new" flow: asked twice (keys `password` and
// `passwordConfirm`), refused with its reason when the two differ or the strength rule says no, over
// any Prompter. A scripted prompter gets one round (an answers file cannot retype).
import { DEFAULT_ATTEMPTS, TooManyAttemptsError, type Prompter, type Validator } from './prompter.ts';

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
