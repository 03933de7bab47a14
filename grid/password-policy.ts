// Owns what sysback accepts as an identity password and as an alias in the public directory (DESIGN
// §4.3: anyone in the grid can download every identity file and guess offline, so a minimum strength
// is enforced before anything is encrypted). Contract: a check returns the reason a person can act on,
// in one line, never the password itself; `assert*` throw a UserError with that reason.
// The estimate is zxcvbn's (@zxcvbn-ts/core 4 with the common and English dictionaries: a maintained
// estimator modelled on how crackers guess: 49k common passwords, 56k English words, names,
// Wikipedia, keyboard walks, sequences, repeats, dates, l33t), with the alias and the grid's name in its
// user dictionary (everyone in the grid sees both). A password is refused below MIN_GUESSES (10^10
// guesses: at Argon2id t=3/64 MiB a GPU farm tries ~10^4-10^5 per second, so 10^10 is months).
// zxcvbn does not see through two cracker rules that make short patterns look long ("aa bb cc dd":
// separators between pairs, doubled letters), so the estimate is the lowest of zxcvbn's on the
// password as typed, with its separators removed, and with doubled characters collapsed, the last
// two charged RULE_COST guesses each for the rule. The dictionaries (about 25 MB of heap once built)
// are loaded only when a password is checked, never by a backup run.
import { UserError } from '../core/errors.ts';

/** The floor: estimated guesses below this are refused. */
export const MIN_GUESSES = 1e10;

/** Guesses charged for applying one cracker rule (separator removal, doubled characters). */
export const RULE_COST = 100;

/** Lowercase letters, digits, `-`, `_` and `.`, 3 to 64 characters, starting with a letter or digit. */
export const IDENTITY_ALIAS_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;

/** Why `alias` cannot name an identity in the public directory, or undefined when it can. */
export function checkAlias(alias: string): string | undefined {
  if (alias.length < 3) return 'an alias has at least 3 characters';
  if (alias.length > 64) return 'an alias has at most 64 characters';
  if (/[A-Z]/.test(alias)) return 'an alias is lowercase';
  if (!IDENTITY_ALIAS_PATTERN.test(alias)) {
    return 'an alias is lowercase letters, digits, ".", "_" and "-", starting with a letter or digit';
  }
  return undefined;
}

export function assertAlias(alias: string): void {
  const problem = checkAlias(alias);
  if (problem) throw new UserError(`"${alias.slice(0, 80)}" is not a valid alias: ${problem}`, 'pick another alias, for example "home-router"');
}

export interface PasswordContext {
  /** the alias the identity is published under (public): in the estimator's user dictionary */
  alias?: string;
  /** the grid's name (public): in the estimator's user dictionary */
  gridName?: string;
}

interface Match {
  pattern: string;
  dictionaryName?: string;
}

interface Estimate {
  guesses: number;
  warning: string | null;
  sequence: Match[];
}

interface Estimator {
  check(password: string, userInputs: string[]): Estimate;
}

let estimator: Promise<Estimator> | undefined;

/** zxcvbn with its dictionaries, built on first use (dynamic imports: lazy in the bundle too). */
function loadEstimator(): Promise<Estimator> {
  estimator ??= (async () => {
    // the packages are CommonJS: node and the bundle both hand their exports over as `default`
    const [core, common, en] = (await Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en')])).map(
      (m) => (m as { default?: unknown }).default ?? m,
    ) as [typeof import('@zxcvbn-ts/core'), typeof import('@zxcvbn-ts/language-common'), typeof import('@zxcvbn-ts/language-en')];
    const factory = new core.ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
    });
    return {
      check: (password, userInputs) => {
        const result = factory.check(password, userInputs);
        return { guesses: result.guesses, warning: result.feedback.warning, sequence: result.sequence as Match[] };
      },
    };
  })();
  return estimator;
}

