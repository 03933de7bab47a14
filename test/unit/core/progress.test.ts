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
  plainLineDue,
  progressTap,
  rateOf,
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

test('plainLineDue: every N seconds or every N percent', (t) => {
  const every = { seconds: 10, percent: 25 };
  t.false(plainLineDue({ seconds: 0, percent: 0 }, { seconds: 5, percent: 20 }, every));
  t.true(plainLineDue({ seconds: 0, percent: 0 }, { seconds: 5, percent: 25 }, every));
  t.true(plainLineDue({ seconds: 0, percent: 0 }, { seconds: 10, percent: 1 }, every));
  t.true(plainLineDue({ seconds: 0, percent: undefined }, { seconds: 10, percent: undefined }, every));
  t.false(plainLineDue({ seconds: 0, percent: undefined }, { seconds: 9, percent: undefined }, every));
});

function clockAndOutput(isTTY: boolean) {
  let ms = 0;
  let text = '';
  return {
    now: () => ms,
    advance: (by: number) => void (ms += by),
    output: { isTTY, write: (s: string) => void (text += s) },
    text: () => text,
  };
}

test('on a terminal the line is redrawn in place with \\r, throttled, padded, and ended by the summary', (t) => {
  const c = clockAndOutput(true);
  const p = createProgress({ label: 'get', total: 1000, output: c.output, now: c.now, redrawMs: 250 });
  c.advance(1000);
  p.update(100);
  c.advance(100);
  p.update(200); // within 250 ms of the last redraw: not drawn
  c.advance(900);
  p.update(1000);
  c.advance(0);
  p.done();
  const out = c.text();
  const frames = out.split('\r').slice(1);
  t.is(frames.length, 3);
  t.is(frames[0], 'get   10%  100 B of 1000 B  100 B/s  ETA 0:09');
  t.is(frames[1], 'get  100%  1000 B of 1000 B  500 B/s  ETA 0:00');
  // the summary is shorter than the frame before it: padded with spaces so nothing stays behind
  t.true(frames[2]!.startsWith('get  1000 B in 0:02 (500 B/s)'));
  t.is(frames[2]!.replace(/\n$/, '').length, frames[1]!.length);
  t.true(out.endsWith('\n'));
  t.false(out.includes('\x1b'));
});

test('not on a terminal: plain lines every N percent or seconds, then the summary line', (t) => {
  const c = clockAndOutput(false);
  const p = createProgress({ label: 'put', total: 1000, output: c.output, now: c.now, logEveryPercent: 25, logEverySeconds: 10 });
  for (let done = 50; done <= 1000; done += 50) {
    c.advance(100);
    p.update(done);
  }
  p.done();
  const lines = c.text().trimEnd().split('\n');
  t.false(c.text().includes('\r'));
  t.deepEqual(
    lines.map((l) => /(\d+)%/.exec(l)?.[1] ?? 'done'),
    ['25', '50', '75', '100', 'done'],
  );
  t.is(lines.at(-1), 'put  1000 B in 0:02 (500 B/s)');
});

test('abort ends a redrawn line without a summary; done after abort prints nothing', (t) => {
  const c = clockAndOutput(true);
  const p = createProgress({ label: 'get', output: c.output, now: c.now });
  c.advance(1000);
  p.add(10);
  p.abort();
  p.done();
  t.is(c.text(), '\rget  10 B  10 B/s\n');
});

test('progressTap counts the bytes that flow through a real stream pipeline', async (t) => {
  const c = clockAndOutput(false);
  const p = createProgress({ label: 'tap', output: c.output, now: c.now });
  const chunks = [Buffer.alloc(1000), Buffer.alloc(24), Buffer.alloc(3000)];
  const sink = new PassThrough();
  const received: Buffer[] = [];
  sink.on('data', (b: Buffer) => received.push(b));
  await pipeline(Readable.from(chunks), progressTap(p), sink);
  t.is(p.bytes, 4024);
  t.is(Buffer.concat(received).length, 4024);
});
