// Owns `sysback boot`: booting a built image for a person or a test. qemu boots disk.img under UEFI
// (OVMF + systemd-boot), TCG, the serial console on the terminal or on a unix socket, `snapshot=on` so
// the image stays pristine, and a guest network that reaches nothing but the grid's loopback ports
// (`restrict=on` + one `guestfwd ... cmd:socat - TCP:127.0.0.1:PORT` per port). systemd-nspawn boots
// the tree with --private-network (no route out: a booted image's tor can never reach the public Tor
// network), or, with `--grid D`, in a network namespace of ours that leads only to that grid's
// loopback ports (builder/grid-reach.ts). The argv builders are pure and shared with the tests.
// Contract on SIGTERM/SIGINT/SIGHUP (core/signal-cleanup.ts): the guest is stopped by the PID this boot
// started (builder/guest-stop.ts: orderly, then killed after GUEST_STOP_GRACE_MS; nspawn's container
// init too, so no guest process outlives the boot), then the namespace, its forwarders and the temp
// directories go, and `sysback boot` exits 128 + the signal's number (143 for SIGTERM).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { UserError } from '../core/errors.ts';
import { withCleanup } from '../core/signal-cleanup.ts';
import { ensureHostTools, TOOLSETS } from './host-tools.ts';
import { gridReach, startGridNamespace, type Namespace } from './grid-reach.ts';
import { guestProcess } from './guest-stop.ts';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** the guest sees the grid's loopback ports on this address */
export const GUEST_GRID_ADDRESS = '10.0.2.100';

export interface QemuOptions {
  disk: string;
  /** a per-run writable copy of OVMF_VARS */
  vars: string;
  /** 'stdio' for a person; a unix socket path (server, waits for the client) for a test */
  serial: 'stdio' | { socket: string; log: string };
  /** loopback ports on the host the guest may reach at GUEST_GRID_ADDRESS:PORT */
  gridPorts?: number[];
  /** write into the image instead of a throwaway snapshot */
  persist?: boolean;
  memoryMiB?: number;
  cpus?: number;
}

