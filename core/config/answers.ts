// Owns the answers file: what a headless first boot (or a test) answers instead of a person at the
// console. Read from `--answers F`, /etc/sysback/answers.json, or the systemd credential
// `sysback.answers`. Contract: one pure validator that reports every problem with its path; a flow
// that needs a password gets exactly one of `password` / `passwordFile`; `answersScript` turns the
// file into the scripted prompter's answers, keyed like the questions the flows ask.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { ScriptedAnswers } from '../prompter.ts';
import { validateWith, type Validation } from './validate.ts';

export const MODES = ['new', 'recover'] as const;
export type Mode = (typeof MODES)[number];

/**
 * An alias names a router in the public directory (a Tahoe directory entry): 1 to 64 characters,
 * letters, digits, `.`, `_` and `-`, starting with a letter or a digit.
 */
export const ALIAS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why `alias` is not a valid alias, or undefined. Usable as a prompter validator. */
export function aliasProblem(alias: string): string | undefined {
  if (alias.length === 0) return 'an alias is needed';
  if (alias.length > 64) return 'an alias has at most 64 characters';
  if (!ALIAS_PATTERN.test(alias)) return 'an alias is letters, digits, ".", "_" and "-", starting with a letter or digit';
  return undefined;
}

/** A read cap of a Tahoe directory, as printed on the recovery card. */
export const DIR_READ_CAP_PATTERN = /^URI:DIR2-RO:[a-z2-7]+:[a-z2-7]+$/;

/** A backup generation: `latest`, or a generation's name as `sysback recover` lists it. */
export const GENERATION_PATTERN = /^(latest|[A-Za-z0-9][A-Za-z0-9._:-]{0,127})$/;

const alias = z.string().superRefine((value, ctx) => {
  const problem = aliasProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const answersSchema = z
  .object({
    mode: z.enum(MODES, { error: 'must be "new" or "recover"' }),
    alias: alias.optional(),
    password: z.string().min(1, 'must not be empty').optional(),
    /** a file holding the password (one line; a final newline is dropped); relative to the answers file */
    passwordFile: z.string().min(1, 'must not be empty').optional(),
    generation: z.string().regex(GENERATION_PATTERN, 'must be "latest" or a generation name').optional(),
    transport: z.enum(['mount', 'webapi'], { error: 'must be "mount" or "webapi"' }).optional(),
    /** the read cap from a recovery card, for when the alias is gone from the public directory */
    recoveryCard: z.string().regex(DIR_READ_CAP_PATTERN, 'not a directory read cap (URI:DIR2-RO:...)').optional(),
    /** on a configured router booted with sysback.mode=recover: yes, replace its configuration */
    confirmRecover: z.boolean().optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.password !== undefined && a.passwordFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'give either password or passwordFile, not both' });
    } else if (a.password === undefined && a.passwordFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'required (or give passwordFile)' });
    }
    if (a.mode === 'new') {
      if (a.alias === undefined) ctx.addIssue({ code: 'custom', path: ['alias'], message: 'required for mode "new"' });
      if (a.recoveryCard !== undefined) ctx.addIssue({ code: 'custom', path: ['recoveryCard'], message: 'only for mode "recover"' });
      if (a.generation !== undefined) ctx.addIssue({ code: 'custom', path: ['generation'], message: 'only for mode "recover"' });
      if (a.confirmRecover !== undefined) ctx.addIssue({ code: 'custom', path: ['confirmRecover'], message: 'only for mode "recover"' });
    } else if (a.mode === 'recover' && a.alias === undefined && a.recoveryCard === undefined) {
      ctx.addIssue({ code: 'custom', path: ['alias'], message: 'required for mode "recover" (or give recoveryCard)' });
    }
    // run even when single fields are wrong, so every problem is reported at once
  }, { when: (payload) => typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value) });

export type Answers = z.infer<typeof answersSchema>;

export function validateAnswers(input: unknown): Validation<Answers> {
  return validateWith(answersSchema, input);
}

/**
 * The password the answers give: `password` itself, or the first line of `passwordFile` (resolved
 * against the answers file's directory when relative). An empty password file is refused.
 */
export async function answersPassword(answers: Answers, answersFile: string | undefined): Promise<string> {
  if (answers.password !== undefined) return answers.password;
  if (answers.passwordFile === undefined) throw new UserError('the answers give no password', 'add "password" or "passwordFile"');
  const base = answersFile ? path.dirname(path.resolve(answersFile)) : process.cwd();
  const file = path.resolve(base, answers.passwordFile);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read the password file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`, 'check passwordFile in the answers');
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new UserError(`the password file ${file} is empty`, 'put the password on its first line');
  if (password.includes('\n')) throw new UserError(`the password file ${file} has more than one line`, 'put only the password in it');
  return password;
}

/**
 * The scripted prompter's answers for these answers: every key a flow asks by (`mode`, `alias`,
 * `password`, `passwordConfirm`, `generation`, `transport`, `recoveryCard`, `confirmRecover`).
 */
export function answersScript(answers: Answers, password: string): ScriptedAnswers {
  return {
    mode: answers.mode,
    alias: answers.alias,
    password,
    passwordConfirm: password,
    generation: answers.generation,
    transport: answers.transport,
    recoveryCard: answers.recoveryCard,
    confirmRecover: answers.confirmRecover,
  };
}
