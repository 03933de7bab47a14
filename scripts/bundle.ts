// Bundles the two apps with esbuild; both run with no node_modules present.
//   dist/sysback.mjs         the host app (cli/sysback.ts): every command, one file; `npm run build`
//                            and the package's `bin`.
//   dist/device/sysback.mjs  the device app (cli/sysback-device.ts): the router's commands only, split
//   dist/device/chunks/      into chunks so each command loads only its own code. The image carries
//                            this directory as /usr/lib/sysback/ (builder/app-bundle.ts finds it).
// Why split the device app: measured for `sysback backup --if-due` with nothing due, a single file
// whose heavy parts are lazy still makes Node read and pre-parse all 2.4 MB (63 MB RSS); the chunks
// load only commander, the state and the config (55 MB; docs/architecture.md "Layers").
import { build, type BuildOptions } from 'esbuild';
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const HOST_APP = path.join(root, 'dist', 'sysback.mjs');
export const DEVICE_APP_DIR = path.join(root, 'dist', 'device');
export const DEVICE_APP = path.join(DEVICE_APP_DIR, 'sysback.mjs');

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: false,
  legalComments: 'none',
  // some dependencies still call require(); give every ESM output one
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __sysbackCreateRequire } from 'node:module';\nconst require = __sysbackCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
};

/**
 * How the device app is built (ESM chunks, a require() for CommonJS dependencies), for ENTRY into
 * OUTDIR; the tests that check what the bundle loads and that it runs build with these same options.
 */
export function deviceBuildOptions(entryPoints: Record<string, string>, outdir: string): BuildOptions {
  return {
    ...common,
    absWorkingDir: root,
    entryPoints,
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
  };
}

/**
 * The device app alone: dist/device/sysback.mjs and its chunks. Rebuilt in place (a simulated router
 * may be copying the directory meanwhile: same sources give the same files), then chunks of an older
 * build are removed.
 */
export async function bundleDevice(): Promise<string> {
  const result = await build({ ...deviceBuildOptions({ sysback: path.join(root, 'cli', 'sysback-device.ts') }, DEVICE_APP_DIR), metafile: true });
  const written = new Set(Object.keys(result.metafile.outputs).map((o) => path.resolve(root, o)));
  const chunks = path.join(DEVICE_APP_DIR, 'chunks');
  for (const name of readdirSync(chunks)) if (!written.has(path.join(chunks, name))) rmSync(path.join(chunks, name), { force: true });
  chmodSync(DEVICE_APP, 0o755);
  return DEVICE_APP;
}

/** Both apps; returns the host app, the CLI that runs every command. */
export async function bundle(): Promise<string> {
  await Promise.all([
    build({ ...common, entryPoints: [path.join(root, 'cli', 'sysback.ts')], outfile: HOST_APP }),
    bundleDevice(),
  ]);
  chmodSync(HOST_APP, 0o755);
  return HOST_APP;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await bundle();
  process.stderr.write(`bundled ${path.relative(process.cwd(), out)} (host) and ${path.relative(process.cwd(), DEVICE_APP)} (device)\n`);
}
