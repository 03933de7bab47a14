// Owns running a program from the target root filesystem on a host that lacks it (the host here is
// bookworm; Tahoe 1.20 comes from trixie). Each call gets a private mount namespace in which an
// overlay of the cached root filesystem (read-only lower, per-call upper in `scratch`) is the root,
// /proc and /dev are mounted, and every `binds` directory appears at the same path as on the host.
// Contract: the PID of the wrapped argv is the PID of the program itself (every step `exec`s), and
// every mount vanishes with the namespace when the program exits, so nothing is left mounted on the
// host even after a crash or SIGKILL.

const SCRIPT = [
  'set -e',
  'lower=$1; scratch=$2; shift 2',
  'm=$scratch/merged',
  'mkdir -p "$scratch/upper" "$scratch/work" "$m"',
  'mount -t overlay sysroot -o "lowerdir=$lower,upperdir=$scratch/upper,workdir=$scratch/work" "$m"',
  'mount -t proc proc "$m/proc"',
  'mount --rbind /dev "$m/dev"',
  'while [ "$1" != "--" ]; do mkdir -p "$m$1"; mount --bind "$1" "$m$1"; shift; done',
  'shift',
  'exec chroot "$m" "$@"',
].join('\n');

export interface SysrootCall {
  /** the cached target root filesystem (never written) */
  rootfs: string;
  /** a directory of our own for this call's overlay upper/work/merged */
  scratch: string;
  /** host directories to show at the same absolute path inside */
  binds: readonly string[];
}

/** The argv that runs `argv` inside the target root filesystem. */
export function sysrootArgv(call: SysrootCall, argv: readonly string[]): string[] {
  for (const bind of call.binds) {
    if (!bind.startsWith('/') || bind === '/') throw new Error(`sysroot bind must be an absolute directory: ${bind}`);
  }
  return [
    'unshare', '--mount', '--propagation', 'private', '--',
    '/bin/sh', '-c', SCRIPT, 'sysroot', call.rootfs, call.scratch, ...call.binds, '--',
    // a clean, predictable environment inside: the host's PATH and locale mean nothing there
    'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'HOME=/root',
    ...argv,
  ];
}
