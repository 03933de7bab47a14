// Owns the first-boot hook (DESIGN §5): find the answers, read the kernel command line, decide the
// mode (firstboot/mode.ts), ask on the console when needed, and hand over to the chosen flow.
// Contract: a configured router costs nothing (exit 0 at once) unless `sysback.mode=recover` asks for
// a confirmed recovery; headless with nothing to go on, it says so on stderr (the journal) and exits
// EXIT.notConfigured so the next boot asks again; it writes nothing itself (the flows write the state
// only on success, so an interrupted first boot asks again). The chosen mode is printed on stdout as
// one plain line, `sysback: mode=new`.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Answers, answersPassword, answersScript, type Mode, loadAnswers } from '../core/config/answers.ts';
import type { Context } from '../core/context.ts';
import { DEVICE } from '../core/device-paths.ts';
import { EXIT, NotConfiguredError, SysbackError, UserError } from '../core/errors.ts';
import { type Prompter, TooManyAttemptsError } from '../core/prompter.ts';
import { createScriptedPrompter } from '../core/prompter-scripted.ts';
import { readState } from '../core/state.ts';
import { unavailableFlows, type Flows } from './flows.ts';
import { cmdlineMode, decideMode } from './mode.ts';

/** The question, exactly; the prompter adds ` [new/recover]: `. */
export const MODE_QUESTION = 'Is this a new router, or do you want to recover one?';
/** The word a person types to recover over a configured router. */
export const RECOVER_WORD = 'recover';
/** A person at a boot console may fumble; the question is still bounded. */
export const MODE_ATTEMPTS = 10;
/** The systemd credential name (LoadCredential=/SetCredential= sysback.answers). */
export const ANSWERS_CREDENTIAL = 'sysback.answers';

export interface FirstbootOptions {
  /** --answers F */
  answersFile?: string;
  /** --no-reboot */
  noReboot: boolean;
  /** --cmdline FILE; default /proc/cmdline (the running kernel's, not under the root) */
  cmdlineFile?: string;
}

export interface FirstbootDeps {
  flows: Flows;
  /** the console prompter (made only when a person is to be asked) */
  console: () => Prompter;
  /** a person can answer on the console */
  consoleAvailable: boolean;
  /** the environment ($CREDENTIALS_DIRECTORY) */
  env: Readonly<Record<string, string | undefined>>;
  /** stdout: the one plain `sysback: mode=...` line */
  stdout: (text: string) => void;
  /** where the scripted prompter's transcript goes (stderr: the journal) */
  transcript: { write(text: string): unknown };
}

export type FirstbootOutcome =
  | { ran: Mode; source: 'answers' | 'cmdline' | 'console' }
  | { ran: undefined; reason: string };

/** Which answers file applies: --answers, else /etc/sysback/answers.json under the root, else the credential. */
export function locateAnswers(ctx: Pick<Context, 'path'>, answersFile: string | undefined, env: FirstbootDeps['env']): string | undefined {
  if (answersFile !== undefined) {
    if (!existsSync(answersFile)) throw new UserError(`the answers file ${answersFile} does not exist`, 'check the --answers path');
    return answersFile;
  }
  const onDevice = ctx.path(DEVICE.answers);
  if (existsSync(onDevice)) return onDevice;
  const credentials = env.CREDENTIALS_DIRECTORY;
  if (credentials) {
    const credential = path.join(credentials, ANSWERS_CREDENTIAL);
    if (existsSync(credential)) return credential;
  }
  return undefined;
}

/**
 * The command line systemd itself obeys: the kernel's, except inside a container (systemd-nspawn),
 * where /proc/cmdline is the host's and PID 1's own arguments carry the words (as systemd's
 * ConditionKernelCommandLine= reads them there).
 */
export function defaultCmdlineFile(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.container || existsSync('/run/systemd/container') ? '/proc/1/cmdline' : '/proc/cmdline';
}

