// Owns `sysback install`: the seed's installation script, for a running Debian box (or, for tests and
// chroots, a root directory). In order: preflight (Python and Node present and new enough, or about
// to be installed), apt-get the device's packages, lay the "base" overlay (sysback itself, its config
// and units; never the image-only files such as fstab), enable the units, then either ask the
// first-boot question now or arm the hook and power off (`--power-off`, the seed's "power-off option").
// apt, the first-boot run and the power-off are injected, so tests run the whole script on a temp root
// without touching the host's packages or power.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { DEVICE } from '../core/device-paths.ts';
import { UserError } from '../core/errors.ts';
import { applyPlan } from './apply-plan.ts';
import { planBuild } from './build.ts';
import { DEVICE_PACKAGES } from './target-rootfs.ts';

export const MIN_NODE_MAJOR = 20;
export const MIN_PYTHON = [3, 11] as const;

export interface InstallOptions {
  gridFile: string;
  configFile?: string;
  appBundle?: string;
  /** arm the hook and power off instead of asking now */
  powerOff?: boolean;
  /** skip the apt-get step (packages installed by other means) */
  skipApt?: boolean;
  /** lay everything but neither ask nor power off */
  noPrompt?: boolean;
}

export interface InstallDeps {
  /** installs Debian packages into ctx.root */
  apt(ctx: Context, packages: readonly string[]): Promise<void>;
  /** runs `sysback firstboot` on the installed system, with the console */
  firstboot(ctx: Context): Promise<void>;
  powerOff(ctx: Context): Promise<void>;
}

export const realInstallDeps: InstallDeps = {
  async apt(ctx, packages) {
    const chroot = path.resolve(ctx.root) === '/' ? [] : ['chroot', ctx.root];
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    await ctx.runner.run([...chroot, 'apt-get', 'update', '-q'], { env, stdio: 'inherit' });
    await ctx.runner.run([...chroot, 'apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages], { env, stdio: 'inherit', hint: 'check the Debian sources of this box (trixie is needed for tahoe-lafs 1.20)' });
  },
  async firstboot(ctx) {
    const argv = path.resolve(ctx.root) === '/' ? [DEVICE.bin, 'firstboot'] : ['chroot', ctx.root, DEVICE.bin, 'firstboot'];
    await ctx.runner.run(argv, { stdio: 'inherit' });
  },
  async powerOff(ctx) {
    if (path.resolve(ctx.root) !== '/') throw new UserError('--power-off only makes sense on the running box (--root /)');
    await ctx.runner.run(['systemctl', 'poweroff']);
  },
};

export interface Preflight {
  node?: string;
  python?: string;
  problems: string[];
}

function versionAtLeast(text: string, minimum: readonly number[]): boolean {
  const parts = text.replace(/^v/, '').split('.').map((p) => parseInt(p, 10));
  for (let i = 0; i < minimum.length; i++) {
    const have = parts[i] ?? 0;
    if (have !== minimum[i]) return have > minimum[i]!;
  }
  return true;
}

/** Node and Python as found in ctx.root (run inside it when it is not `/`). */
export async function preflight(ctx: Context): Promise<Preflight> {
  const chroot = path.resolve(ctx.root) === '/' ? [] : ['chroot', ctx.root];
  const version = async (program: string, args: string[], pattern: RegExp): Promise<string | undefined> => {
    if (!existsSync(ctx.path(`/usr/bin/${program}`))) return undefined;
    const result = await ctx.runner.run([...chroot, `/usr/bin/${program}`, ...args], { reject: false });
    return pattern.exec(`${result.stdout}${result.stderr}`)?.[1];
  };
  const node = await version('node', ['--version'], /v(\d+\.\d+\.\d+)/);
  const python = await version('python3', ['--version'], /Python (\d+\.\d+\.\d+)/);
  const problems: string[] = [];
  if (!node) problems.push('Node.js is not installed (Debian package nodejs)');
  else if (!versionAtLeast(node, [MIN_NODE_MAJOR])) problems.push(`Node.js ${node} is too old (${MIN_NODE_MAJOR} or newer is needed)`);
  if (!python) problems.push('Python 3 is not installed (Tahoe-LAFS needs it)');
  else if (!versionAtLeast(python, MIN_PYTHON)) problems.push(`Python ${python} is too old (${MIN_PYTHON.join('.')} or newer is needed)`);
  return { node, python, problems };
}

export interface InstallResult {
  preflight: Preflight;
  aptPackages: string[];
  laid: string[];
  enabled: string[];
  then: 'asked' | 'powered-off' | 'nothing';
}

export async function runInstall(ctx: Context, options: InstallOptions, deps: InstallDeps = realInstallDeps): Promise<InstallResult> {
  if (options.powerOff && options.noPrompt) throw new UserError('--power-off and --no-prompt exclude each other');
  const log = ctx.log;
  let checked = await log.step('checking Python and Node', () => preflight(ctx));
  const aptPackages = options.skipApt ? [] : [...DEVICE_PACKAGES];
  if (!options.skipApt) {
    await log.step(`installing ${aptPackages.length} packages with apt-get`, () => deps.apt(ctx, aptPackages));
    checked = await preflight(ctx);
  }
  if (checked.problems.length > 0) {
    throw new UserError(`this system cannot run sysback: ${checked.problems.join('; ')}`, options.skipApt ? 'install them, or run without --skip-apt' : 'check the apt-get output above');
  }
  log.info(`Node.js ${checked.node}, Python ${checked.python}`);

  // the "base" layer only: a running box keeps its own fstab, hostname and network
  const staging = mkdtempSync(path.join(os.tmpdir(), 'sysback-install-'));
  try {
    const { plan } = await planBuild(ctx, {
      gridFile: options.gridFile,
      outDir: staging,
      configFile: options.configFile,
      config: { layers: ['base'] },
      appBundle: options.appBundle,
      overlayOnly: true,
    });
    const overlay = await log.step('writing the overlay', async () => applyPlan(plan, staging));
    await log.step(`laying the overlay into ${ctx.root}`, () =>
      ctx.runner.run(['tar', '-C', ctx.root, '--numeric-owner', '--no-overwrite-dir', '-xzpf', overlay.tarball]),
    );
    const enabled = plan.units.enable.filter((unit) => unit.startsWith('sysback-'));
    await log.step('enabling the first-boot hook and the Tahoe nodes', async () => {
      await ctx.runner.run(['systemctl', `--root=${ctx.root}`, 'enable', '--quiet', ...enabled]);
      if (path.resolve(ctx.root) === '/') await ctx.runner.run(['systemctl', 'daemon-reload'], { reject: false });
    });
    const laid = plan.entries.filter((e) => e.kind !== 'dir').map((e) => e.path);
    const result: Omit<InstallResult, 'then'> = { preflight: checked, aptPackages, laid, enabled };
    if (options.noPrompt) return { ...result, then: 'nothing' };
    if (options.powerOff) {
      if (existsSync(ctx.path(DEVICE.state))) log.warn(`${DEVICE.state} exists: this router is configured, so the next boot will not ask`);
      log.info('the first-boot hook is armed: powering off; the question comes at the next boot');
      await deps.powerOff(ctx);
      return { ...result, then: 'powered-off' };
    }
    await deps.firstboot(ctx);
    return { ...result, then: 'asked' };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
