// Owns `sysback boot`: booting a built image for a person or a test. qemu boots disk.img under UEFI
// (OVMF + systemd-boot), TCG, the serial console on the terminal or on a unix socket, `snapshot=on` so
// the image stays pristine, and a guest network that reaches nothing but the grid's loopback ports
// (`restrict=on` + one `guestfwd ... cmd:socat - TCP:127.0.0.1:PORT` per port). systemd-nspawn boots
// the tree with --private-network (no route out: a booted image's tor can never reach the public Tor
// network). The argv builders are pure and shared with the integration tests.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { UserError } from '../core/errors.ts';
import { ensureHostTools, TOOLSETS } from '../scripts/host-tools.ts';

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
}

export function nspawnArgv(options: NspawnOptions): string[] {
  return [
    'systemd-nspawn', '--quiet', '--register=no', '--keep-unit', '--private-network',
    ...(options.persist ? [] : ['--volatile=overlay']),
    '-D', options.tree, '--boot', '--', ...(options.initArgs ?? []),
  ];
}

export interface BootOptions {
  dir: string;
  mode: 'qemu' | 'nspawn';
  gridPorts?: number[];
  persist?: boolean;
  initArgs?: string[];
}

export async function bootImage(ctx: Context, options: BootOptions): Promise<number> {
  if (options.mode === 'nspawn') {
    await ensureHostTools(ctx.runner, ctx.log, TOOLSETS.nspawn);
    const tree = path.join(options.dir, 'rootfs');
    if (!existsSync(path.join(tree, 'usr/lib/systemd/systemd'))) throw new UserError(`${tree} is not a built root tree`, 'run sysback build first');
    ctx.log.info('booting the tree in systemd-nspawn (no network; press Ctrl-] three times to leave)');
    const result = await ctx.runner.run(nspawnArgv({ tree, persist: options.persist, initArgs: options.initArgs }), { stdio: 'inherit', reject: false });
    return result.exitCode;
  }
  await ensureHostTools(ctx.runner, ctx.log, TOOLSETS.qemu);
  const disk = path.join(options.dir, 'disk.img');
  if (!existsSync(disk)) throw new UserError(`${disk} does not exist`, 'run sysback build first');
  const run = mkdtempSync(path.join(os.tmpdir(), 'sysback-boot-'));
  try {
    const vars = path.join(run, 'OVMF_VARS.fd');
    copyFileSync(OVMF_VARS, vars);
    ctx.log.info('booting disk.img in qemu (UEFI, software emulation; Ctrl-A X quits)');
    const result = await ctx.runner.run(qemuArgv({ disk, vars, serial: 'stdio', gridPorts: options.gridPorts, persist: options.persist }), { stdio: 'inherit', reject: false });
    return result.exitCode;
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
}
