// Bundles the whole CLI into one ESM file, dist/sysback.mjs: the app that goes into the image
// (/usr/lib/sysback/sysback.mjs) and runs with no node_modules present.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(root, 'dist', 'sysback.mjs');

export async function bundle(): Promise<string> {
  await build({
    entryPoints: [path.join(root, 'cli', 'sysback.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: false,
    legalComments: 'none',
    // some dependencies still call require(); give the ESM bundle one
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __sysbackCreateRequire } from 'node:module';\nconst require = __sysbackCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await bundle();
  process.stderr.write(`bundled ${path.relative(process.cwd(), out)}\n`);
}
