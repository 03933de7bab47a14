import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../../core/atomic-write.ts';
import { createContext } from '../../../core/context.ts';
import { ConfigError, NotConfiguredError } from '../../../core/errors.ts';
import {
  configuredState,
  digestCap,
  isConfigured,
  readState,
  recordGoodBackup,
  requireState,
  validateState,
  writeState,
} from '../../../core/state.ts';

async function tempRoot(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const backup = {
  time: '2026-11-27T22:00:00.000Z',
  sha256: 'a'.repeat(64),
  size: 12345,
  capDigest: digestCap('URI:CHK:abc:def:2:4:12345'),
  generation: 'SysBackup-20261127T220000Z.tar.gz',
};

test('an unconfigured root has no state; writing it makes the router configured', async (t) => {
  const root = await tempRoot(t);
  const ctx = createContext({ root });
  t.false(isConfigured(ctx));
  t.is(readState(ctx), undefined);
  t.throws(() => requireState(ctx), { instanceOf: NotConfiguredError });
  const state = configuredState({ mode: 'new', alias: 'alice', now: new Date('2026-11-27T21:00:00Z') });
  await writeState(ctx, state);
  t.true(isConfigured(ctx));
  t.deepEqual(readState(ctx), state);
  const file = path.join(root, 'var/lib/sysback/state.json');
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.deepEqual(JSON.parse(await readFile(file, 'utf8')), {
    format: 'sysback-state/1',
    mode: 'new',
    alias: 'alice',
    configuredAt: '2026-11-27T21:00:00.000Z',
  });
});

test('recordGoodBackup keeps the rest of the state and replaces the last good backup', async (t) => {
  const ctx = createContext({ root: await tempRoot(t) });
  await t.throwsAsync(recordGoodBackup(ctx, backup), { instanceOf: NotConfiguredError });
  await writeState(ctx, configuredState({ mode: 'recover', alias: 'bob', now: new Date(0), recovered: { generation: 'latest', time: '2026-11-27T20:00:00Z' } }));
  await recordGoodBackup(ctx, backup);
  const next = await recordGoodBackup(ctx, { ...backup, size: 99 });
  t.is(next.lastGoodBackup?.size, 99);
  t.deepEqual(readState(ctx), next);
  t.is(next.recovered?.generation, 'latest');
});

test('the state holds no cap: a cap only as its digest, stable and different per cap', (t) => {
  const cap = 'URI:DIR2:secretsecret:moresecret';
  t.is(digestCap(cap), digestCap(cap));
  t.not(digestCap(cap), digestCap(`${cap}x`));
  t.regex(digestCap(cap), /^[0-9a-f]{64}$/);
  t.false(digestCap(cap).includes('secret'));
});

test('validateState reports every problem with its path', (t) => {
  const result = validateState({
    format: 'sysback-state/1',
    mode: 'old',
    alias: '',
    configuredAt: 'yesterday',
    lastGoodBackup: { time: '2026-11-27T22:00:00Z', sha256: 'XYZ', size: -1, capDigest: 'b'.repeat(64) },
  });
  t.false(result.ok);
  if (!result.ok) {
    t.deepEqual(result.problems.map((p) => p.path).sort(), [
      'alias',
      'configuredAt',
      'lastGoodBackup.sha256',
      'lastGoodBackup.size',
      'mode',
    ]);
  }
});

test('a damaged state file is a ConfigError naming the file, not a crash', async (t) => {
  const root = await tempRoot(t);
  const ctx = createContext({ root });
  await writeState(ctx, configuredState({ mode: 'new', alias: 'alice', now: new Date(0) }));
  await writeFile(path.join(root, 'var/lib/sysback/state.json'), '{"format": "sysback-state/1", "mo');
  const error = t.throws(() => readState(ctx), { instanceOf: ConfigError });
  t.regex(error.message, /state\.json is not valid: \(file\): not JSON/);
});

test('writeState refuses an invalid state and leaves the old one in place', async (t) => {
  const root = await tempRoot(t);
  const ctx = createContext({ root });
  const good = configuredState({ mode: 'new', alias: 'alice', now: new Date(0) });
  await writeState(ctx, good);
  await t.throwsAsync(writeState(ctx, { ...good, alias: '' }), { message: /alias/ });
  t.deepEqual(readState(ctx), good);
});

test('writeFileAtomic: the old content survives a failed write, and no temp file is left', async (t) => {
  const dir = await tempRoot(t);
  const file = path.join(dir, 'x.json');
  await writeFileAtomic(file, 'old\n');
  await writeFileAtomic(file, 'new\n', { mode: 0o600 });
  t.is(await readFile(file, 'utf8'), 'new\n');
  t.is((await stat(file)).mode & 0o777, 0o600);
  // a write that cannot happen (target is a directory name inside a file) changes nothing
  await t.throwsAsync(writeFileAtomic(path.join(file, 'inside'), 'data'));
  t.is(await readFile(file, 'utf8'), 'new\n');
  // rename over a directory fails after the temp file was written: the temp file is removed
  await writeFile(path.join(dir, 'keep'), 'k');
  const blocked = path.join(dir, 'blocked');
  await mkdir(path.join(blocked, 'child'), { recursive: true });
  await t.throwsAsync(writeFileAtomic(blocked, 'data'));
  t.deepEqual((await readdir(dir)).sort(), ['blocked', 'keep', 'x.json']);
});
