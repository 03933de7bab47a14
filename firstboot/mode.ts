// Owns deciding what the first boot does: nothing (configured), run "new" or "recover", ask the person,
// or give up headless. Contract: pure functions, no I/O. The order of authority is: answers file >
// kernel command line (`sysback.mode=new|recover`) > the question on the console. A configured router
// runs nothing, except that `sysback.mode=recover` on the kernel command line recovers it after a
// confirmation (the word "recover" typed on the console, or `confirmRecover: true` in the answers).
import type { Mode } from '../core/config/answers.ts';

export const CMDLINE_MODE_KEY = 'sysback.mode';

/**
 * Splits a kernel command line into words the way the kernel does: spaces separate, double quotes
 * group (`a="b c"` is one word, the quotes dropped); words after a lone `--` belong to init and are
 * left out.
 */
export function splitKernelCmdline(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (const c of text) {
    if (c === '"') {
      quoted = !quoted;
      inWord = true;
      continue;
    }
    if (!quoted && /\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += c;
    inWord = true;
  }
  if (inWord) words.push(word);
  const end = words.indexOf('--');
  return end === -1 ? words : words.slice(0, end);
}

export interface CmdlineMode {
  /** the mode asked for, if any (the last `sysback.mode=` wins, as with every kernel parameter) */
  mode: Mode | undefined;
  /** a `sysback.mode=` with a value that is neither new nor recover (ignored, worth a warning) */
  problem: string | undefined;
}

export function cmdlineMode(text: string): CmdlineMode {
  let value: string | undefined;
  for (const word of splitKernelCmdline(text)) {
    if (word.startsWith(`${CMDLINE_MODE_KEY}=`)) value = word.slice(CMDLINE_MODE_KEY.length + 1);
  }
  if (value === undefined) return { mode: undefined, problem: undefined };
  if (value === 'new' || value === 'recover') return { mode: value, problem: undefined };
  return { mode: undefined, problem: `${CMDLINE_MODE_KEY}=${value} on the kernel command line is neither "new" nor "recover"; ignored` };
}

export interface ModeFacts {
  /** the state file exists */
  configured: boolean;
  /** the answers file, if one was found */
  answers: { mode: Mode; confirmRecover?: boolean } | undefined;
  /** `sysback.mode=` from the kernel command line */
  cmdline: Mode | undefined;
  /** a person can answer on the console (its input is a terminal) */
  console: boolean;
}

export type ModeDecision =
  /** configured and not asked to recover: exit 0 at once */
  | { action: 'done'; reason: string }
  /** run this flow; `replaces` when it recovers over a configured router (already confirmed) */
  | { action: 'run'; mode: Mode; source: 'answers' | 'cmdline'; replaces: boolean }
  /** configured, sysback.mode=recover, a console: ask for the typed confirmation, then recover */
  | { action: 'confirm-recover' }
  /** not configured, no answers, no mode on the command line, a console: ask new or recover */
  | { action: 'ask' }
  /** nothing can be done without a person or answers: say so and exit non-zero */
  | { action: 'give-up'; reason: string; configured: boolean };

export function decideMode(facts: ModeFacts): ModeDecision {
  if (facts.configured) {
    if (facts.cmdline !== 'recover') return { action: 'done', reason: 'this router is already configured' };
    if (facts.answers) {
      if (facts.answers.confirmRecover === true) return { action: 'run', mode: 'recover', source: 'answers', replaces: true };
      return {
        action: 'give-up',
        configured: true,
        reason: 'sysback.mode=recover is on the kernel command line, but the answers file does not say "confirmRecover": true; not recovering',
      };
    }
    if (facts.console) return { action: 'confirm-recover' };
    return {
      action: 'give-up',
      configured: true,
      reason: 'sysback.mode=recover is on the kernel command line, but there is no console to confirm it and no answers file; not recovering',
    };
  }
  if (facts.answers) return { action: 'run', mode: facts.answers.mode, source: 'answers', replaces: false };
  if (facts.cmdline) {
    if (facts.console) return { action: 'run', mode: facts.cmdline, source: 'cmdline', replaces: false };
    return {
      action: 'give-up',
      configured: false,
      reason: `sysback.mode=${facts.cmdline} is on the kernel command line, but there is no console and no answers file to answer the questions`,
    };
  }
  if (facts.console) return { action: 'ask' };
  return { action: 'give-up', configured: false, reason: 'no console and no answers file: cannot ask whether this is a new router or a recovery' };
}
