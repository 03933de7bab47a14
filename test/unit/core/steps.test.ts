// The step machinery: each step emits one event with its letter, name, times and outcome; a failed
// step's SysbackError names the step and carries the resume hint; parts and skips are events too.
import test from 'ava';
import { createContext } from '../../../core/context.ts';
import { SysbackError } from '../../../core/errors.ts';
import { createMemoryLog } from '../../../core/log.ts';
import { flowSteps, type StepEvent } from '../../../core/steps.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function setup() {
  const log = createMemoryLog('info');
  const ctx = createContext({ root: '/', log, env: {} });
  const events: StepEvent[] = [];
  ctx.events.listen((e) => events.push(e));
  return { ctx, log, events };
}

test('a step logs its title and emits one event with its letter, name and outcome', async (t) => {
  const { ctx, log, events } = setup();
  const steps = flowSteps(ctx, 'configure');
  t.is(await steps.step('a', 'periodic backup in cron', async () => 42), 42);
  t.true(log.lines.includes('‣ a) periodic backup in cron'));
  t.is(events.length, 1);
  t.like(events[0], { flow: 'configure', step: 'a', name: 'periodic backup in cron', outcome: 'ok' });
  t.true(Date.parse(events[0]!.end) >= Date.parse(events[0]!.start));
});

test('a failed step names itself and adds the resume hint; the event says failed, with the redacted error', async (t) => {
  const { ctx, events } = setup();
  const steps = flowSteps(ctx, 'recover', { resumeHint: 'run it again' });
  const error = await t.throwsAsync(
    steps.step('c', 'password', async () => {
      throw new SysbackError('no good: URI:DIR2:abc:def', { hint: 'type it right', exitCode: 12 });
    }),
    { instanceOf: SysbackError },
  );
  t.is(error.message, 'step "c) password" failed: no good: URI:DIR2:abc:def');
  t.is(error.hint, 'type it right; run it again');
  t.is(error.exitCode, 12);
  t.like(events[0], { step: 'c', outcome: 'failed', error: 'no good: URI:DIR2:<redacted>' });
});

test('labelErrors false passes errors through unchanged; parts and skips are events', async (t) => {
  const { ctx, events } = setup();
  const steps = flowSteps(ctx, 'backup', { labelErrors: false });
  const original = new SysbackError('verify failed');
  t.is(await t.throwsAsync(steps.step('d', 'put', () => Promise.reject(original))), original);
  steps.skip('b', 'make SysBackup.tar.gz', 'nothing changed');
  await steps.part('d', 'verifying', async () => undefined);
  t.deepEqual(events.map((e) => [e.step, e.part, e.outcome]), [['d', undefined, 'failed'], ['b', undefined, 'skipped'], ['d', 'verifying', 'ok']]);
});

test('SYSBACK_EVENTS: the context appends every event as one JSON line', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-events-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'events.jsonl');
  const ctx = createContext({ root: '/', log: createMemoryLog(), env: { SYSBACK_EVENTS: file } });
  await flowSteps(ctx, 'backup').step('a', 'read /etc/sysback/files.txt', async () => undefined);
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepEvent);
  t.like(lines, [{ flow: 'backup', step: 'a', outcome: 'ok' }]);
});