export interface PasswordStrength {
  /** estimated guesses (the lowest over the forms tried) */
  guesses: number;
  log10: number;
  /** which form gave the estimate: as typed, without separators, doubled characters collapsed */
  form: 'as typed' | 'without separators' | 'doubled characters collapsed';
  /** a one-line reason when refused */
  reason?: string;
}

const SEPARATORS = /[\s\-_.,;:+/|]+/g;

function userInputsOf(context: PasswordContext): string[] {
  const inputs = new Set<string>();
  for (const value of [context.alias, context.gridName]) {
    if (!value) continue;
    inputs.add(value.toLowerCase());
    for (const part of value.toLowerCase().split(/[-_.]+/)) if (part.length >= 3) inputs.add(part);
    inputs.add(value.toLowerCase().replace(/[-_.]+/g, ''));
  }
  return [...inputs];
}

function explain(estimate: Estimate, form: PasswordStrength['form']): string {
  if (estimate.sequence.some((m) => m.dictionaryName === 'userInputs')) {
    return "it contains the alias or the grid's name, which everyone in the grid can see";
  }
  const patterns = new Set(estimate.sequence.map((m) => m.pattern));
  if (form === 'doubled characters collapsed') return 'it is a short pattern with its characters doubled';
  if (estimate.warning) return estimate.warning.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase());
  if (patterns.has('repeat')) return 'it repeats a short pattern';
  if (patterns.has('sequence') || patterns.has('spatial')) return 'it is a keyboard, alphabet or digit sequence';
  if (patterns.has('dictionary')) return 'it is made of common words or passwords';
  return 'it is too short or too simple';
}

/** zxcvbn's estimate for `password`, the lowest over the forms a cracker's rules would try. */
export async function passwordStrength(password: string, context: PasswordContext = {}): Promise<PasswordStrength> {
  const zxcvbn = await loadEstimator();
  const inputs = userInputsOf(context);
  const forms: Array<{ form: PasswordStrength['form']; text: string; cost: number }> = [{ form: 'as typed', text: password, cost: 1 }];
  const squashed = password.replace(SEPARATORS, '');
  if (squashed !== password && squashed.length > 0) forms.push({ form: 'without separators', text: squashed, cost: RULE_COST });
  const collapsed = squashed.replace(/(.)\1+/gu, '$1');
  if (collapsed !== squashed && collapsed.length > 0) forms.push({ form: 'doubled characters collapsed', text: collapsed, cost: RULE_COST * (squashed === password ? 1 : RULE_COST) });
  let best: { form: PasswordStrength['form']; guesses: number; estimate: Estimate } | undefined;
  for (const { form, text, cost } of forms) {
    const estimate = zxcvbn.check(text, inputs);
    const guesses = estimate.guesses * cost;
    if (!best || guesses < best.guesses) best = { form, guesses, estimate };
  }
  const strength: PasswordStrength = { guesses: best!.guesses, log10: Math.log10(best!.guesses), form: best!.form };
  if (best!.guesses < MIN_GUESSES) {
    strength.reason = `about 10^${Math.floor(strength.log10)} guesses, below the 10^10 needed: ${explain(best!.estimate, best!.form)}`;
  }
  return strength;
}

/** Why `password` is too weak for an identity file (one line), or undefined when it is strong enough. */
export async function checkPassword(password: string, context: PasswordContext = {}): Promise<string | undefined> {
  if (password.length === 0) return 'a password is needed';
  if (password.trim() !== password) return 'a password must not start or end with spaces (they are easy to lose when typing it again)';
  return (await passwordStrength(password, context)).reason;
}

/** Throws a UserError saying why `password` is refused. The password never appears in the message. */
export async function assertPasswordStrong(password: string, context: PasswordContext = {}): Promise<void> {
  const problem = await checkPassword(password, context);
  if (problem) {
    throw new UserError(
      `this password is too weak for an identity file: ${problem}`,
      'anyone in the grid can try passwords against your identity file offline; use 4 or more unrelated words',
    );
  }
}
