// Owns the build plan: a pure function from (grid.json, build config, overlay sources) to everything
// the build will write: each overlay entry with its mode and owner (templates already rendered, so
// `--dry-run` shows the real device config), the units to enable and mask, the image's packages, the
// kernel command line and boot menu entries, and the outputs. Nothing here touches the disk: the
// plan is printed by --dry-run, asserted by unit tests, and written only by apply-plan.ts.
import type { GridConfig } from '../core/config/grid-config.ts';
import { DEVICE } from '../core/device-paths.ts';
import { UserError } from '../core/errors.ts';
import type { BuildConfig } from './build-config.ts';
import type { OverlayInput } from './overlay-sources.ts';
import { renderStrict } from './strict-render.ts';
import { DEVICE_PACKAGES } from './target-rootfs.ts';

export const PLAN_FORMAT = 'sysback-build-plan/1';

/** Packages a bootable trixie image needs beyond the device's own (notes/image-boot.md §1). */
export const IMAGE_PACKAGES: readonly string[] = [
  'linux-image-amd64', 'udev', 'login', 'e2fsprogs', 'dbus', 'systemd-boot-efi', 'procps', 'systemd-repart',
  // admin access (DESIGN §5): the router is administered over SSH
  'openssh-server',
];

/** Fixed default for SOURCE_DATE_EPOCH, so two builds with the same inputs match without it set. */
export const DEFAULT_SOURCE_DATE_EPOCH = 1767225600; // 2026-01-01T00:00:00Z

export type PlanEntry =
  | { kind: 'dir'; path: string; mode: number; uid: number; gid: number }
  | { kind: 'file'; path: string; mode: number; uid: number; gid: number; content: string; from: string; rendered: boolean }
  | { kind: 'copy'; path: string; mode: number; uid: number; gid: number; source: string }
  | { kind: 'symlink'; path: string; target: string; uid: number; gid: number };

export interface BootEntry {
  id: string;
  title: string;
  options: string;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  grid: string;
  hostname: string;
  layers: string[];
  sourceDateEpoch: number;
  entries: PlanEntry[];
  units: { enable: string[]; mask: string[] };
  packages: string[];
  kernelCmdline: string[];
  boot: { timeoutSeconds: number; entries: BootEntry[] };
  rootSizeMiB: number;
  outputs: string[];
}

export interface PlanOptions {
  config: BuildConfig;
  overlay: OverlayInput;
  /** host path of the device app's entry (dist/device/sysback.mjs), laid as DEVICE.app */
  appBundle: string;
  /** host paths of the chunks the entry loads (dist/device/chunks/*.mjs), laid in chunks/ beside it */
  appChunks?: readonly string[];
  sourceDateEpoch?: number;
  overlayOnly?: boolean;
}

/** The first-boot unit's ordering: after network (and Tor), before every getty and normal service. */
export function firstbootOrdering(tor: boolean, serialConsole: string) {
  const torUnits = tor ? ['tor@default.service'] : [];
  return {
    wants: ['network-online.target', 'getty-pre.target', ...torUnits],
    after: ['network-online.target', ...torUnits],
    before: [
      'getty-pre.target', 'getty.target', 'getty@tty1.service', `serial-getty@${serialConsole}.service`,
      ...(serialConsole === 'ttyS0' ? [] : ['serial-getty@ttyS0.service']),
      'console-getty.service', 'container-getty@0.service', 'systemd-user-sessions.service',
      // not ssh.service: a router whose console nobody watches must be reachable over SSH while
      // the question waits (`sysback firstboot` over SSH answers it)
      'cron.service',
    ],
  };
}

/** Values the overlay templates may use; a template naming anything else fails the build. */
export function templateView(grid: GridConfig, config: BuildConfig): Record<string, unknown> {
  const tor = grid.listen === 'tor';
  const ordering = firstbootOrdering(tor, config.serialConsole);
  const view: Record<string, unknown> = {
    hostname: config.hostname,
    grid_name: grid.name,
    grid_json: indent(JSON.stringify(grid, null, 2), '  '),
    transport: config.transport ?? grid.transport,
    interval_hours: config.intervalHours,
    retention: config.retention,
    reserved_space: config.reservedSpace,
    tor,
    firstboot_wants: ordering.wants.join(' '),
    firstboot_after: ordering.after.join(' '),
    firstboot_before: ordering.before.join(' '),
  };
  if (tor && grid.tor) {
    view.socks_port = grid.tor.socksPort;
    view.control_port = grid.tor.controlPort.replace(/^tcp:/, '');
    // tests and demos: the project's private Tor network, never the public one (DESIGN §7)
    view.test_network = grid.tor.testNetwork !== undefined;
    view.dir_authorities = (grid.tor.testNetwork?.dirAuthorities ?? []).map((line) => ({ line }));
    view.socks5_proxy = grid.tor.testNetwork?.socks5Proxy ?? false;
  }
  return view;
}

function indent(text: string, pad: string): string {
  return text.split('\n').map((line, i) => (i === 0 ? line : pad + line)).join('\n');
}

export function kernelCmdline(config: BuildConfig): string[] {
  // The last console= becomes /dev/console, where the first-boot question is asked.
  // systemd.tty.*: a fixed size for the serial console, so systemd does not query the terminal with
  // cursor-position requests whose late answers show up as junk around the first-boot question
  const tty = config.serialConsole;
  return [
    'root=LABEL=root', 'rw', 'console=tty0', `console=${tty},115200`, 'quiet', 'panic=10',
    `systemd.tty.rows.${tty}=24`, `systemd.tty.columns.${tty}=80`, ...config.kernelCmdline,
  ];
}

