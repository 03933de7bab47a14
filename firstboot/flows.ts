// Owns the seam between the first-boot hook and the two flows it starts: "new" (firstboot/configure.ts)
// and "recover" (recovery/recover.ts). Contract: a flow gets the context (root, runner, log, clock), a
// prompter (the console, or the scripted one built from the answers file: the flow asks the same
// questions either way, naming each by its answers key) and the options below; it writes the state
// file only when every step succeeded, and it reboots only when `noReboot` is false. The hook finds
// the flows through a registry the flow modules fill in (`provideFlows`), so tests inject their own
// and the hook never imports a flow it does not need; an empty slot fails with a clear message.
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
}

export type Flow = (ctx: Context, prompter: Prompter, options: FlowOptions) => Promise<void>;

export interface Flows {
  /** the "new" flow: the seed's configuration script */
  configure: Flow;
  /** the "recover" flow: the seed's recover script */
  recover: Flow;
}

export type FlowName = keyof Flows;

/** A flow is not part of this build. */
export class FlowUnavailableError extends SysbackError {
  constructor(name: FlowName) {
    super(`the "${name === 'configure' ? 'new' : 'recover'}" flow is not available in this build of sysback`, {
      hint: 'install a complete sysback build; nothing was changed',
      exitCode: EXIT.internal,
    });
  }
}

const unavailable = (name: FlowName): Flow => async () => {
  throw new FlowUnavailableError(name);
};

/** Flows that only say they are missing. */
export const unavailableFlows: Flows = { configure: unavailable('configure'), recover: unavailable('recover') };

const registry: Partial<Flows> = {};

/** Called by the flow modules when they load: `provideFlows({ configure: runConfigure })`. */
export function provideFlows(flows: Partial<Flows>): void {
  Object.assign(registry, flows);
}

/** The flows provided so far; a missing one throws FlowUnavailableError when run. */
export function registeredFlows(): Flows {
  return { configure: registry.configure ?? unavailableFlows.configure, recover: registry.recover ?? unavailableFlows.recover };
}
