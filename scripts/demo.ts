// `npm run demo`: the main job on a built-in default. Creates (or restarts) a local demo grid on
// 127.0.0.1 in out/demo/grid, then builds a router image for it in out/demo/image with
// `sysback build`, and stops the grid again. Installs what it needs (Debian packages with apt, the
// cached target root filesystem) on first use.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { bundle } from './bundle.ts';
import { ensureHostTools, TOOLSETS } from './host-tools.ts';
import { createLog } from '../core/log.ts';
import { createRunner } from '../core/runner.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(repo, 'out', 'demo');
const gridDir = path.join(out, 'grid');
const imageDir = path.join(out, 'image');
const log = createLog();
const started = Date.now();

await ensureHostTools(createRunner(log), log, [...new Set(Object.values(TOOLSETS).flat())]);
const cli = await bundle();
mkdirSync(out, { recursive: true });
const sysback = $({ stdio: 'inherit', verbose: false });

if (existsSync(path.join(gridDir, 'grid.json'))) {
  await sysback`node ${cli} grid start --dir ${gridDir}`;
} else {
  await sysback`node ${cli} grid init --dir ${gridDir}`;
}
try {
  const overlayOnly = process.argv.includes('--overlay-only') ? ['--overlay-only'] : [];
  await sysback`node ${cli} build --grid ${path.join(gridDir, 'grid.json')} --out ${imageDir} ${overlayOnly}`;
} finally {
  await sysback`node ${cli} grid stop --dir ${gridDir}`;
}
log.info(`demo done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
log.info(`image: ${imageDir}  (flash disk.img with dd, or try it: node dist/sysback.mjs boot ${imageDir})`);
log.info(`grid:  ${gridDir}    (node dist/sysback.mjs grid start --dir ${gridDir})`);
