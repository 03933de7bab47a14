// Keeps the arrows pointing down (STYLE 5a, docs/architecture.md "Layers"): reads every import in the
// tree and fails, listing each violation, when device code imports host code, core imports anything
// above it, the app imports the tests, a test imports another test's fixture instead of test/support/,
// or imports form a cycle (between files, or between the app's folders).
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCycles, readImportGraph, type ImportEdge } from '../support/import-graph.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const graph = readImportGraph(REPO, ['cli', 'core', 'grid', 'backup', 'firstboot', 'recovery', 'builder', 'scripts', 'test']);

type Tier = 'core' | 'device' | 'host' | 'test';

/** grid/ holds both tiers: these run only on the operator's or the builder's machine. */
const HOST_GRID = new Set(['grid/local-grid.ts', 'grid/tor-network.ts', 'grid/grid-commands.ts']);
/** cli/: the host entry (every command) is host; the device entry and what it shares are device. */
const HOST_CLI = new Set(['cli/sysback.ts']);

export function tierOf(file: string): Tier {
  const top = file.split('/')[0]!;
  if (top === 'core') return 'core';
  if (top === 'test') return 'test';
  if (top === 'builder' || top === 'scripts') return 'host';
  if (top === 'grid') return HOST_GRID.has(file) ? 'host' : 'device';
  if (top === 'cli') return HOST_CLI.has(file) ? 'host' : 'device';
  return 'device'; // backup/, firstboot/, recovery/
}

const show = (e: ImportEdge) => `${e.from} -> ${e.to}${e.dynamic ? ' (dynamic)' : ''}`;

function report(t: import('ava').ExecutionContext, title: string, problems: string[]): void {
  if (problems.length > 0) t.log(`${title}:\n  ${problems.join('\n  ')}`);
  t.deepEqual(problems, [], title);
}

test('the tree has modules in every tier and the check sees dynamic imports', (t) => {
  const tiers = new Set(graph.files.map(tierOf));
  t.deepEqual([...tiers].sort(), ['core', 'device', 'host', 'test']);
  t.true(graph.edges.some((e) => e.dynamic), 'no dynamic import found: the device app loads its commands with import()');
});

test('device code never imports host code', (t) => {
  const bad = graph.edges.filter((e) => (tierOf(e.from) === 'device' || tierOf(e.from) === 'core') && tierOf(e.to) === 'host');
  report(t, 'device -> host imports', bad.map(show));
});

/**
 * The app's folders, lowest first (docs/architecture.md "Layers"): a folder imports only its own rank
 * or lower. firstboot/ and recovery/ share a rank (both flows; branch `seam` moves what they share
 * below them). scripts/ are entry points with their own main: nothing in the app imports them.
 */
const RANK: Readonly<Record<string, number>> = { core: 0, grid: 1, backup: 2, firstboot: 3, recovery: 3, builder: 4, cli: 5, scripts: 6 };

test('folders import only downwards (grid never imports builder, nothing in the app imports scripts)', (t) => {
  const folder = (f: string) => f.split('/')[0]!;
  const bad = graph.edges.filter((e) => {
    const from = RANK[folder(e.from)];
    const to = RANK[folder(e.to)];
    return from !== undefined && to !== undefined && to > from;
  });
  report(t, 'upward imports', bad.map(show));
});

test('core imports nothing above it', (t) => {
  const bad = graph.edges.filter((e) => tierOf(e.from) === 'core' && tierOf(e.to) !== 'core');
  report(t, 'core -> above imports', bad.map(show));
});

test('the app never imports the tests; scripts use only test/support/', (t) => {
  const bad = graph.edges.filter((e) => {
    if (tierOf(e.to) !== 'test' || tierOf(e.from) === 'test') return false;
    // the test runner and the bench drive the test harness (simulated routers, the shared grid)
    return !(e.from.startsWith('scripts/') && e.to.startsWith('test/support/'));
  });
  report(t, 'app -> test imports', bad.map(show));
});

test("a test imports shared fixtures from test/support/, never from another test's folder", (t) => {
  const bad = graph.edges.filter(
    (e) =>
      tierOf(e.from) === 'test' &&
      tierOf(e.to) === 'test' &&
      !e.to.startsWith('test/support/') &&
      path.posix.dirname(e.from) !== path.posix.dirname(e.to),
  );
  report(t, 'test -> other test fixture imports', bad.map(show));
});

test('no import cycle between files', (t) => {
  const cycles = findCycles(graph.files, graph.edges);
  report(t, 'file cycles', cycles.map((c) => c.join(' -> ')));
});

test("no import cycle between the app's folders", (t) => {
  const APP = new Set(['cli', 'core', 'grid', 'backup', 'firstboot', 'recovery', 'builder']);
  const folder = (f: string) => f.split('/')[0]!;
  const edges = graph.edges
    .filter((e) => APP.has(folder(e.from)) && APP.has(folder(e.to)) && folder(e.from) !== folder(e.to))
    .map((e) => ({ from: folder(e.from), to: folder(e.to) }));
  const cycles = findCycles([...APP], edges).map((c) => c.join(' -> '));
  const witnesses = (c: string) => {
    const hops = c.split(' -> ');
    return hops.slice(1).map((to, i) => graph.edges.filter((e) => folder(e.from) === hops[i] && folder(e.to) === to).map(show)[0]);
  };
  report(t, 'folder cycles', cycles.map((c) => `${c}  (${witnesses(c).join('; ')})`));
});
