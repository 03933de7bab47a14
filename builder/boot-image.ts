// Owns `sysback boot`: booting a built image for a person or a test. qemu boots disk.img under UEFI
// (OVMF + systemd-boot), in software emulation (TCG; `--kvm` asks for KVM, see below), the
// serial console on the terminal or on a unix socket, `snapshot=on` so the image stays pristine (a
// reboot inside the guest restarts it with the snapshot kept, like a real box), and a guest network
// that reaches nothing but the grid's loopback ports (`restrict=on` + one
// `guestfwd ... cmd:socat - TCP:127.0.0.1:PORT` per port; `--ssh-port` adds one hostfwd from the host's
// loopback to the guest's SSH). systemd-nspawn boots the tree with --private-network (no route out: a
// booted image's tor can never reach the public Tor network), or, with `--grid D`, in a network
// namespace of ours that leads only to that grid's loopback ports (builder/grid-reach.ts). Over the
// private Tor network both reach its relays through the relay proxy this boot runs
// (builder/relay-proxy.ts). The argv builders are pure and shared with the tests.
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
import { checkPort, gridReach, startGridNamespace, type Forward, type GridReach, type Namespace } from './grid-reach.ts';
import { startRelayProxy, type RelayProxy } from './relay-proxy.ts';
import { GUEST_ADDRESS } from '../grid/local-grid.ts';
import { guestProcess } from './guest-stop.ts';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** the guest sees the grid's loopback ports on this address (qemu's user network: a free host alias) */
export const GUEST_GRID_ADDRESS = GUEST_ADDRESS;

export interface QemuOptions {
  disk: string;
  /** a per-run writable copy of OVMF_VARS */
  vars: string;
  /** 'stdio' for a person; a unix socket path (server, waits for the client) for a test */
  serial: 'stdio' | { socket: string; log: string };
  /** loopback ports on the host the guest may reach at GUEST_GRID_ADDRESS:PORT */
  gridPorts?: number[];
  /** guest ports at GUEST_GRID_ADDRESS that lead to other host loopback ports (the relay proxy) */
  forwards?: Forward[];
  /** a port on the host's 127.0.0.1 that leads to the guest's SSH server */
  sshPort?: number;
  /** quit when the guest reboots (a test that wants one boot); by default a reboot restarts the guest */
  noReboot?: boolean;
  /**
   * software emulation unless KVM is asked for: an openable /dev/kvm is no proof that it works (on the
   * machines these tests run on it is a nested paravirtual KVM on which OVMF stops at its first
   * instruction, "kvm-pvm: INTERNAL_ERROR", and qemu hangs without a word)
   */
  accel?: 'kvm' | 'tcg';
  /** write into the image instead of a throwaway snapshot */
  persist?: boolean;
  memoryMiB?: number;
  cpus?: number;
}

export function qemuArgv(options: QemuOptions): string[] {
  const forwards = [
    ...(options.gridPorts ?? []).map((p) => ({ port: p, hostPort: p })),
    ...(options.forwards ?? []),
  ].map(({ port: p, hostPort }) => `,guestfwd=tcp:${GUEST_GRID_ADDRESS}:${checkPort(p)}-cmd:socat - TCP:127.0.0.1:${checkPort(hostPort)}`).join('');
  const ssh = options.sshPort === undefined ? '' : `,hostfwd=tcp:127.0.0.1:${checkPort(options.sshPort)}-:22`;
  const serial = options.serial === 'stdio'
    ? ['-serial', 'mon:stdio']
    : ['-chardev', `socket,id=ser0,path=${options.serial.socket},server=on,wait=on,logfile=${options.serial.log}`, '-serial', 'chardev:ser0'];
  const kvm = options.accel === 'kvm';
  return [
    'qemu-system-x86_64', '-machine', 'q35', '-accel', kvm ? 'kvm' : 'tcg', '-cpu', kvm ? 'host' : 'max',
    '-smp', String(options.cpus ?? 2), '-m', String(options.memoryMiB ?? 1024),
    '-display', 'none', '-vga', 'none', ...(options.noReboot ? ['-no-reboot'] : []),
    ...(options.serial === 'stdio' ? [] : ['-monitor', 'none']),
    ...serial,
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${options.vars}`,
    '-drive', `file=${options.disk},format=raw,if=virtio${options.persist ? '' : ',snapshot=on'}`,
    '-netdev', `user,id=n0,restrict=on${forwards}${ssh}`,
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
  /** qemu: this port on the host's 127.0.0.1 leads to the guest's SSH */
  sshPort?: number;
  /** qemu: hardware virtualisation instead of software emulation */
  kvm?: boolean;
}

/** How long a guest may take to power off after SIGTERM before it is killed (its Tahoe nodes, tor and all). */
export const GUEST_STOP_GRACE_MS = 30_000;

export async function bootImage(ctx: Context, options: BootOptions): Promise<number> {
  const guest = guestProcess(options.mode);
  let stopping = false;
  let namespace: Namespace | undefined;
  let proxy: RelayProxy | undefined;
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
    if (proxy?.refused.length) ctx.log.warn(`the relay proxy refused ${proxy.refused.length} connection(s): ${proxy.refused.slice(0, 5).join(', ')}`);
    await proxy?.close();
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  };
  /** over a private Tor network: starts the relay proxy; the guest port that leads to it */
  const proxyForward = async (reach: GridReach | undefined): Promise<Forward[]> => {
    if (!reach?.torProxy) return [];
    proxy = await startRelayProxy(reach.torProxy.relayPorts);
    return [{ port: reach.torProxy.guestPort, hostPort: proxy.port }];
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
      if (reach) {
        const forwards = [...reach.guestPorts.map((p) => ({ port: p, hostPort: p })), ...(await proxyForward(reach))];
        namespace = await startGridNamespace(ctx, reach.guestAddress, forwards);
      }
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
    if (reach && reach.guestAddress !== GUEST_GRID_ADDRESS) {
      throw new UserError(`the grid in ${options.grid} is reached at ${reach.guestAddress}, but a qemu guest reaches the host at ${GUEST_GRID_ADDRESS}`, 'make the grid again with sysback grid init (the default guest address)');
    }
    const gridPorts = [...new Set([...(options.gridPorts ?? []), ...(reach?.guestPorts ?? [])])];
    const forwards = await proxyForward(reach);
    await ensureHostTools(ctx.runner, ctx.log, TOOLSETS.qemu);
    const disk = path.join(options.dir, 'disk.img');
    if (!existsSync(disk)) throw new UserError(`${disk} does not exist`, 'run sysback build first');
    const run = mkdtempSync(path.join(os.tmpdir(), 'sysback-boot-'));
    temporary.push(run);
    const vars = path.join(run, 'OVMF_VARS.fd');
    copyFileSync(OVMF_VARS, vars);
    const accel = options.kvm ? 'kvm' : 'tcg';
    ctx.log.info(`booting disk.img in qemu (UEFI, ${accel === 'kvm' ? 'KVM' : 'software emulation'}${options.sshPort ? `; ssh -p ${options.sshPort} root@127.0.0.1 reaches it` : ''}; Ctrl-A X quits)`);
    return runGuest(qemuArgv({ disk, vars, serial: 'stdio', gridPorts, forwards, accel, persist: options.persist, ...(options.sshPort ? { sshPort: options.sshPort } : {}) }));
  }, { exitOnSignal: true });
}
