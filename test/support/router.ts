// A simulated router (DESIGN §6): an overlayfs mount whose lower layers are the device app and the
// cached target root filesystem, and whose upper layer is this router's own directory. Device
// commands run inside it with chroot (each in a private mount namespace with /proc and /dev), so they
// use the target's own node, tahoe, sshfs and rsync. "Losing the router" deletes its upper directory.
// Every router gets its own free ports, so several can run side by side on one grid.
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deviceConfigFromGrid, type DeviceConfig } from '../../core/config/device-config.ts';
import type { GridConfig } from '../../core/config/grid-config.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { createLog } from '../../core/log.ts';
import { freePorts } from '../../core/ports.ts';
import { stopProcess } from '../../core/processes.ts';
import { createRunner, type RunResult } from '../../core/runner.ts';
import { DEVICE_APP_DIR, ensureBundle } from './cli.ts';
import { targetRootfs } from './target.ts';

const runner = createRunner(createLog({ level: 'warn' }));

const CHROOT_SCRIPT = [
  'set -e',
  'm=$1; shift',
  'mount -t proc proc "$m/proc"',
  'mount --rbind /dev "$m/dev"',
  'exec chroot "$m" "$@"',
].join('\n');

let appLayer: Promise<string> | undefined;

/** A lower layer holding only the device app (the entry and its chunks), as the image has it. */
function bundledAppLayer(): Promise<string> {
  appLayer ??= (async () => {
    await ensureBundle();
    const layer = mkdtempSync(path.join(os.tmpdir(), 'sysback-app-'));
    mkdirSync(path.join(layer, 'usr/bin'), { recursive: true });
    cpSync(DEVICE_APP_DIR, path.dirname(path.join(layer, DEVICE.app)), { recursive: true });
    writeFileSync(path.join(layer, DEVICE.bin), `#!/bin/sh\nexec /usr/bin/node --max-semi-space-size=1 ${DEVICE.app} "$@"\n`);
    chmodSync(path.join(layer, DEVICE.bin), 0o755);
    process.on('exit', () => rmSync(layer, { recursive: true, force: true }));
    return layer;
  })();
  return appLayer;
}

export interface RouterOptions {
  grid?: GridConfig;
  transport?: 'mount' | 'webapi';
  retention?: number;
  /** this router's private node is a storage server, as the image ships it (default: it offers none) */
  holdShares?: boolean;
  /** the router's own disk (its upper layer) is a tmpfs of this many MiB, so it can fill up */
  diskMiB?: number;
}

export class SimulatedRouter {
  readonly name: string;
  readonly dir: string;
  readonly root: string;
  private mounted = false;

  private constructor(name: string, dir: string) {
    this.name = name;
    this.dir = dir;
    this.root = path.join(dir, 'root');
  }

  /** Boots a fresh router (mounts its root); with `grid`, writes a device config with free ports. */
  static async create(name: string, options: RouterOptions = {}): Promise<SimulatedRouter> {
    const router = new SimulatedRouter(name, mkdtempSync(path.join(os.tmpdir(), `sysback-router-${name}-`)));
    await router.mount(options.diskMiB);
    if (options.grid) await router.writeConfig(options.grid, options);
    return router;
  }

  private disk = false;

  private async mount(diskMiB?: number): Promise<void> {
    const [app, rootfs] = await Promise.all([bundledAppLayer(), targetRootfs()]);
    if (diskMiB) {
      await runner.run(['mount', '-t', 'tmpfs', '-o', `size=${diskMiB}m,mode=0755`, `sysback-disk-${this.name}`, this.dir]);
      this.disk = true;
    }
    for (const sub of ['upper', 'work', 'root']) mkdirSync(path.join(this.dir, sub), { recursive: true });
    await runner.run([
      'mount', '-t', 'overlay', `sysback-router-${this.name}`,
      '-o', `lowerdir=${app}:${rootfs},upperdir=${this.dir}/upper,workdir=${this.dir}/work`, this.root,
    ]);
    this.mounted = true;
  }

  async writeConfig(grid: GridConfig, options: RouterOptions = {}): Promise<DeviceConfig> {
    const [webPrivate, webPublic, sftpPrivate, sftpPublic, tubPort] = await freePorts(5);
    const config = deviceConfigFromGrid(grid, {
      transport: options.transport ?? grid.transport,
      backup: { intervalHours: 240, retention: options.retention ?? 5 },
      tahoe: {
        // Test routers come and go by the dozen on one shared grid, and a router's shares vanish with
        // it: a directory whose shares sat on lost routers would be unrecoverable for the next test
        // (CI saw it: HTTP 410 UnrecoverableFileError on another file's identity directory). A reserve
        // cannot keep them off: Tahoe honours reserved_space for immutable shares only, and takes a
        // directory's mutable shares whatever the reserve. So a test router offers no storage, unless
        // the test is about routers holding shares (holdShares: backup-storage-down on its own grid;
        // the e2e image holds shares as shipped).
        reservedSpace: '100M',
        offerStorage: options.holdShares === true,
        webPorts: { private: webPrivate!, public: webPublic! },
        sftpPorts: { private: sftpPrivate!, public: sftpPublic! },
        serverWaitSeconds: 60,
        tubPort: tubPort!,
      },
    });
    this.write(DEVICE.config, JSON.stringify(config, null, 2) + '\n');
    return config;
  }

  config(): DeviceConfig {
    return JSON.parse(this.read(DEVICE.config));
  }

  /** Host path of a device path. */
  path(devicePath: string): string {
    return path.join(this.root, devicePath);
  }

  read(devicePath: string): string {
    return readFileSync(this.path(devicePath), 'utf8');
  }

  write(devicePath: string, content: string | Buffer, mode = 0o644): void {
    const file = this.path(devicePath);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content, { mode });
    chmodSync(file, mode);
  }

  exists(devicePath: string): boolean {
    return existsSync(this.path(devicePath));
  }

  /** Runs a program inside the router. */
  async exec(argv: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
    const env = Object.entries({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', ...options.env }).map(([k, v]) => `${k}=${v}`);
    return runner.run(
      ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', CHROOT_SCRIPT, 'router', this.root, 'env', '-i', ...env, ...argv],
      { reject: false, timeoutMs: 900_000, ...(options.input !== undefined ? { input: options.input } : {}) },
    );
  }

  /** Runs `sysback ARGS` inside the router, as the device would. */
  sysback(args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
    return this.exec([DEVICE.bin, ...args], options);
  }

  /** Stops the router's Tahoe nodes by the PIDs they recorded. */
  async stopNodes(): Promise<void> {
    for (const area of ['private', 'public'] as const) {
      const pidFile = this.path(`${DEVICE.tahoe(area)}.pid`);
      if (!existsSync(pidFile)) continue;
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) await stopProcess(pid, `tahoe run --allow-stdin-close ${DEVICE.tahoe(area)}`);
      rmSync(pidFile, { force: true });
    }
  }

  /** The router dies: its processes stop and its own files are gone for good. */
  async lose(): Promise<void> {
    await this.destroy();
  }

  async destroy(): Promise<void> {
    await this.stopNodes();
    if (this.mounted) {
      await runner.run(['umount', this.root], { reject: false });
      this.mounted = false;
    }
    if (this.disk) {
      await runner.run(['umount', this.dir], { reject: false });
      this.disk = false;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
