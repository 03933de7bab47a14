// Owns where the `tahoe` program comes from: the host's own (on the device, or a host that has it),
// or the cached target root filesystem through grid/sysroot.ts. Contract: `argv(args)` gives an argv
// that runs `tahoe ARGS` with every directory in `binds` visible at its host path, and the PID of the
// started argv is the PID of the tahoe process itself (so it can be stopped by PID).
import path from 'node:path';
import { sysrootArgv } from './sysroot.ts';

export interface TahoeProgram {
  /** a description for logs: "host" or the root filesystem used */
  readonly where: string;
  /** argv running `tahoe ...args`; `slot` names the private scratch a sysroot call may use */
  argv(args: readonly string[], slot: string): string[];
}

export function hostTahoe(binary = 'tahoe'): TahoeProgram {
  return { where: 'host', argv: (args) => [binary, ...args] };
}

/**
 * tahoe from `rootfs`; `scratchDir` holds one overlay upper per slot (a slot must not be used by two
 * processes at once), `binds` are the directories tahoe reads and writes.
 */
export function sysrootTahoe(rootfs: string, scratchDir: string, binds: readonly string[]): TahoeProgram {
  return {
    where: rootfs,
    argv: (args, slot) =>
      sysrootArgv({ rootfs, scratch: path.join(scratchDir, slot), binds }, ['tahoe', ...args]),
  };
}
