// The device app loads per command (docs/architecture.md "Layers"): bundled as scripts/bundle.ts does
// (in memory, esbuild's metafile), what the entry loads at start, and what cron's hourly
// `backup --if-due` adds when nothing is due, hold no openpgp, mustache, tar, process gateway,
// builder, local grid or host installer; and the device app holds no host module at all.
import test from 'ava';
import { build, type Metafile } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deviceBuildOptions } from '../../../scripts/bundle.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let metafile: Promise<Metafile> | undefined;

/** Bundled once for every test here. */
function deviceMetafile(): Promise<Metafile> {
  metafile ??= bundleInMemory();
  return metafile;
}

async function bundleInMemory(): Promise<Metafile> {
  const result = await build({
    ...deviceBuildOptions({ sysback: path.join(REPO, 'cli', 'sysback-device.ts') }, '/nonexistent/device'),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return result.metafile;
}

/** The inputs of `output` and of every output it imports statically (what Node loads with it). */
function loadedWith(meta: Metafile, output: string): string[] {
  const seen = new Set<string>();
  const todo = [output];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const imp of meta.outputs[next]!.imports) if (imp.kind === 'import-statement' && meta.outputs[imp.path]) todo.push(imp.path);
  }
  return [...seen].flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
}

function outputFor(meta: Metafile, entryPoint: string): string {
  const found = Object.entries(meta.outputs).find(([, o]) => o.entryPoint === entryPoint);
  if (!found) throw new Error(`no output for ${entryPoint}`);
  return found[0];
}

const HEAVY = [/node_modules\/openpgp\//, /node_modules\/mustache\//, /node_modules\/tar\//, /node_modules\/execa\//, /^builder\//, /^grid\/local-grid\.ts$/, /^grid\/tor-network\.ts$/, /^scripts\//];

const heavyIn = (inputs: string[]) => inputs.filter((i) => HEAVY.some((h) => h.test(i)));

test('the device app holds no host module: no builder, scripts, local grid, Tor network or mustache', async (t) => {
  const meta = await deviceMetafile();
  const inputs = Object.keys(meta.inputs);
  t.deepEqual(inputs.filter((i) => /^builder\/|^scripts\/|^grid\/(local-grid|tor-network|grid-commands)\.ts$|node_modules\/mustache\//.test(i)), []);
  t.true(inputs.some((i) => i.includes('node_modules/openpgp/')), 'the flows are in the app (loaded when they run)');
});

test('starting the device app, and `backup --if-due` with nothing due, load none of the heavy code', async (t) => {
  const meta = await deviceMetafile();
  const start = loadedWith(meta, outputFor(meta, 'cli/sysback-device.ts'));
  t.deepEqual(heavyIn(start), [], 'loaded at start');
  t.true(start.some((i) => i.includes('node_modules/commander/')));
  // the --if-due path adds exactly these, by import() in backup/backup-commands.ts
  const ifDue = ['backup/backup-due.ts', 'core/device-paths.ts', 'core/log.ts'].flatMap((e) => loadedWith(meta, outputFor(meta, e)));
  t.deepEqual(heavyIn(ifDue), [], 'loaded for a backup that is not due');
  t.log(`modules at start: ${new Set(start).size}; with --if-due (nothing due): ${new Set([...start, ...ifDue]).size} of ${Object.keys(meta.inputs).length} in the app`);
});

test('a real backup does load its transport and archive code (the check above sees lazy code)', async (t) => {
  const meta = await deviceMetafile();
  const run = loadedWith(meta, outputFor(meta, 'backup/run-backup.ts'));
  t.true(run.some((i) => i.includes('grid/mount-transport.ts')));
  t.true(loadedWith(meta, outputFor(meta, 'backup/archive.ts')).some((i) => i.includes('node_modules/tar/')));
});

test('an unchanged backup loads no archive and no OpenPGP code: tar and openpgp come only with the archive made, or the public area reached', async (t) => {
  const meta = await deviceMetafile();
  const run = loadedWith(meta, outputFor(meta, 'backup/run-backup.ts'));
  t.deepEqual(run.filter((i) => /node_modules\/(tar|openpgp)\//.test(i)), []);
});
