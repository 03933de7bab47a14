import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, parseHolder, procStartTime, type ProcessProbe } from '../../../backup/lock.ts';
import { LockedError } from '../../../core/errors.ts';

function tempLock(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'backup.lock');
}

/** A process table of our own: pid -> start time of the process living under that pid now. */
function table(self: number, entries: Record<number, string>): ProcessProbe & { procs: Record<number, string> } {
  const procs = { [self]: 'self-start', ...entries };
  return { selfPid: self, procs, startTimeOf: (pid) => procs[pid] };
}

function lockBody(pid: number, startTime: string, nonce = 'n'): string {
  return JSON.stringify({ pid, startTime, started: '2026-01-01T00:00:00.000Z', nonce }) + '\n';
}

test('fresh: no lock file, the lock is taken and released', (t) => {
  const file = tempLock(t);
  const lock = acquireLock(file, { probe: table(100, {}) });
  t.true(lock.held());
  t.is(parseHolder(readFileSync(file, 'utf8'))?.pid, 100);
  lock.release();
  t.false(existsSync(file));
});

test('held by a live process: LockedError, and the lock is left as it was', (t) => {
  const file = tempLock(t);
  writeFileSync(file, lockBody(200, 'start-200'));
  const error = t.throws(() => acquireLock(file, { probe: table(100, { 200: 'start-200' }) }), { instanceOf: LockedError });
  t.regex(error!.message, /pid 200/);
  t.is(readFileSync(file, 'utf8'), lockBody(200, 'start-200'));
});

test('stale by a dead pid: taken over with a warning', (t) => {
  const file = tempLock(t);
  writeFileSync(file, lockBody(300, 'start-300'));
  const warnings: string[] = [];
  const lock = acquireLock(file, { probe: table(100, {}), onStale: (m) => warnings.push(m) });
  t.true(lock.held());
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /pid 300/);
  t.deepEqual(readdirSync(path.dirname(file)), ['backup.lock'], 'no marker or temp file is left');
});

test('stale by a reused pid: the pid lives but started at another time (the Tahoe node, say): taken over', (t) => {
  const file = tempLock(t);
  writeFileSync(file, lockBody(400, 'start-400-old'));
  const lock = acquireLock(file, { probe: table(100, { 400: 'start-400-tahoe' }) });
  t.true(lock.held());
});

test('unreadable lock (a garbage file): treated as stale and taken over', (t) => {
  const file = tempLock(t);
  writeFileSync(file, 'garbage');
  t.true(acquireLock(file, { probe: table(100, {}) }).held());
});

test('two takers race for the same dead holder: exactly one wins (the second runs inside the first)', (t) => {
  const file = tempLock(t);
  writeFileSync(file, lockBody(500, 'start-500'));
  let inner: ReturnType<typeof acquireLock> | undefined;
  let innerError: unknown;
  // A looks at the dead holder; at that very moment B runs its whole takeover
  const probeB = table(102, {});
  const probeA: ProcessProbe = {
    selfPid: 101,
    startTimeOf(pid) {
      if (pid === 101) return 'start-101';
      if (pid === 102) return 'self-start'; // B is alive
      if (pid === 500 && inner === undefined && innerError === undefined) {
        try {
          inner = acquireLock(file, { probe: probeB });
        } catch (error) {
          innerError = error;
        }
      }
      return undefined;
    },
  };
  const outer = (() => {
    try {
      return acquireLock(file, { probe: probeA });
    } catch (error) {
      return error;
    }
  })();
  t.truthy(inner, 'B took over the stale lock');
  t.true(inner!.held());
  t.true(outer instanceof LockedError, 'A, which saw the same dead holder, lost');
  t.is(parseHolder(readFileSync(file, 'utf8'))?.pid, 102);
});

