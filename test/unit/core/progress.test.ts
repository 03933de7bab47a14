import test from 'ava';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createProgress,
  etaOf,
  formatBytes,
  formatDuration,
  formatProgressDone,
  formatProgressLine,
  formatRate,
  percentOf,
  formatWaitLine,
  lineDue,
  progressTap,
  rateOf,
  waitWithProgress,
} from '../../../core/progress.ts';

test('formatBytes: binary units, three significant figures', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(1536), '1.50 KiB');
  t.is(formatBytes(10 * 1024 * 1024 + 512 * 1024), '10.5 MiB');
  t.is(formatBytes(200 * 1024 ** 3), '200 GiB');
  t.is(formatBytes(-1), '?');
  t.is(formatBytes(Number.NaN), '?');
});

test('formatRate and formatDuration', (t) => {
  t.is(formatRate(2.5 * 1024 * 1024), '2.50 MiB/s');
  t.is(formatRate(undefined), '? B/s');
  t.is(formatDuration(7), '0:07');
  t.is(formatDuration(725), '12:05');
  t.is(formatDuration(3723), '1:02:03');
  t.is(formatDuration(undefined), '?');
  t.is(formatDuration(Number.POSITIVE_INFINITY), '?');
});

test('rate, ETA and percent', (t) => {
  t.is(rateOf(1000, 0), undefined);
  t.is(rateOf(1000, 4), 250);
  t.is(etaOf(250, 1000, 250), 3);
  t.is(etaOf(250, undefined, 250), undefined);
  t.is(etaOf(250, 1000, 0), undefined);
  t.is(percentOf(333, 1000), 33);
  t.is(percentOf(2000, 1000), 100);
  t.is(percentOf(0, 0), 100);
  t.is(percentOf(5, undefined), undefined);
});

test('formatProgressLine with and without a total', (t) => {
  const MiB = 1024 * 1024;
  t.is(
    formatProgressLine({ label: 'upload', bytes: 12 * MiB, total: 24 * MiB, elapsedSeconds: 10 }),
    'upload   50%  12.0 MiB of 24.0 MiB  1.20 MiB/s  ETA 0:10',
  );
  t.is(formatProgressLine({ label: 'download', bytes: 3 * MiB, elapsedSeconds: 2 }), 'download  3.00 MiB  1.50 MiB/s');
  t.is(formatProgressLine({ label: 'x', bytes: 0, total: 10, elapsedSeconds: 0 }), 'x    0%  0 B of 10 B  ? B/s  ETA ?');
  t.is(formatProgressDone({ label: 'upload', bytes: 24 * MiB, total: 24 * MiB, elapsedSeconds: 20 }), 'upload  24.0 MiB in 0:20 (1.20 MiB/s)');
});

test('lineDue: every N seconds or every N percent', (t) => {
  const every = { seconds: 10, percent: 25 };
  t.false(lineDue({ seconds: 0, percent: 0 }, { seconds: 5, percent: 20 }, every));
  t.true(lineDue({ seconds: 0, percent: 0 }, { seconds: 5, percent: 25 }, every));
  t.true(lineDue({ seconds: 0, percent: 0 }, { seconds: 10, percent: 1 }, every));
  t.true(lineDue({ seconds: 0, percent: undefined }, { seconds: 10, percent: undefined }, every));
  t.false(lineDue({ seconds: 0, percent: undefined }, { seconds: 9, percent: undefined }, every));
});

/** A fake clock, a fake heartbeat timer the test fires by hand, and the lines said. */
function fakes() {
  let ms = 0;
  const lines: string[] = [];
  const beats: Array<() => void> = [];
  let stopped = 0;
  return {
    now: () => ms,
    say: (line: string) => void lines.push(line),
    every: (_ms: number, fn: () => void) => {
      beats.push(fn);
      return () => void stopped++;
    },
    /** moves the clock by `by` ms in heartbeat steps of 500 ms, firing the heartbeat at each */
    advance(by: number) {
      for (let left = by; left > 0; left -= 500) {
        ms += Math.min(500, left);
        for (const beat of beats) beat();
      }
    },
    lines,
    stopped: () => stopped,
  };
}

