// The cleanup guard that runs on success, on failure and when a signal arrives meanwhile (the mount
// transport undoes its mount with it).
import test from 'ava';
import { withCleanup } from '../../../core/signal-cleanup.ts';

test.serial('cleanup runs once after success and after failure, and its handlers are gone afterwards', async (t) => {
  const before = process.listenerCount('SIGTERM');
  let runs = 0;
  t.is(await withCleanup(async () => void runs++, async () => 42), 42);
  await t.throwsAsync(withCleanup(async () => void runs++, async () => Promise.reject(new Error('boom'))), { message: 'boom' });
  t.is(runs, 2);
  t.is(process.listenerCount('SIGTERM'), before);
});

test.serial('a signal while mounted runs the cleanup at once, only once, and is raised again afterwards', async (t) => {
  // another listener stands in for the program's own handler, so the raised signal ends nothing here
  let seen = 0;
  const other = () => void seen++;
  process.on('SIGHUP', other);
  t.teardown(() => process.off('SIGHUP', other));
  let runs = 0;
  await withCleanup(async () => void runs++, async () => {
    process.emit('SIGHUP', 'SIGHUP');
    await new Promise((r) => setImmediate(r));
    t.is(runs, 1, 'cleaned up while the work was still running');
  });
  t.is(runs, 1);
  // the real SIGHUP raised again after the cleanup reaches the other listener
  for (let i = 0; i < 100 && seen < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.true(seen >= 2, 'the signal reached the other listener again');
  t.is(process.listenerCount('SIGHUP'), 1, 'only the other listener is left');
});

test.serial('exitOnSignal: the cleanup is told the signal, then the process exits 128 + its number (sysback boot: 143)', async (t) => {
  const before = process.listenerCount('SIGTERM');
  const exits: Array<number | undefined> = [];
  const realExit = process.exit;
  process.exit = ((code?: number) => void exits.push(code)) as typeof process.exit;
  t.teardown(() => {
    process.exit = realExit;
  });
  const told: Array<NodeJS.Signals | undefined> = [];
  await withCleanup(async (signal) => void told.push(signal), async () => {
    process.emit('SIGTERM', 'SIGTERM');
    for (let i = 0; i < 1000 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  }, { exitOnSignal: true });
  t.deepEqual(told, ['SIGTERM']);
  t.deepEqual(exits, [143]);
  t.is(process.listenerCount('SIGTERM'), before);
});
