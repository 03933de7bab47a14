// The target root filesystem for integration tests: the path npm test prepared (SYSBACK_ROOTFS), or
// the cached one, built on first use.
import { ensureTargetRootfs } from '../../builder/target-rootfs.ts';
import { createLog } from '../../core/log.ts';
import { createRunner } from '../../core/runner.ts';

let cached: Promise<string> | undefined;

export function targetRootfs(): Promise<string> {
  if (process.env.SYSBACK_ROOTFS) return Promise.resolve(process.env.SYSBACK_ROOTFS);
  cached ??= (async () => {
    const log = createLog({ level: 'warn' });
    const runner = createRunner(log);
    const result = await ensureTargetRootfs(async (argv) => {
      await runner.run(argv, { stdio: 'inherit' });
    });
    return result.path;
  })();
  return cached;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