export function qemuArgv(options: QemuOptions): string[] {
  for (const port of options.gridPorts ?? []) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`not a port: ${port}`);
  }
  const forwards = (options.gridPorts ?? []).map((port) => `,guestfwd=tcp:${GUEST_GRID_ADDRESS}:${port}-cmd:socat - TCP:127.0.0.1:${port}`).join('');
  const serial = options.serial === 'stdio'
    ? ['-serial', 'mon:stdio']
    : ['-chardev', `socket,id=ser0,path=${options.serial.socket},server=on,wait=on,logfile=${options.serial.log}`, '-serial', 'chardev:ser0'];
  return [
    'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max',
    '-smp', String(options.cpus ?? 2), '-m', String(options.memoryMiB ?? 1024),
    '-display', 'none', '-vga', 'none', '-no-reboot',
    ...(options.serial === 'stdio' ? [] : ['-monitor', 'none']),
    ...serial,
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${options.vars}`,
    '-drive', `file=${options.disk},format=raw,if=virtio${options.persist ? '' : ',snapshot=on'}`,
    '-netdev', `user,id=n0,restrict=on${forwards}`,
    '-device', 'virtio-net-pci,netdev=n0',
  ];
}

export interface NspawnOptions {
  tree: string;
  /** throwaway writes (tmpfs overlay over the tree) unless persist */
  persist?: boolean;
  /** arguments for the container's init: its "kernel command line" (e.g. sysback.mode=recover) */
  initArgs?: string[];
  /** a network namespace of ours (builder/grid-reach.ts) instead of an empty private network */
  networkNamespace?: string;
}

export function nspawnArgv(options: NspawnOptions): string[] {
  const network = options.networkNamespace ? [`--network-namespace-path=${options.networkNamespace}`] : ['--private-network'];
  return [
    'systemd-nspawn', '--quiet', '--register=no', '--keep-unit', ...network,
    ...(options.persist ? [] : ['--volatile=overlay']),
    '-D', options.tree, '--boot', '--', ...(options.initArgs ?? []),
  ];
}

/** systemd-nspawn's exit status when the container asked for a reboot */
export const NSPAWN_REBOOT = 133;

/** Runs `argv` (systemd-nspawn on SESSION/merged) over an overlay of `tree` in a private mount namespace (pure). */
export function overlaySessionArgv(tree: string, session: string, argv: readonly string[]): string[] {
  const script = [
    'set -e',
    'mkdir -p "$2/upper" "$2/work" "$2/merged"',
    'mount -t overlay sysback-boot -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/merged"',
    'shift 2',
    'exec "$@"',
  ].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sysback-boot', tree, session, ...argv];
}

export interface BootOptions {
  dir: string;
  mode: 'qemu' | 'nspawn';
  gridPorts?: number[];
  persist?: boolean;
  initArgs?: string[];
  /** a local grid directory (`sysback grid init --dir`): the booted image reaches that grid */
  grid?: string;
}

/** How long a guest may take to power off after SIGTERM before it is killed (its Tahoe nodes, tor and all). */
export const GUEST_STOP_GRACE_MS = 30_000;

export async function bootImage(ctx: Context, options: BootOptions): Promise<number> {
  const guest = guestProcess(options.mode);
  let stopping = false;
  let namespace: Namespace | undefined;
  const temporary: string[] = [];
  // a signal (a kill, a closed terminal, the demo passing on Ctrl-C) stops the guest by its PID first,
  // then what the boot made for it; the command then exits 128 + the signal's number
  const cleanup = async (signal?: NodeJS.Signals) => {
    if (signal) {
      stopping = true;
      ctx.log.info(`sysback boot: ${signal}: stopping the ${options.mode === 'qemu' ? 'qemu guest' : 'container'}`);
      await guest.stop({ graceMs: GUEST_STOP_GRACE_MS });
    }
    await namespace?.stop();
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  };
  /** runs the guest's leader with the console on this terminal, telling `guest` its PID */
  const runGuest = async (argv: string[]): Promise<number> => {
    const watcher = setInterval(() => guest.watch(), 250);
    watcher.unref();
    try {
      const result = await ctx.runner.run(argv, { stdio: 'inherit', reject: false, onStart: (pid) => guest.started(pid) });
      return result.exitCode;
    } finally {
      clearInterval(watcher);
      guest.exited();
    }
  };
  return withCleanup(cleanup, async () => {
    if (options.mode === 'nspawn') {
      await ensureHostTools(ctx.runner, ctx.log, TOOLSETS.nspawn);
      const tree = path.join(options.dir, 'rootfs');
      if (!existsSync(path.join(tree, 'usr/lib/systemd/systemd'))) throw new UserError(`${tree} is not a built root tree`, 'run sysback build first');
      const reach = options.grid ? gridReach(options.grid) : undefined;
      if (reach) namespace = await startGridNamespace(ctx, reach);
      // Without --persist the boot writes into an upper directory of ours (an overlay mounted in a
      // private mount namespace, gone with it), kept across the guest's reboots and removed at the end:
      // like a machine whose disk is thrown away when it is switched off.
      const session = options.persist ? undefined : mkdtempSync(path.join(os.tmpdir(), 'sysback-nspawn-'));
      if (session) temporary.push(session);
      ctx.log.info(reach
        ? `booting the tree in systemd-nspawn, reaching only the grid in ${options.grid} (press Ctrl-] three times to leave)`
        : 'booting the tree in systemd-nspawn (no network; press Ctrl-] three times to leave)');
      for (let boot = 1; ; boot++) {
        const argv = nspawnArgv({ tree: session ? path.join(session, 'merged') : tree, persist: true, initArgs: boot === 1 ? options.initArgs : [], ...(namespace ? { networkNamespace: namespace.path } : {}) });
        const exitCode = await runGuest(session ? overlaySessionArgv(tree, session, argv) : argv);
        if (exitCode !== NSPAWN_REBOOT || stopping) return exitCode;
        ctx.log.info('the router rebooted: booting it again');
      }
    }
    const reach = options.grid ? gridReach(options.grid) : undefined;
    if (reach && reach.loopbackPorts.length > 0) {
      throw new UserError('a qemu guest cannot reach a grid over the private Tor network yet (its relays announce 127.0.0.1)', 'boot it with --nspawn');
    }
    const gridPorts = [...new Set([...(options.gridPorts ?? []), ...(reach?.guestPorts ?? [])])];
    await ensureHostTools(ctx.runner, ctx.log, TOOLSETS.qemu);
    const disk = path.join(options.dir, 'disk.img');
    if (!existsSync(disk)) throw new UserError(`${disk} does not exist`, 'run sysback build first');
    const run = mkdtempSync(path.join(os.tmpdir(), 'sysback-boot-'));
    temporary.push(run);
    const vars = path.join(run, 'OVMF_VARS.fd');
    copyFileSync(OVMF_VARS, vars);
    ctx.log.info('booting disk.img in qemu (UEFI, software emulation; Ctrl-A X quits)');
    return runGuest(qemuArgv({ disk, vars, serial: 'stdio', gridPorts, persist: options.persist }));
  }, { exitOnSignal: true });
}