async function readCmdline(file: string): Promise<string> {
  try {
    // /proc/PID/cmdline separates words with NUL bytes
    return (await readFile(file, 'utf8')).split('\0').join(' ');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new UserError(`cannot read the kernel command line ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

/** The question on the console: new or recover, re-asked with a reason on anything else. */
export function askMode(prompter: Prompter): Promise<Mode> {
  return prompter.choice<Mode>(
    MODE_QUESTION,
    [
      { value: 'new', aliases: ['n'] },
      { value: 'recover', aliases: ['r'] },
    ],
    { key: 'mode', attempts: MODE_ATTEMPTS },
  );
}

/** The typed confirmation before recovering over a configured router; true only for the word itself. */
export async function confirmRecoverOverConfigured(prompter: Prompter, alias: string | undefined): Promise<boolean> {
  prompter.say(`This router is already configured${alias ? ` (alias "${alias}")` : ''}.`);
  prompter.say('The kernel command line asks to recover it from the grid: its configuration will be replaced by a backup.');
  const typed = await prompter.line(`Type "${RECOVER_WORD}" to recover, or anything else to keep this configuration`, {
    key: 'confirmRecover',
    attempts: 1,
    validate: () => undefined,
  }).catch((error: unknown) => {
    // an empty line is a "no", not a failure
    if (error instanceof TooManyAttemptsError) return '';
    throw error;
  });
  return typed.trim().toLowerCase() === RECOVER_WORD;
}

export async function runFirstboot(ctx: Context, options: FirstbootOptions, deps: FirstbootDeps): Promise<FirstbootOutcome> {
  const state = readState(ctx);
  const configured = state !== undefined;
  const cmdline = cmdlineMode(await readCmdline(options.cmdlineFile ?? defaultCmdlineFile()));
  if (cmdline.problem) ctx.log.warn(cmdline.problem);
  if (configured && cmdline.mode !== 'recover') {
    ctx.log.info('sysback: this router is already configured; nothing to do');
    return { ran: undefined, reason: 'configured' };
  }

  const answersFile = locateAnswers(ctx, options.answersFile, deps.env);
  let answers: Answers | undefined;
  if (answersFile !== undefined) {
    answers = loadAnswers(answersFile);
    ctx.log.info(`sysback: answers from ${answersFile}`);
  }

  const decision = decideMode({
    configured,
    answers,
    cmdline: cmdline.mode,
    console: deps.consoleAvailable,
  });

  let mode: Mode;
  let source: 'answers' | 'cmdline' | 'console';
  let replaces = false;
  let prompter: Prompter;
  switch (decision.action) {
    case 'done':
      ctx.log.info(`sysback: ${decision.reason}; nothing to do`);
      return { ran: undefined, reason: decision.reason };
    case 'give-up':
      if (decision.configured) {
        throw new SysbackError(decision.reason, {
          hint: 'add "confirmRecover": true to the answers, or confirm on the console; the router keeps its configuration',
          exitCode: EXIT.usage,
        });
      }
      throw new NotConfiguredError(
        `this router is not configured: ${decision.reason}`,
        `put an answers file at ${DEVICE.answers} (or the systemd credential ${ANSWERS_CREDENTIAL}) and reboot, or log in over SSH and run: sysback firstboot`,
      );
    case 'confirm-recover': {
      prompter = deps.console();
      if (!(await confirmRecoverOverConfigured(prompter, state?.alias))) {
        prompter.say('Not recovering: the router keeps its configuration.');
        return { ran: undefined, reason: 'recovery not confirmed' };
      }
      mode = 'recover';
      source = 'cmdline';
      replaces = true;
      break;
    }
    case 'ask':
      prompter = deps.console();
      mode = await askMode(prompter);
      source = 'console';
      break;
    case 'run':
      mode = decision.mode;
      source = decision.source;
      replaces = decision.replaces;
      if (decision.source === 'answers') {
        const password = await answersPassword(answers!, answersFile);
        prompter = createScriptedPrompter(answersScript(answers!, password), {
          output: deps.transcript,
          origin: `the answers file ${answersFile}`,
        });
      } else {
        prompter = deps.console();
      }
      break;
  }

  deps.stdout(`sysback: mode=${mode}\n`);
  const flowOptions = { answers, answersFile, noReboot: options.noReboot, replacesConfiguredRouter: replaces };
  if (mode === 'new') await deps.flows.configure(ctx, prompter, flowOptions);
  else await deps.flows.recover(ctx, prompter, flowOptions);
  return { ran: mode, source };
}

/** The real console: stdin for answers; prompts on whichever of stderr/stdout is the terminal. */
export function defaultFirstbootDeps(createConsole: () => Prompter): FirstbootDeps {
  return {
    // the app passes its flows (cli/lazy-flows.ts); without them a flow says it is not in this build
    flows: unavailableFlows,
    console: createConsole,
    consoleAvailable: process.stdin.isTTY === true,
    env: process.env,
    stdout: (text) => {
      process.stdout.write(text);
    },
    transcript: process.stderr,
  };
}
