// Owns the image half of `sysback build`: from the overlay to rootfs.tar, vmlinuz, initrd.img and
// disk.img. Steps, in order: host tools → cached image layer (base + boot packages) → the build's tree
// (a copy of the layer with the overlay laid over it, after packages, as OpenWrt FILES= and mkosi
// ExtraTrees do) → units enabled and masked in the tree → rootfs.tar → kernel and initrd → disk.img.
// The tree stays in <out>/rootfs/ for `sysback boot --nspawn`; everything is written under <out>.
import { copyFileSync, existsSync, lstatSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import type { Context } from '../core/context.ts';
import { ensureHostTools, TOOLSETS } from './host-tools.ts';
import type { OverlayOutputs } from './apply-plan.ts';
import { makeDiskImage } from './disk-image.ts';
import { ensureImageLayer } from './image-layer.ts';
import type { Plan } from './plan.ts';

export type StepRunner = <T>(name: string, title: string, fn: () => Promise<T>) => Promise<T>;

export interface ImageOutputs {
  tree: string;
  rootfsTar: string;
  vmlinuz: string;
  initrd: string;
  disk: string;
  imageLayer: string;
  imageLayerReused: boolean;
}

/** The commands that turn a copy of the layer into this build's tree (pure; run in the tree). */
export function treeCommands(plan: Plan, overlayTarball: string, tree: string): string[][] {
  const commands: string[][] = [
    // existing directories keep their package modes; new ones get the overlay's
    ['tar', '-C', tree, '--numeric-owner', '--no-overwrite-dir', '-xzpf', overlayTarball],
    ['chroot', tree, 'systemctl', 'enable', '--quiet', ...plan.units.enable],
    ['chroot', tree, 'systemctl', 'mask', '--quiet', ...plan.units.mask],
  ];
  return commands;
}

export async function buildImage(ctx: Context, plan: Plan, overlay: OverlayOutputs, outDir: string, step: StepRunner): Promise<ImageOutputs> {
  if (process.getuid?.() !== 0) {
    throw new UserError('building the root file system and disk image needs root (mmdebstrap --mode=root, mke2fs -d)', 'run as root, or use --overlay-only');
  }
  await step('hostTools', 'checking host tools', () => ensureHostTools(ctx.runner, ctx.log, [...TOOLSETS.rootfs, ...TOOLSETS.disk]));
  const layer = await step('imageLayer', 'image layer (cached base + kernel and boot packages)', () => ensureImageLayer(ctx, plan.packages));
  ctx.log.info(layer.reused ? `reusing the cached image layer ${layer.path}` : `built the image layer in ${layer.seconds} s`);

  const tree = path.join(outDir, 'rootfs');
  await step('tree', 'laying the overlay over a copy of the image layer', async () => {
    const partial = `${tree}.partial`;
    rmSync(partial, { recursive: true, force: true });
    await ctx.runner.run(['cp', '-a', '--reflink=auto', layer.path, partial]);
    rmSync(path.join(partial, '.sysback-rootfs.json'), { force: true });
    for (const argv of treeCommands(plan, overlay.tarball, partial)) await ctx.runner.run(argv);
    rmSync(tree, { recursive: true, force: true });
    await ctx.runner.run(['mv', partial, tree]);
  });

  const rootfsTar = path.join(outDir, 'rootfs.tar');
  await step('rootfsTar', 'writing rootfs.tar', async () => {
    await ctx.runner.run([
      'tar', '-C', tree, '--numeric-owner', '--xattrs', "--xattrs-include=*", '--sort=name',
      `--mtime=@${plan.sourceDateEpoch}`, '--clamp-mtime', '-cf', `${rootfsTar}.partial`, '.',
    ], { env: { TZ: 'UTC' } });
    await ctx.runner.run(['mv', `${rootfsTar}.partial`, rootfsTar]);
  });

  const vmlinuz = path.join(outDir, 'vmlinuz');
  const initrd = path.join(outDir, 'initrd.img');
  // /vmlinuz and /initrd.img are linux-base's symlinks in the tree's root; copy what they point at
  copyFileSync(resolveInTree(tree, 'vmlinuz'), vmlinuz);
  copyFileSync(resolveInTree(tree, 'initrd.img'), initrd);
  const bootEfi = path.join(tree, 'usr/lib/systemd/boot/efi/systemd-bootx64.efi');
  if (!existsSync(bootEfi)) throw new UserError(`systemd-boot is missing from the image (${bootEfi})`, 'the image needs the systemd-boot-efi package');

  const disk = await step('disk', 'assembling disk.img (ext4 root + EFI system partition, GPT)', () =>
    makeDiskImage(ctx, plan, { tree, vmlinuz, initrd, bootEfi }, outDir),
  );
  return { tree, rootfsTar, vmlinuz, initrd, disk, imageLayer: layer.path, imageLayerReused: layer.reused };
}

function resolveInTree(tree: string, name: string): string {
  const link = path.join(tree, name);
  const stat = lstatSync(link, { throwIfNoEntry: false });
  if (!stat) throw new UserError(`the image has no /${name}`, 'the image needs linux-image-amd64');
  if (!stat.isSymbolicLink()) return link;
  const target = readlinkSync(link);
  // resolve inside the tree, never on the host
  return path.join(tree, target.startsWith('/') ? target : path.posix.join('/', target));
}
