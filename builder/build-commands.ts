// Owns the builder's command line: `sysback build`, `sysback boot` and `sysback install` (host only,
// in the host app). Parsing only: each action loads the module that does the work when it runs
// (mustache, the overlay, qemu handling stay unloaded otherwise), builds a Context and calls it.
// stdout carries data (the plan, --json results); progress goes to stderr through the log.
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import type { BuildOptions } from './build.ts';
import type { Plan } from './plan.ts';

const loadContext = async () => (await import('../core/context.ts')).createContext;

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function registerBuildCommands(program: Command): void {
  registerBuildCommand(program);
  registerBootAndInstallCommands(program);
}

function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description('build a router image from grid.json: overlay, overlay.tar.gz, rootfs.tar, vmlinuz, initrd.img, disk.img')
    .requiredOption('--grid <file>', 'grid.json from `sysback grid init`')
    .requiredOption('--out <dir>', 'output directory')
    .option('--config <file>', 'build.json: hostname, backup interval, retention, packages, kernel command line')
    .option('--dry-run', 'print the plan and write nothing')
    .option('--json', 'machine-readable output on stdout')
    .option('--overlay-only', 'stop after overlay/ and overlay.tar.gz')
    .option('--app <file>', "the device app's entry, its chunks/ beside it (default: dist/device/sysback.mjs, bundled now from source)")
    .option('--overlays <dir>', 'overlay source folders (default: the overlays/ shipped with sysback)')
    .action(async (opts: { grid: string; out: string; config?: string; dryRun?: boolean; json?: boolean; overlayOnly?: boolean; app?: string; overlays?: string }) => {
      const [createContext, { runBuild }] = await Promise.all([loadContext(), import('./build.ts')]);
      const ctx = createContext();
      const options: BuildOptions = {
        gridFile: opts.grid,
        outDir: opts.out,
        configFile: opts.config,
        dryRun: opts.dryRun,
        overlayOnly: opts.overlayOnly,
        appBundle: opts.app,
        overlaysDir: opts.overlays,
      };
      const result = await runBuild(ctx, options);
      if (opts.dryRun) {
        if (opts.json) writeJson(result.plan);
        else process.stdout.write(describePlan(result.plan));
        return;
      }
      if (opts.json) {
        writeJson({ outDir: opts.out, overlaySha256: result.overlay?.sha256, image: result.image, seconds: result.seconds });
      } else {
        process.stdout.write(`overlay.tar.gz sha256 ${result.overlay?.sha256}\n`);
        for (const [step, s] of Object.entries(result.seconds)) process.stdout.write(`${step}: ${s} s\n`);
      }
    });
}

function describePlan(plan: Plan): string {
  const lines = [`build plan for grid "${plan.grid}" (hostname ${plan.hostname}, layers ${plan.layers.join(', ')})`, 'overlay:'];
  for (const e of plan.entries) {
    const owner = e.kind === 'symlink' ? '' : ` ${e.mode.toString(8).padStart(4, '0')} ${e.uid}:${e.gid}`;
    const what = e.kind === 'file' ? (e.rendered ? `rendered from ${e.from}` : `from ${e.from}`) : e.kind === 'copy' ? `copy of ${e.source}` : e.kind === 'symlink' ? `-> ${e.target}` : 'directory';
    lines.push(`  ${e.path}${owner}  ${what}`);
  }
  lines.push(`units enabled: ${plan.units.enable.join(' ')}`, `units masked: ${plan.units.mask.join(' ')}`);
  lines.push(`packages (${plan.packages.length}): ${plan.packages.join(' ')}`);
  lines.push(`kernel command line: ${plan.kernelCmdline.join(' ')}`);
  for (const b of plan.boot.entries) lines.push(`boot entry "${b.title}": ${b.options}`);
  lines.push(`outputs: ${plan.outputs.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

function registerBootAndInstallCommands(program: Command): void {
  program
    .command('boot')
    .description('boot a built image with its console on this terminal: disk.img in qemu (UEFI), or the tree in systemd-nspawn')
    .argument('<dir>', 'the output directory of sysback build')
    .option('--qemu', 'boot disk.img in qemu (the default)')
    .option('--nspawn', 'boot the root tree in systemd-nspawn (no network but the grid)')
    .option('--grid <dir>', 'a local grid directory (sysback grid init --dir): the image reaches that grid, and nothing else')
    .option('--grid-port <port...>', 'loopback ports of the grid the guest may reach at 10.0.2.100:PORT (qemu)')
    .option('--persist', 'keep what the boot writes (default: a throwaway snapshot)')
    .option('--cmdline <word...>', 'extra init arguments for --nspawn, e.g. sysback.mode=recover')
    .option('--ssh-port <port>', "qemu: this port on the host's 127.0.0.1 leads to the guest's SSH server")
    .option('--kvm', 'qemu: use KVM instead of software emulation (where /dev/kvm really works)')
    .action(async (dir: string, opts: { qemu?: boolean; nspawn?: boolean; grid?: string; gridPort?: string[]; persist?: boolean; cmdline?: string[]; sshPort?: string; kvm?: boolean }) => {
      if (opts.qemu && opts.nspawn) throw new UserError('choose one of --qemu and --nspawn');
      const [createContext, { bootImage }] = await Promise.all([loadContext(), import('./boot-image.ts')]);
      const ctx = createContext();
      const gridPorts = (opts.gridPort ?? []).map((p) => {
        if (!/^\d{1,5}$/.test(p)) throw new UserError(`--grid-port ${p} is not a port number`);
        return Number(p);
      });
      if (opts.sshPort !== undefined && (!/^\d{1,5}$/.test(opts.sshPort) || opts.nspawn)) throw new UserError(`--ssh-port ${opts.sshPort}: a port number, with --qemu`);
      const code = await bootImage(ctx, { dir, mode: opts.nspawn ? 'nspawn' : 'qemu', gridPorts, persist: opts.persist, initArgs: opts.cmdline, ...(opts.grid ? { grid: opts.grid } : {}), ...(opts.sshPort ? { sshPort: Number(opts.sshPort) } : {}), kvm: opts.kvm === true });
      if (code !== 0) process.exitCode = code;
    });

  program
    .command('install')
    .description('install sysback on this running Debian box: packages, overlay, units; then ask now or arm the first boot and power off')
    .requiredOption('--grid <file>', 'grid.json from `sysback grid init`')
    .option('--config <file>', 'build.json (backup interval, retention, ...)')
    .option('--root <dir>', 'install into this root instead of / (tests, chroots)', '/')
    .option('--power-off', 'arm the first-boot hook and power off; the question comes at the next boot')
    .option('--no-prompt', 'install only: neither ask now nor power off')
    .option('--skip-apt', 'do not run apt-get (the packages are installed already)')
    .option('--app <file>', "the device app's entry, its chunks/ beside it (default: the device app bundled beside this sysback)")
    .option('--json', 'print what was done as JSON on stdout')
    .action(async (opts: { grid: string; config?: string; root: string; powerOff?: boolean; prompt: boolean; skipApt?: boolean; app?: string; json?: boolean }) => {
      const [createContext, { runInstall }] = await Promise.all([loadContext(), import('./install.ts')]);
      const ctx = createContext({ root: opts.root });
      const result = await runInstall(ctx, { gridFile: opts.grid, configFile: opts.config, powerOff: opts.powerOff, noPrompt: !opts.prompt, skipApt: opts.skipApt, appBundle: opts.app });
      if (opts.json) writeJson(result);
    });
}
