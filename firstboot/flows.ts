// Owns the seam between the first-boot hook (and `sysback configure|recover`) and the two flows they
// start: "new" (firstboot/configure.ts) and "recover" (recovery/recover.ts). Contract: a flow gets
// the context (root, runner, log, clock, step events), a prompter (the console, or the scripted one
// built from the answers file: the flow asks the same questions either way, naming each by its
// answers key) and the options below; it writes the state file only when every step succeeded, and
// it reboots only when `noReboot` is false. The app loads the flow that is asked for, when it is
// asked for (cli/lazy-flows.ts: a dynamic import, so the hook never loads a flow it does not run),
// and hands it the router's real Device (grid/device.ts); tests inject their own flows.
import type { Answers } from '../core/config/answers.ts';
import type { Context } from '../core/context.ts';
import { EXIT, SysbackError } from '../core/errors.ts';
import type { Prompter } from '../core/prompter.ts';

export interface FlowOptions {
  /** the answers file, when the boot is headless (the prompter then answers from it too) */
  answers: Answers | undefined;
  /** where the answers came from (a passwordFile is resolved against its directory) */
  answersFile: string | undefined;
  /** print what the reboot would do instead of rebooting (tests, chroots, `sysback firstboot --no-reboot`) */
  noReboot: boolean;
  /** "recover" on a router that is already configured: the person (or confirmRecover) agreed to replace it */
  replacesConfiguredRouter: boolean;
  /** recover only: list what the restore would change and stop before writing anything under the root */
  dryRun?: boolean;
}

export type Flow = (ctx: Context, prompter: Prompter, options: FlowOptions) => Promise<void>;

export interface Flows {
  /** the "new" flow: the seed's configuration script */
  configure: Flow;
  /** the "recover" flow: the seed's recover script */
  recover: Flow;
}

export type FlowName = keyof Flows;

/** What a failed step of either flow adds to its hint: every step resumes. */
export const RESUME_HINT = 'nothing is lost: run sysback firstboot again to resume';

/** A flow is not part of this build (its module cannot be loaded). */
export class FlowUnavailableError extends SysbackError {
  constructor(name: FlowName, cause?: unknown) {
    super(`the "${name === 'configure' ? 'new' : 'recover'}" flow is not available in this build of sysback`, {
      hint: 'install a complete sysback build; nothing was changed',
      exitCode: EXIT.internal,
      ...(cause !== undefined ? { cause } : {}),
    });
  }
}

const unavailable = (name: FlowName): Flow => async () => {
  throw new FlowUnavailableError(name);
};

/** Flows that only say they are missing. */
export const unavailableFlows: Flows = { configure: unavailable('configure'), recover: unavailable('recover') };