function parseMode(text: string): number {
  return parseInt(text, 8);
}

function ownerOf(text: string): { uid: number; gid: number } {
  const [uid, gid] = text.split(':').map(Number);
  return { uid: uid!, gid: gid! };
}

function parents(devicePath: string): string[] {
  const parts = devicePath.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

export function computePlan(grid: GridConfig, options: PlanOptions): Plan {
  const { config, overlay } = options;
  const tor = grid.listen === 'tor';
  const layers = [...config.layers];
  if (tor && !layers.includes('tor')) layers.push('tor');
  const missingLayers = layers.filter((l) => !overlay.layers.includes(l));
  if (missingLayers.length > 0) throw new UserError(`overlay layers not read: ${missingLayers.join(', ')}`);
  const view = templateView(grid, config);
  const { manifest } = overlay;
  const metaFor = (devicePath: string, kind: 'file' | 'dir') => {
    const entry = manifest.entries[devicePath];
    return {
      mode: parseMode(entry?.mode ?? manifest.defaults[kind]),
      ...ownerOf(entry?.owner ?? manifest.defaults.owner),
    };
  };

  // later layers win, as with OpenWrt FILES= over packages
  const byPath = new Map<string, PlanEntry>();
  const put = (entry: PlanEntry) => {
    const previous = byPath.get(entry.path);
    if (previous && (previous.kind === 'dir') !== (entry.kind === 'dir')) {
      throw new UserError(`overlay entry ${entry.path} is a directory in one layer and not in another`);
    }
    byPath.set(entry.path, entry);
  };
  for (const source of overlay.sources) {
    if (!layers.includes(source.layer)) continue;
    if (source.kind === 'dir') put({ kind: 'dir', path: source.devicePath, ...metaFor(source.devicePath, 'dir') });
    else if (source.kind === 'symlink') put({ kind: 'symlink', path: source.devicePath, target: source.target, ...ownerOf(manifest.defaults.owner) });
    else {
      const content = source.template ? renderStrict(source.text, view, `overlays/${source.layer}${source.devicePath}.mustache`) : source.text;
      if (source.template && source.devicePath.endsWith('.json')) {
        try {
          JSON.parse(content);
        } catch (error) {
          throw new UserError(`overlays/${source.layer}${source.devicePath}.mustache does not render to JSON: ${(error as Error).message}`);
        }
      }
      put({ kind: 'file', path: source.devicePath, content, from: `${source.layer}${source.devicePath}${source.template ? '.mustache' : ''}`, rendered: source.template, ...metaFor(source.devicePath, 'file') });
    }
  }
  put({ kind: 'copy', path: DEVICE.app, source: options.appBundle, ...metaFor(DEVICE.app, 'file') });
  const chunkDir = `${DEVICE.app.slice(0, DEVICE.app.lastIndexOf('/'))}/chunks`;
  for (const chunk of options.appChunks ?? []) {
    const devicePath = `${chunkDir}/${chunk.slice(chunk.lastIndexOf('/') + 1)}`;
    put({ kind: 'copy', path: devicePath, source: chunk, ...metaFor(devicePath, 'file') });
  }
  if (config.adminKeys.length > 0) {
    // the owner's keys from the build config: SSH works from the first boot on, question or not
    put({ kind: 'dir', path: '/root/.ssh', mode: 0o700, uid: 0, gid: 0 });
    put({ kind: 'file', path: '/root/.ssh/authorized_keys', mode: 0o600, uid: 0, gid: 0, content: `${config.adminKeys.join('\n')}\n`, from: 'build config adminKeys', rendered: true });
  }
  // every parent directory is an explicit entry, so the tar carries its mode and owner
  for (const path of [...byPath.keys()]) {
    for (const parent of parents(path)) if (!byPath.has(parent)) put({ kind: 'dir', path: parent, ...metaFor(parent, 'dir') });
  }
  const entries = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const mask = ['systemd-firstboot.service'];
  if (config.maskTor) mask.push('tor.service', 'tor@default.service');
  const cmdline = kernelCmdline(config);
  const outputs = ['overlay/', 'overlay.tar.gz', 'plan.json'];
  if (!options.overlayOnly) outputs.push('rootfs.tar', 'vmlinuz', 'initrd.img', 'disk.img');
  return {
    format: PLAN_FORMAT,
    grid: grid.name,
    hostname: config.hostname,
    layers,
    sourceDateEpoch: options.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH,
    entries,
    units: {
      enable: [
        'sysback-firstboot.service', 'sysback-card-at-login.service', 'sysback-tahoe@private.service', 'sysback-tahoe@public.service', 'systemd-networkd.service',
        ...(layers.includes('image') ? ['ssh.service', 'sysback-ssh-keygen.service'] : []),
      ],
      mask,
    },
    packages: [...new Set([...DEVICE_PACKAGES, ...IMAGE_PACKAGES, ...config.extraPackages])].sort(),
    kernelCmdline: cmdline,
    boot: {
      timeoutSeconds: config.bootMenuTimeout,
      entries: [
        { id: 'sysback', title: `sysback router (${config.hostname})`, options: cmdline.join(' ') },
        { id: 'sysback-recover', title: 'Recover this router from the grid', options: [...cmdline, 'sysback.mode=recover'].join(' ') },
      ],
    },
    rootSizeMiB: config.rootSizeMiB,
    outputs,
  };
}
