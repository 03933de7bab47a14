// Owns the cached image layer: the target root filesystem (builder/target-rootfs.ts, never written)
// plus what a bootable image adds (kernel, udev, login, ...), built once with mmdebstrap
// --variant=custom from a copy of the cached base and kept in ~/.cache/sysback/image/, keyed by the
// base's key and the image's package list. Same package sources as the base for every build (a copied
// tree brings its own sources.list; we pass the same mirror line, see notes/image-boot.md pitfall 8).
// Contract: like the base, a layer is complete only once its stamp exists; half-built layers are removed.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { buildCachedTree } from './cache-build.ts';
import { cacheRoot, defaultSpec, ensureTargetRootfs, rootfsPath, specKey, STAMP, type RootfsSpec } from './target-rootfs.ts';

export interface ImageLayerSpec {
  base: RootfsSpec;
  /** packages installed on top of the base */
  packages: string[];
}

export function imageLayerSpec(allPackages: readonly string[], base: RootfsSpec = defaultSpec()): ImageLayerSpec {
  const inBase = new Set(base.packages);
  return { base, packages: [...new Set(allPackages.filter((p) => !inBase.has(p)))].sort() };
}

export function imageLayerKey(spec: ImageLayerSpec): string {
  return createHash('sha256').update(JSON.stringify({ base: specKey(spec.base), packages: spec.packages })).digest('hex').slice(0, 16);
}

export function imageLayerPath(spec: ImageLayerSpec): string {
  return path.join(cacheRoot(), 'image', `${spec.base.suite}-${imageLayerKey(spec)}`);
}

/** The mmdebstrap argv that builds the layer from a copy of `baseDir` (pure; shown by tests). */
export function imageLayerArgv(spec: ImageLayerSpec, baseDir: string, target: string): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'mmdebstrap', '--mode=root', '--variant=custom', '--quiet',
    // the cached base, without its device nodes (mmdebstrap makes /dev) and without its stamp
    `--setup-hook=tar -C ${q(baseDir)} --numeric-owner --xattrs --xattrs-include='*' --exclude=./dev/* --exclude=./${STAMP} -cf - . | tar -C "$1" --numeric-owner --xattrs --xattrs-include='*' -xpf -`,
    `--include=${spec.packages.join(',')}`,
    '--components=main',
    // the host's resolver and hostname must not leak into the image; the overlay sets the hostname;
    // SSH host keys made by openssh-server's postinst would be shared by every router: each makes its
    // own at first boot (sysback-ssh-keygen.service), and a recovered one gets its old keys back
    '--customize-hook=rm -f "$1"/etc/resolv.conf "$1"/etc/ssh/ssh_host_*; : > "$1"/etc/machine-id',
    spec.base.suite, target, `deb ${spec.base.mirror} ${spec.base.suite} main`,
  ];
}

export interface ImageLayer {
  path: string;
  reused: boolean;
  seconds: number;
}

export async function ensureImageLayer(ctx: Context, allPackages: readonly string[]): Promise<ImageLayer> {
  const started = performance.now();
  const base = await ensureTargetRootfs(async (argv) => {
    await ctx.runner.run(argv, { stdio: 'inherit', hint: 'mmdebstrap needs network access to the Debian mirror' });
  }, defaultSpec(), (line) => ctx.log.info(line));
  const spec = imageLayerSpec(allPackages);
  const dir = imageLayerPath(spec);
  const built = await buildCachedTree(
    dir,
    STAMP,
    async (partial) => {
      ctx.log.info(`building the image layer (${spec.packages.join(' ')}) on ${base.path}`);
      await ctx.runner.run(imageLayerArgv(spec, base.path, partial), { stdio: 'inherit', hint: 'mmdebstrap needs network access to the Debian mirror' });
    },
    () => `${JSON.stringify({ base: specKey(spec.base), basePath: rootfsPath(spec.base), packages: spec.packages, key: imageLayerKey(spec), built: new Date().toISOString() }, null, 2)}\n`,
    { log: (line) => ctx.log.info(line) },
  );
  return { path: dir, reused: built.reused, seconds: Math.round((performance.now() - started) / 100) / 10 };
}
