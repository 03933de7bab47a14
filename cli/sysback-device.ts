// The device app: what the image carries as /usr/lib/sysback/sysback.mjs (bundled by scripts/bundle.ts
// into dist/device/). The router's commands only: `firstboot`, `configure`, `recover`, `backup`,
// `status`, `node`. It imports no host code (test/unit/tiers.test.ts keeps it so); the host's commands
// (`grid`, `build`, `boot`, `install`) answer with a hint to run them on the build host.
import { registerBackupCommands } from '../backup/backup-commands.ts';
import { registerFirstbootCommands } from '../firstboot/firstboot-command.ts';
import { registerFlowCommands } from '../firstboot/flow-commands.ts';
import { registerNodeCommands } from '../grid/node-commands.ts';
import { lazyFlows } from './lazy-flows.ts';
import { main, registerHostCommandRefusals } from './program.ts';

process.exitCode = await main(process.argv, [
  registerNodeCommands,
  registerBackupCommands,
  (program) => registerFlowCommands(program, lazyFlows),
  (program) => registerFirstbootCommands(program, { flows: lazyFlows }),
  registerHostCommandRefusals,
]);
