// Test support (not a test): the image the boot tests share, built once per set of inputs with the real
// builder (`runBuild`) and cached under ~/.cache/sysback/test-images/<key>. A test image differs from a
// product image only by its build config (tor masked, panic=-1, no boot menu delay) and, until
// firstboot/firstboot-command.ts exists, by its app: the firstboot stand-in beside this file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBuild } from '../../builder/build.ts';
import { defaultOverlaysDir, readOverlaySources } from '../../builder/overlay-sources.ts';
import { IMAGE_PACKAGES } from '../../builder/plan.ts';
import { imageLayerKey, imageLayerSpec } from '../../builder/image-layer.ts';
import { cacheRoot, DEVICE_PACKAGES } from '../../builder/target-rootfs.ts';
import { createContext } from '../../core/context.ts';
import type { GridConfig } from '../../core/config/grid-config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

export const TEST_GRID: GridConfig = {
  format: 'sysback-grid/1',
  name: 'bootgrid',
  introducers: [{ name: 'intro-1', furl: 'pb://aaaabbbbccccdddd@tcp:127.0.0.1:41001/introducer' }],
  publicDirectory: 'URI:DIR2:abcdefgh:ijklmnop',
  shares: { needed: 1, happy: 1, total: 1 },
  listen: 'tcp',
  transport: 'webapi',
};

export const TEST_BUILD_CONFIG = { maskTor: true, kernelCmdline: ['panic=-1'], bootMenuTimeout: 0 };

export interface TestImage {
  dir: string;
  built: boolean;
  seconds: Record<string, number>;
}

function sourcesDigest(app: string): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ grid: TEST_GRID, config: TEST_BUILD_CONFIG }));
  hash.update(imageLayerKey(imageLayerSpec([...DEVICE_PACKAGES, ...IMAGE_PACKAGES])));
  hash.update(JSON.stringify(readOverlaySources(defaultOverlaysDir(), ['base', 'image', 'tor'])));
  for (const file of readdirSync(path.join(repo, 'builder')).sort()) hash.update(readFileSync(path.join(repo, 'builder', file)));
  hash.update(readFileSync(app));
  return hash.digest('hex').slice(0, 16);
}

export async function ensureTestImage(): Promise<TestImage> {
  const ctx = createContext();
  // the image carries the device app only (dist/device/: the entry and its chunks)
  const { bundle, DEVICE_APP } = (await import(path.join(repo, 'scripts', 'bundle.ts'))) as { bundle(): Promise<string>; DEVICE_APP: string };
  await bundle();
  const app = DEVICE_APP;
  const key = sourcesDigest(app);
  const top = path.join(cacheRoot(), 'test-images');
  const dir = path.join(top, key);
  if (existsSync(path.join(dir, '.complete'))) return { dir, built: false, seconds: {} };
  mkdirSync(top, { recursive: true });
  // keep one test image: older keys are removed (never another worker's partial of this key)
  for (const entry of readdirSync(top)) if (!entry.startsWith(key)) rmSync(path.join(top, entry), { recursive: true, force: true });
  const partial = `${dir}.partial-${process.pid}`;
  mkdirSync(partial, { recursive: true });
  const gridFile = path.join(partial, 'grid.json');
  writeFileSync(gridFile, JSON.stringify(TEST_GRID));
  const result = await runBuild(ctx, { gridFile, outDir: partial, config: TEST_BUILD_CONFIG, appBundle: app });
  writeFileSync(path.join(partial, '.complete'), `${JSON.stringify(result.seconds)}\n`);
  try {
    renameSync(partial, dir);
  } catch {
    // another worker finished the same image first: use theirs
    rmSync(partial, { recursive: true, force: true });
  }
  return { dir, built: true, seconds: result.seconds };
}
