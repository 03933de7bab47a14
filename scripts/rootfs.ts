// `npm run rootfs`: builds the Debian trixie target root filesystem with mmdebstrap (installing
// mmdebstrap with apt when missing), or reuses the cached one; says how long it took; prints its path
// as the last line of stdout.
import { ensureTargetRootfs, rootfsPath, defaultSpec } from '../builder/target-rootfs.ts';
import { createLog } from '../core/log.ts';
import { createRunner } from '../core/runner.ts';
import { ensureHostTools, TOOLSETS } from '../builder/host-tools.ts';

const log = createLog();
const runner = createRunner(log);
if (process.argv.includes('--print-path')) {
  process.stdout.write(`${rootfsPath(defaultSpec())}\n`);
} else {
  await ensureHostTools(runner, log, TOOLSETS.rootfs);
  const result = await ensureTargetRootfs(
    async (argv) => {
      await runner.run(argv, { stdio: 'inherit', hint: 'check the network access to the Debian mirror' });
    },
    undefined,
    (line) => log.info(line),
  );
  log.info(result.reused ? `reused the cached root filesystem (${result.seconds.toFixed(1)} s)` : `built the root filesystem in ${result.seconds.toFixed(0)} s`);
  process.stdout.write(`${result.path}\n`);
}
