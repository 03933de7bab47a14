// Owns loading the two flows only when one runs: `configure` (firstboot/configure.ts, the "new" flow)
// and `recover` (recovery/recover.ts) pull in openpgp, tar and the transports, which `sysback backup`,
// `status` and a configured router's first-boot check never need. Each flow gets the router's real
// Device (grid/device.ts). Both apps hand these to the commands that start a flow (`firstboot`,
// `configure`, `recover`); the commands never import a flow. A build without a flow's module says so
// (FlowUnavailableError), not a stack.
import { FlowUnavailableError, type FlowName, type Flows } from '../firstboot/flows.ts';

async function load<T>(name: FlowName, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') throw new FlowUnavailableError(name, error);
    throw error;
  }
}

export const lazyFlows: Flows = {
  async configure(ctx, prompter, options) {
    const [{ runConfigure }, { withDevice }] = await load('configure', () => Promise.all([import('../firstboot/configure.ts'), import('../grid/device.ts')]));
    await runConfigure(withDevice(ctx), prompter, options);
  },
  async recover(ctx, prompter, options) {
    const [{ runRecover }, { withDevice }] = await load('recover', () => Promise.all([import('../recovery/recover.ts'), import('../grid/device.ts')]));
    await runRecover(withDevice(ctx), prompter, options);
  },
};
