// Owns the answers file: what a headless first boot (or a test) answers instead of a person at the
// console. Read from `--answers F`, /etc/sysback/answers.json, or the systemd credential
// `sysback.answers`. Contract: one pure validator that reports every problem with its path; a flow
// that needs a password gets exactly one of `password` / `passwordFile`; `answersScript` turns the
// file into the scripted prompter's answers, keyed like the questions the flows ask.
// Secrets: an answers file (or a passwordFile) that group or others may read is refused before it is
// used (`loadAnswers`, `answersPassword`); once a flow has succeeded, `removeAnswersSecret` takes the
// secret off the disk: the device's own answers file (/etc/sysback/answers.json, or any answers file
// under /etc/sysback) is removed whole, an answers file elsewhere (`--answers F`) loses its
// `password` field, and a passwordFile under /etc/sysback is removed (one elsewhere is the owner's
// file: left, with a warning). A systemd credential lives in a private tmpfs and is left as it is.
// Every answers file and password file read here is noted, and what `removeAnswersSecret` leaves on
// disk is recorded, so no backup ever saves them (core/config/answers-secret-paths.ts).
import { existsSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic-write.ts';
import type { Context } from '../context.ts';
import { DEVICE } from '../device-paths.ts';
import { UserError } from '../errors.ts';
import { noteSecretFile, recordSecretPaths } from './answers-secret-paths.ts';
import type { ScriptedAnswers } from '../prompter-scripted.ts';
import { loadJsonConfig, validateWith, type Validation } from './validate.ts';

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

/**
 * Tahoe's SDMF directory read cap is a 128-bit read key and a 256-bit fingerprint in base32: 26 and 52
 * characters (uri.py's BASE32STR_128bits / BASE32STR_256bits).
 */
export const DIR_READ_KEY_CHARS = 26;
export const DIR_FINGERPRINT_CHARS = 52;

/** A read cap of a Tahoe directory, as printed on the recovery card; a cap missing a group or a character fails it. */
export const DIR_READ_CAP_PATTERN = new RegExp(`^URI:DIR2-RO:[a-z2-7]{${DIR_READ_KEY_CHARS}}:[a-z2-7]{${DIR_FINGERPRINT_CHARS}}$`);

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
    /** restore the newest generation made no later than this UTC time (the router was stolen then) */
    notAfter: z.iso.datetime({ message: 'not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)' }).optional(),
    /** headless "yes" to restoring paths a backup holds beyond this image's own files.txt */
    restoreBeyondList: z.boolean().optional(),
    transport: z.enum(['mount', 'webapi'], { error: 'must be "mount" or "webapi"' }).optional(),
    /** the read cap from a recovery card, for when the alias is gone from the public directory */
    recoveryCard: z.string().regex(DIR_READ_CAP_PATTERN, 'not a directory read cap (URI:DIR2-RO:...)').optional(),
    /** "new": SSH public keys (authorized_keys lines) that may log in as root (firstboot/admin-access.ts) */
    sshKeys: z.array(z.string().regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n]*)?$/, 'one OpenSSH public key line')).optional(),
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
      if (a.notAfter !== undefined) ctx.addIssue({ code: 'custom', path: ['notAfter'], message: 'only for mode "recover"' });
      if (a.restoreBeyondList !== undefined) ctx.addIssue({ code: 'custom', path: ['restoreBeyondList'], message: 'only for mode "recover"' });
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
 * Throws a UserError when `file` (holding a secret) may be read by group or others. A file that
 * does not exist is left to the reader to report.
 */
export function assertPrivateFile(file: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) {
    throw new UserError(
      `${what} ${file} holds a password but is readable by ${mode & 0o070 ? 'its group' : ''}${mode & 0o070 && mode & 0o007 ? ' and ' : ''}${mode & 0o007 ? 'everyone' : ''} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); it was not used`,
      `chmod 600 ${file}, and change the password if others could read it`,
    );
  }
}

/** Reads and validates an answers file, refusing one that group or others may read. */
export function loadAnswers(file: string): Answers {
  assertPrivateFile(file, 'the answers file');
  const answers = loadJsonConfig(file, validateAnswers);
  // no backup this process makes saves the answers file or its password file (answers-secret-paths.ts)
  noteSecretFile(file);
  const secretFile = passwordFilePath(answers, file);
  if (secretFile !== undefined) noteSecretFile(secretFile);
  return answers;
}

/** The passwordFile of `answers`, resolved against the answers file's directory; undefined when none. */
export function passwordFilePath(answers: Answers, answersFile: string | undefined): string | undefined {
  if (answers.passwordFile === undefined) return undefined;
  const base = answersFile ? path.dirname(path.resolve(answersFile)) : process.cwd();
  return path.resolve(base, answers.passwordFile);
}

/**
 * The password the answers give: `password` itself, or the first line of `passwordFile` (resolved
 * against the answers file's directory when relative). An empty password file is refused, and so is
 * one that group or others may read.
 */
export async function answersPassword(answers: Answers, answersFile: string | undefined): Promise<string> {
  if (answers.password !== undefined) return answers.password;
  const file = passwordFilePath(answers, answersFile);
  if (file === undefined) throw new UserError('the answers give no password', 'add "password" or "passwordFile"');
  assertPrivateFile(file, 'the password file');
  noteSecretFile(file);
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
 * `password`, `passwordConfirm`, `generation`, `transport`, `recoveryCard`, `confirmRecover`,
 * `restoreBeyondList`; `notAfter` is read from the answers by the generation choice itself).
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
    restoreBeyondList: answers.restoreBeyondList,
  };
}

function inside(dir: string, file: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(file));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * After a flow succeeded: takes the answers' secret off the disk (see the module comment). Returns
 * one line per thing done or left, for the log; never the secret itself. Safe to call twice.
 */
export async function removeAnswersSecret(
  ctx: Pick<Context, 'path' | 'root'>,
  answersFile: string | undefined,
  answers: Answers | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<string[]> {
  if (!answersFile || !answers) return [];
  const done: string[] = [];
  const configDir = ctx.path(DEVICE.configDir);
  const credentials = env.CREDENTIALS_DIRECTORY;
  const secretFile = passwordFilePath(answers, answersFile);
  if (secretFile !== undefined && existsSync(secretFile)) {
    if (inside(configDir, secretFile)) {
      await rm(secretFile, { force: true });
      done.push(`removed the password file ${secretFile}`);
    } else if (!(credentials && inside(credentials, secretFile))) {
      done.push(`left the password file ${secretFile} (outside ${DEVICE.configDir}): remove it yourself, it holds the identity password; no backup saves it`);
      await recordSecretPaths(ctx, [secretFile]);
    }
  }
  if (credentials && inside(credentials, answersFile)) {
    done.push('the answers came from a systemd credential (a private tmpfs): nothing at rest to remove');
    return done;
  }
  if (!existsSync(answersFile)) return done;
  if (path.resolve(answersFile) === ctx.path(DEVICE.answers) || inside(configDir, answersFile)) {
    await rm(answersFile, { force: true });
    done.push(`removed the answers file ${answersFile}`);
  } else if (answers.password !== undefined) {
    const raw = JSON.parse(await readFile(answersFile, 'utf8')) as Record<string, unknown>;
    delete raw.password;
    await writeFileAtomic(answersFile, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 });
    done.push(`removed the password from the answers file ${answersFile}`);
  }
  // an answers file left in place names the password file; no backup saves it either
  if (existsSync(answersFile)) await recordSecretPaths(ctx, [answersFile]);
  return done;
}
