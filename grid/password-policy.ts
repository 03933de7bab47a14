// Owns what sysback accepts as an identity password and as an alias in the public directory (DESIGN
// §4.3: anyone in the grid can download every identity file and guess offline, so a minimum strength
// is enforced before anything is encrypted). Contract: pure functions; a check returns the reason a
// person can act on ("too short: ..."), never the password itself; `assert*` throw a UserError with that
// reason. The policy is a floor, not an estimate: length >= 12 (or a passphrase of >= 4 distinct words),
// and no password that is one repeated character or pattern, a keyboard/alphabet/digit run, contains
// the alias, or is a common password (a small built-in list, also after undoing l33t spelling).
import { UserError } from '../core/errors.ts';

export const MIN_PASSWORD_LENGTH = 12;
export const MIN_PASSPHRASE_WORDS = 4;

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

/**
 * Common passwords (after lowercasing and undoing l33t spelling, non-letters removed where the entry is
 * letters only). Small on purpose: it stops the first guesses an attacker tries, not a dictionary.
 */
const COMMON = new Set([
  'password', 'passwort', 'passwd', 'pass', 'qwerty', 'qwertz', 'azerty', 'asdf', 'zxcv', 'letmein', 'welcome',
  'admin', 'administrator', 'root', 'toor', 'login', 'master', 'secret', 'changeme', 'default', 'guest', 'user',
  'iloveyou', 'monkey', 'dragon', 'football', 'baseball', 'soccer', 'princess', 'sunshine', 'shadow', 'superman',
  'batman', 'trustno', 'trustnoone', 'whatever', 'freedom', 'starwars', 'hello', 'helloworld', 'abc', 'abcabc',
  'router', 'myrouter', 'wifi', 'internet', 'openwrt', 'debian', 'linux', 'ubuntu', 'raspberry', 'sysback', 'tahoe',
  'backup', 'recovery', 'recover', 'identity', 'community', 'network', 'computer', 'michael', 'jennifer', 'charlie',
  'jordan', 'hunter', 'ranger', 'buster', 'thomas', 'tigger', 'summer', 'winter', 'spring', 'autumn', 'flower',
  'cheese', 'cookie', 'chocolate', 'pokemon', 'minecraft', 'google', 'facebook', 'samsung', 'apple', 'nothing',
  'correcthorsebatterystaple', 'thequickbrownfoxjumpsoverthelazydog', 'ilovemyrouter', 'letmeinplease',
  'passwordpassword', 'mypassword', 'yourpassword', 'newpassword', 'oldpassword', 'supersecret', 'topsecret',
]);

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', $: 's', '!': 'i', '|': 'l', '+': 't' };

/** Rows and runs that count as "a sequence" (each also read backwards). */
const RUNS = [
  'abcdefghijklmnopqrstuvwxyz',
  '0123456789012345678901234567890',
  'qwertyuiopasdfghjklzxcvbnm',
  'qwertzuiopasdfghjklyxcvbnm',
  'azertyuiopqsdfghjklmwxcvbn',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p',
  '!@#$%^&*()_+',
];

function words(password: string): string[] {
  return password
    .trim()
    .split(/[\s\-_.,;:+/]+/)
    .filter((w) => w.length >= 2);
}

/** The shortest unit that, repeated, makes up `text` ("abab" -> "ab"). */
function repeatedUnit(text: string): string {
  for (let size = 1; size <= text.length / 2; size++) {
    if (text.length % size !== 0) continue;
    const unit = text.slice(0, size);
    if (unit.repeat(text.length / size) === text) return unit;
  }
  return text;
}

/** True when all of `text` (at least 4 characters) is a slice of one of RUNS, forwards or backwards. */
function isRun(text: string): boolean {
  if (text.length < 4) return false;
  const reversed = [...text].reverse().join('');
  return RUNS.some((run) => run.includes(text) || run.includes(reversed));
}

function deleet(text: string): string {
  return [...text.toLowerCase()].map((c) => LEET[c] ?? c).join('');
}

function isCommon(password: string): boolean {
  const squashed = password.toLowerCase().replace(/[\s\-_.]+/g, '');
  // "Password2024!", "p@ssw0rd", "letmein123": a common word with digits or symbols around it
  const trimmed = squashed.replace(/^[^a-z]+|[^a-z]+$/g, '');
  const candidates = [
    password.toLowerCase(),
    squashed,
    trimmed,
    deleet(trimmed).replace(/[^a-z]/g, ''),
    squashed.replace(/[^a-z]/g, ''),
    deleet(squashed).replace(/[^a-z]/g, ''),
  ];
  return candidates.some((c) => c.length > 0 && (COMMON.has(c) || COMMON.has(repeatedUnit(c))));
}

export interface PasswordContext {
  /** the alias the identity is published under; a password containing it is refused */
  alias?: string;
}

/** Why `password` is too weak for an identity file, or undefined when it meets the policy. */
export function checkPassword(password: string, context: PasswordContext = {}): string | undefined {
  if (password.length === 0) return 'a password is needed';
  if (password.trim() !== password) return 'a password must not start or end with spaces (they are easy to lose when typing it again)';
  const lower = password.toLowerCase();
  const list = words(password);
  const distinctWords = new Set(list.map((w) => w.toLowerCase())).size;
  const longEnough = [...password].length >= MIN_PASSWORD_LENGTH || distinctWords >= MIN_PASSPHRASE_WORDS;
  if (!longEnough) {
    return `too short: use at least ${MIN_PASSWORD_LENGTH} characters, or a passphrase of ${MIN_PASSPHRASE_WORDS} or more words`;
  }
  const squashed = lower.replace(/\s+/g, '');
  const unit = repeatedUnit(squashed);
  if (new Set(squashed).size === 1) return 'it is one character repeated';
  if (unit.length <= squashed.length / 2 && (unit.length <= 4 || isRun(unit) || isCommon(unit))) {
    return `it is a short pattern repeated ("${unit.length <= 4 ? unit.replace(/./g, '*') : '...'}" ${squashed.length / unit.length} times)`;
  }
  // "qwertyuiop12", "abcdefgh2024!": a run with a few digits or symbols added
  const letters = squashed.replace(/[^a-z]/g, '');
  const digits = squashed.replace(/[^0-9]/g, '');
  if (isRun(squashed) || isRun(unit) || (letters.length >= squashed.length - 4 && isRun(letters)) || (digits.length >= squashed.length - 4 && isRun(digits))) {
    return 'it is a keyboard, alphabet or digit sequence';
  }
  if (new Set(squashed).size <= 3) return 'it uses 3 different characters or fewer';
  if (list.length >= 2 && distinctWords === 1) return 'it is one word repeated';
  const alias = context.alias?.toLowerCase();
  if (alias && alias.length >= 3) {
    const aliasCore = alias.replace(/[-_.]+/g, '');
    const passwordCore = lower.replace(/[\s\-_.]+/g, '');
    if (lower.includes(alias) || (aliasCore.length >= 3 && passwordCore.includes(aliasCore))) {
      return 'it contains the alias, which everyone in the grid can see';
    }
  }
  if (isCommon(password)) return 'it is a common password (or one with a few digits or symbols added)';
  return undefined;
}

/** Throws a UserError saying why `password` is refused. The password never appears in the message. */
export function assertPasswordStrong(password: string, context: PasswordContext = {}): void {
  const problem = checkPassword(password, context);
  if (problem) {
    throw new UserError(
      `this password is too weak for an identity file: ${problem}`,
      'anyone in the grid can try passwords against your identity file offline; use 4 or more unrelated words, or 12+ characters',
    );
  }
}