test('a transfer prints plain lines every N percent, then the closing line; no \\r, no escapes', (t) => {
  const f = fakes();
  const p = createProgress({ label: 'put', total: 1000, say: f.say, now: f.now, every: f.every, everyPercent: 25, everySeconds: 10 });
  for (let done = 50; done <= 1000; done += 50) {
    f.advance(100);
    p.update(done);
  }
  p.done();
  t.deepEqual(
    f.lines.map((l) => /(\d+)%/.exec(l)?.[1] ?? 'done'),
    ['25', '50', '75', '100', 'done'],
  );
  t.is(f.lines.at(-1), 'put  1000 B in 0:02 (500 B/s)');
  t.false(f.lines.some((l) => /[\r\n\x1b]/.test(l)));
  t.is(f.stopped(), 1, 'the heartbeat is stopped at the end');
});

test('a stalled transfer still prints a line at least every 10 s', (t) => {
  const f = fakes();
  const p = createProgress({ label: 'get', total: 1000, say: f.say, now: f.now, every: f.every });
  f.advance(1000);
  p.update(10);
  f.advance(35_000); // nothing arrives for 35 s
  t.is(f.lines.length, 3, 'lines at 10, 20 and 30 s');
  t.true(f.lines.every((l) => l.startsWith('get    1%  10 B of 1000 B')));
});

test('abort stops the reporter without a closing line; done after abort prints nothing', (t) => {
  const f = fakes();
  const p = createProgress({ label: 'get', say: f.say, now: f.now, every: f.every });
  f.advance(1000);
  p.add(10);
  p.abort();
  p.done();
  f.advance(20_000);
  t.deepEqual(f.lines, []);
  t.is(f.stopped(), 1);
});

test('progressTap counts the bytes that flow through a real stream pipeline', async (t) => {
  const f = fakes();
  const p = createProgress({ label: 'tap', say: f.say, now: f.now, every: f.every });
  const chunks = [Buffer.alloc(1000), Buffer.alloc(24), Buffer.alloc(3000)];
  const sink = new PassThrough();
  const received: Buffer[] = [];
  sink.on('data', (b: Buffer) => received.push(b));
  await pipeline(Readable.from(chunks), progressTap(p), sink);
  t.is(p.bytes, 4024);
  t.is(Buffer.concat(received).length, 4024);
});

test('formatWaitLine: label, detail, and how long it has been waiting', (t) => {
  t.is(formatWaitLine('waiting for storage servers', '1 of 2'), 'waiting for storage servers: 1 of 2');
  t.is(formatWaitLine('waiting for Tor', '45 %', 20.4), 'waiting for Tor: 45 % (still waiting, 20 s)');
  t.is(formatWaitLine('waiting for the grid', undefined, 10), 'waiting for the grid (still waiting, 10 s)');
});

test('a wait prints each new detail, a heartbeat at least every 10 s, and returns what the wait returns', async (t) => {
  const f = fakes();
  let report!: (detail: string) => void;
  let finish!: (value: number) => void;
  const result = waitWithProgress('waiting for servers', (r) => {
    report = r;
    return new Promise<number>((resolve) => (finish = resolve));
  }, { say: f.say, now: f.now, every: f.every });
  report('0 of 2');
  report('0 of 2'); // unchanged: no line
  f.advance(4_000);
  report('1 of 2');
  f.advance(25_000);
  finish(2);
  t.is(await result, 2);
  f.advance(30_000);
  t.deepEqual(f.lines, [
    'waiting for servers: 0 of 2',
    'waiting for servers: 1 of 2',
    'waiting for servers: 1 of 2 (still waiting, 14 s)',
    'waiting for servers: 1 of 2 (still waiting, 23 s)',
  ]);
  t.is(f.stopped(), 1);
});

test('a wait that fails passes its error on and stops the heartbeat', async (t) => {
  const f = fakes();
  await t.throwsAsync(waitWithProgress('waiting', async () => {
    throw new Error('too few servers');
  }, { say: f.say, now: f.now, every: f.every }), { message: 'too few servers' });
  t.is(f.stopped(), 1);
});