test('a breaker that died holding the takeover marker does not block forever', (t) => {
  const file = tempLock(t);
  const stale = lockBody(600, 'start-600');
  writeFileSync(file, stale);
  // reproduce what a breaker killed mid-takeover leaves: its marker, naming it (pid 601, dead)
  const marker = `${file}.break-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
  writeFileSync(marker, lockBody(601, 'start-601'));
  const lock = acquireLock(file, { probe: table(100, {}) });
  t.true(lock.held());
  t.deepEqual(readdirSync(path.dirname(file)), ['backup.lock']);
});

test('a live breaker holding the takeover marker: LockedError, nothing removed', (t) => {
  const file = tempLock(t);
  const stale = lockBody(700, 'start-700');
  writeFileSync(file, stale);
  const marker = `${file}.break-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
  writeFileSync(marker, lockBody(701, 'start-701'));
  t.throws(() => acquireLock(file, { probe: table(100, { 701: 'start-701' }) }), { instanceOf: LockedError });
  t.is(readFileSync(file, 'utf8'), stale);
});

test('release leaves a lock that is no longer ours', (t) => {
  const file = tempLock(t);
  const lock = acquireLock(file, { probe: table(100, {}) });
  writeFileSync(file, lockBody(800, 'start-800'));
  t.false(lock.held());
  lock.release();
  t.is(readFileSync(file, 'utf8'), lockBody(800, 'start-800'));
});

test('procStartTime reads field 22 of /proc/self/stat, and nothing for a pid that is gone', (t) => {
  const mine = procStartTime(process.pid);
  t.regex(mine ?? '', /^\d+$/);
  const child = spawnSync(process.execPath, ['-e', '0']);
  t.is(child.status, 0);
  t.is(procStartTime(child.pid!), undefined);
});

const childScript = `
import { acquireLock } from ${JSON.stringify(fileURLToPath(new URL('../../../backup/lock.ts', import.meta.url)))};
import { LockedError } from ${JSON.stringify(fileURLToPath(new URL('../../../core/errors.ts', import.meta.url)))};
const file = process.argv[2];
try {
  const lock = acquireLock(file);
  process.stdout.write('won\\n');
  process.stdin.resume();
  process.stdin.on('end', () => { lock.release(); process.exit(0); });
} catch (error) {
  process.stdout.write(error instanceof LockedError ? 'lost\\n' : 'error ' + error + '\\n');
  process.exit(0);
}
`;

test('eight real processes race for a lock left by a dead process: exactly one wins', async (t) => {
  const file = tempLock(t);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/stat","utf8"))'], { encoding: 'utf8' });
  const start = dead.stdout.slice(dead.stdout.lastIndexOf(')') + 2).split(' ')[19]!;
  writeFileSync(file, lockBody(dead.pid!, start));
  const script = path.join(path.dirname(file), 'taker.mts');
  writeFileSync(script, childScript);
  const children = Array.from({ length: 8 }, () =>
    spawn(process.execPath, ['--import=tsx', script, file], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outcomes = await Promise.all(
    children.map(
      (child) =>
        new Promise<string>((resolve) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('\n')) resolve(out.trim());
          });
          child.on('exit', () => resolve(out.trim()));
        }),
    ),
  );
  for (const child of children) child.stdin.end();
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(0) : child.on('exit', resolve)))));
  t.is(outcomes.filter((o) => o === 'won').length, 1, outcomes.join(', '));
  t.is(outcomes.filter((o) => o === 'lost').length, 7, outcomes.join(', '));
  t.false(existsSync(file), 'the winner released it');
});

test('a lock written by an older sysback (no start time): its PID alone decides, live blocks, dead is taken over', (t) => {
  const file = tempLock(t);
  const legacy = (pid: number) => JSON.stringify({ pid, started: '2026-01-01T00:00:00.000Z' }) + '\n';
  writeFileSync(file, legacy(900));
  t.throws(() => acquireLock(file, { probe: table(100, { 900: 'any' }) }), { instanceOf: LockedError });
  const warnings: string[] = [];
  t.true(acquireLock(file, { probe: table(100, {}), onStale: (m) => warnings.push(m) }).held());
  t.regex(warnings[0]!, /stale backup lock left by pid 900/);
});
