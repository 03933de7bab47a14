// Owns `sysback build`: grid.json + build.json -> plan -> overlay -> root file system -> disk image,
// as one list of named, logged and timed steps (mkosi's shape). Each step writes only under the output
// directory or the cache; `--dry-run` stops after the plan; `--overlay-only` after the overlay.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadJsonConfig } from '../core/config/validate.ts';
import { validateGridConfig, type GridConfig } from '../core/config/grid-config.ts';
import type { Context } from '../core/context.ts';
import { defaultBuildConfig, validateBuildConfig, type BuildConfig } from './build-config.ts';
import { applyPlan, type OverlayOutputs } from './apply-plan.ts';
import { resolveAppBundle } from './app-bundle.ts';
import { defaultOverlaysDir, readOverlaySources } from './overlay-sources.ts';
import { computePlan, type Plan } from './plan.ts';
import { buildImage, type ImageOutputs } from './image-build.ts';

export interface BuildOptions {
  gridFile: string;
  outDir: string;
  configFile?: string;
  /** overrides merged over the config file (tests) */
  config?: Partial<BuildConfig>;
  overlaysDir?: string;
  appBundle?: string;
  dryRun?: boolean;
  overlayOnly?: boolean;
  sourceDateEpoch?: number;
}

export interface BuildResult {
  plan: Plan;
  overlay?: OverlayOutputs;
  image?: ImageOutputs;
  seconds: Record<string, number>;
}

export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`SOURCE_DATE_EPOCH must be a number of seconds, not ${JSON.stringify(value)}`);
  return Number(value);
}

export function loadBuildConfig(file: string | undefined, overrides: Partial<BuildConfig> = {}): BuildConfig {
  const fromFile = file ? loadJsonConfig(file, (input) => validateBuildConfig(input)) : defaultBuildConfig();
  return { ...fromFile, ...overrides };
}

export async function planBuild(ctx: Context, options: BuildOptions): Promise<{ grid: GridConfig; plan: Plan }> {
  const grid = loadJsonConfig(options.gridFile, validateGridConfig);
  const config = loadBuildConfig(options.configFile, options.config);
  const overlaysDir = options.overlaysDir ?? defaultOverlaysDir();
  const layers = [...new Set([...config.layers, ...(grid.listen === 'tor' ? ['tor'] : [])])];
  const overlay = readOverlaySources(overlaysDir, layers);
  const app = options.dryRun && !options.appBundle ? { entry: 'dist/device/sysback.mjs', chunks: [] } : await resolveAppBundle(options.appBundle);
  const plan = computePlan(grid, {
    config,
    overlay,
    appBundle: app.entry,
    appChunks: app.chunks,
    sourceDateEpoch: options.sourceDateEpoch ?? sourceDateEpochFromEnv(),
    overlayOnly: options.overlayOnly,
  });
  ctx.log.debug(`plan: ${plan.entries.length} overlay entries, ${plan.packages.length} packages`);
  return { grid, plan };
}

async function timed<T>(ctx: Context, seconds: Record<string, number>, name: string, title: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await ctx.log.step(title, fn);
  seconds[name] = Math.round((performance.now() - started) / 100) / 10;
  return result;
}

export async function runBuild(ctx: Context, options: BuildOptions): Promise<BuildResult> {
  const seconds: Record<string, number> = {};
  const { plan } = await timed(ctx, seconds, 'plan', 'computing the build plan', () => planBuild(ctx, options));
  if (options.dryRun) return { plan, seconds };
  const outDir = path.resolve(options.outDir);
  const overlay = await timed(ctx, seconds, 'overlay', `writing the overlay into ${outDir}`, async () => applyPlan(plan, outDir));
  ctx.log.info(`overlay.tar.gz sha256 ${overlay.sha256}`);
  if (options.overlayOnly) return { plan, overlay, seconds };

  const image = await buildImage(ctx, plan, overlay, outDir, (name, title, fn) => timed(ctx, seconds, name, title, fn));
  return { plan, overlay, image, seconds };
}

export function outputsPresent(outDir: string, names: readonly string[]): string[] {
  return names.filter((name) => !existsSync(path.join(outDir, name)));
}
