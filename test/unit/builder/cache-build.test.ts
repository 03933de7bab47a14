import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildCachedTree } from '../../../builder/cache-build.ts';

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-cache-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A PID that is not running: a child that has already exited is the only sure way, so take a huge one. */
const DEAD_PID = 4_194_000;

test('two builders asking at once build the tree once and neither removes the other\'s work', async (t) => {
  const dir = path.join(scratch(t), 'tree');
  let builds = 0;
  const build = async (partial: string) => {
    builds += 1;
    mkdirSync(partial);
    await sleep(300);
    writeFileSync(path.join(partial, 'content'), 'built');
  };
  const [a, b] = await Promise.all([
    buildCachedTree(dir, 'stamp', build, () => 'ok'),
    buildCachedTree(dir, 'stamp', build, () => 'ok'),
  ]);
  t.is(builds, 1);
  t.deepEqual([a.reused, b.reused].sort(), [false, true]);
  t.is(readFileSync(path.join(dir, 'content'), 'utf8'), 'built');
  t.false(existsSync(`${dir}.lock`));
});

test('a lock left by a dead builder is taken over, and its half-built tree removed', async (t) => {
  const dir = path.join(scratch(t), 'tree');
  writeFileSync(`${dir}.lock`, `${DEAD_PID}\n`);
  mkdirSync(`${dir}.partial-${DEAD_PID}`);
  const result = await buildCachedTree(dir, 'stamp', async (partial) => mkdirSync(partial), () => 'ok');
  t.false(result.reused);
  t.false(existsSync(`${dir}.partial-${DEAD_PID}`));
  t.true(existsSync(path.join(dir, 'stamp')));
});

test('a failed build leaves no stamp and frees the lock, so the next call builds again', async (t) => {
  const dir = path.join(scratch(t), 'tree');
  await t.throwsAsync(buildCachedTree(dir, 'stamp', async () => { throw new Error('mirror down'); }, () => 'ok'), { message: 'mirror down' });
  t.false(existsSync(`${dir}.lock`));
  t.false(existsSync(path.join(dir, 'stamp')));
  const again = await buildCachedTree(dir, 'stamp', async (partial) => mkdirSync(partial), () => 'ok');
  t.false(again.reused);
});
