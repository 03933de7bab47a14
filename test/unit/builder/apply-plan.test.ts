import test from 'ava';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { list } from 'tar';
import { applyPlan } from '../../../builder/apply-plan.ts';
import { defaultBuildConfig } from '../../../builder/build-config.ts';
import { readOverlaySources } from '../../../builder/overlay-sources.ts';
import { computePlan, type Plan } from '../../../builder/plan.ts';
import { tcpGrid, torGrid } from '../../support/grid-fixture.ts';

const overlaysDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../overlays');

function withTemp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-apply-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function makePlan(dir: string, grid = tcpGrid, sourceDateEpoch?: number): Plan {
  const app = path.join(dir, 'sysback.mjs');
  writeFileSync(app, '#!/usr/bin/env node\nconsole.log("app")\n');
  return computePlan(grid, { config: defaultBuildConfig(), overlay: readOverlaySources(overlaysDir, ['base', 'image', 'tor']), appBundle: app, sourceDateEpoch });
}

test('the overlay.tar.gz sha256 is the same across two builds of the same inputs', (t) => {
  const a = withTemp(t);
  const b = withTemp(t);
  const first = applyPlan(makePlan(a, torGrid), path.join(a, 'out'));
  const second = applyPlan(makePlan(b, torGrid), path.join(b, 'out'));
  t.is(first.sha256, second.sha256);
  t.is(createHash('sha256').update(readFileSync(first.tarball)).digest('hex'), first.sha256);
  t.deepEqual(readFileSync(first.tarball), readFileSync(second.tarball));
});

test('SOURCE_DATE_EPOCH sets every mtime and changes the bytes; a changed input changes them too', (t) => {
  const dir = withTemp(t);
  const base = applyPlan(makePlan(dir, tcpGrid), path.join(dir, 'a'));
  const later = applyPlan(makePlan(dir, tcpGrid, 1800000000), path.join(dir, 'b'));
  t.not(base.sha256, later.sha256);
  t.is(lstatSync(path.join(dir, 'b/overlay/etc/sysback/files.txt')).mtimeMs, 1800000000 * 1000);
  const other = applyPlan(makePlan(dir, torGrid), path.join(dir, 'c'));
  t.not(base.sha256, other.sha256);
});

test('the archive is sorted, root-owned, relative to / and carries the manifest modes', async (t) => {
  const dir = withTemp(t);
  const plan = makePlan(dir, torGrid, 1800000000);
  const out = applyPlan(plan, path.join(dir, 'out'));
  const seen: { path: string; uid: number; gid: number; uname?: string; mode: number; mtime: number }[] = [];
  await list({ file: out.tarball, onReadEntry: (e) => seen.push({ path: e.path, uid: e.uid!, gid: e.gid!, uname: e.uname, mode: e.mode!, mtime: e.mtime!.getTime() / 1000 }) });
  // sorted by path as the tar writer names them (a directory without its trailing slash), which puts
  // every directory before what it holds (system/ and system-generators/ side by side)
  const bare = seen.map((e) => e.path.replace(/\/$/, ''));
  t.deepEqual(bare, [...bare].sort());
  t.true(seen.every((e, i) => !e.path.endsWith('/') || seen.slice(0, i).every((o) => !o.path.startsWith(e.path))), 'each directory comes before its entries');
  t.true(seen.every((e) => e.path.startsWith('./')));
  t.true(seen.every((e) => e.uid === 0 && e.gid === 0 && e.uname === 'root'));
  t.true(seen.every((e) => e.mtime === 1800000000));
  const mode = (p: string) => seen.find((e) => e.path === p)!.mode & 0o7777;
  t.is(mode('./etc/sysback/sysback.json'), 0o600);
  t.is(mode('./usr/bin/sysback'), 0o755);
  t.is(mode('./usr/lib/sysback/sysback.mjs'), 0o755);
  t.is(mode('./etc/'), 0o755);
  t.is(seen.length, plan.entries.length);
});

test('the overlay tree mirrors the archive: rendered files, modes, the app copied', (t) => {
  const dir = withTemp(t);
  const out = applyPlan(makePlan(dir, tcpGrid), path.join(dir, 'out'));
  t.is(lstatSync(path.join(out.overlayDir, 'etc/sysback/sysback.json')).mode & 0o7777, 0o600);
  t.is(readFileSync(path.join(out.overlayDir, 'usr/lib/sysback/sysback.mjs'), 'utf8'), '#!/usr/bin/env node\nconsole.log("app")\n');
  t.false(readFileSync(path.join(out.overlayDir, 'etc/systemd/system/sysback-firstboot.service'), 'utf8').includes('{{'));
  t.true(JSON.parse(readFileSync(out.planFile, 'utf8')).entries.length > 0);
});

test('a missing app bundle is a clear error and leaves no half-written overlay', (t) => {
  const dir = withTemp(t);
  const plan = computePlan(tcpGrid, { config: defaultBuildConfig(), overlay: readOverlaySources(overlaysDir, ['base', 'image']), appBundle: path.join(dir, 'missing.mjs') });
  t.throws(() => applyPlan(plan, path.join(dir, 'out')), { message: /missing\.mjs/ });
  t.throws(() => lstatSync(path.join(dir, 'out/overlay')));
});
