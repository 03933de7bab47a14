// The host app, dist/sysback.mjs (`npm run build`): every command, the device's and the host's
// (`grid`, `build`, `boot`, `install`), for the operator, the builder and the tests. Each command
// loads its own code when it runs (cli/program.ts); this is the one place that hands the host-only
// parts to each other (the local grid gets its target root filesystem from the builder here, so
// grid/ never imports builder/).
import { registerBackupCommands } from '../backup/backup-commands.ts';
import { registerBuildCommands } from '../builder/build-commands.ts';
import { registerFirstbootCommands } from '../firstboot/firstboot-command.ts';
import { registerFlowCommands } from '../firstboot/flow-commands.ts';
import { registerGridCommands } from '../grid/grid-commands.ts';
import { registerNodeCommands } from '../grid/node-commands.ts';
import { lazyFlows } from './lazy-flows.ts';
import { main } from './program.ts';

process.exitCode = await main(process.argv, [
  (program) =>
    registerGridCommands(program, {
      targetRootfs: async (ctx) => (await import('../builder/target-rootfs.ts')).defaultTargetRootfs(ctx),
    }),
  registerNodeCommands,
  registerBackupCommands,
  (program) => registerFlowCommands(program, lazyFlows),
  registerBuildCommands,
  (program) => registerFirstbootCommands(program, { flows: lazyFlows }),
]);
