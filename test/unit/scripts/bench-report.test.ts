// The bench's report is pure: given runs, the figures, the aims verdicts and the table follow. No
// timing is measured or asserted here; the numbers are made up inputs.
import test from 'ava';
import { AIMS, benchFigures, formatTable, met, scaleFigures, type BenchInput } from '../../../scripts/bench-report.ts';

function input(overrides: Partial<BenchInput> = {}): BenchInput {
  return {
    runs: {
      seedBackup: [2, 2.5, 3],
      backupWebapi: [1, 1.2, 1.5],
      backupMount: [1.5, 1.6, 1.7],
      unchanged: [0.05, 0.06, 0.07],
      seedRestore: [3, 3, 3],
      recoverWhole: [7, 8, 9],
      recoverAfterPassword: [4],
      restoreStep: [1.5],
      configure: [10],
    },
    rssMB: { startup: [50, 52], backupWebapi: [70, 75], backupMount: [78], unchanged: [60], recover: [150], ifDue: [55, 58] },
    ms: { startup: [100, 120, 110], ifDue: [150, 190, 250] },
    backupSteps: { webapi: { 'archive+upload': [0.9, 1.0, 1.1] }, mount: {}, unchanged: {} },
    data: { smallFiles: 3000 },
    imageBuild: null,
    scale: null,
    load: { start: { at: 't0', uptime: 'load average: 0.10, 0.20, 0.30', loadavg: [0.1, 0.2, 0.3] }, end: null },
    notMeasured: {},
    warnings: [],
    phases: [{ name: 'p', seconds: 1 }],
    environment: {},
    ...overrides,
  };
}

test('each aim row is its median against its baseline median, judged at most the aim', (t) => {
  const f = benchFigures(input());
  const row = (id: string) => f.table.find((r) => r.id === id)!;
  t.is(f.backupVsSeed.webapi, 0.48);
  t.deepEqual([row('backupVsSeedWebapi').value, row('backupVsSeedWebapi').baseline, row('backupVsSeedWebapi').result], [1.2, 2.5, 'met']);
  t.is(f.archiveUploadVsSeed, 0.4);
  t.is(row('archiveUploadVsSeed').result, 'met', 'equal to the aim is met');
  t.is(f.mountVsWebapi, 1.333);
  t.is(f.aims.backupVsSeedMount, 'not met');
  t.is(f.unchangedVsFull, 0.05);
  t.is(f.aims.unchangedVsFull, 'met');
  t.is(f.peakRssMB, 78, 'the backup peak covers every backup command');
  t.is(f.aims.peakRssMB, 'met');
  t.is(f.peakRssRecoverMB, 150);
  t.is(f.aims.peakRssRecoverMB, 'not met');
  t.is(f.restoreVsSeed, 0.5);
  t.is(f.recoverWholeVsSeed, 2.667);
  t.is(f.aims.recoverWholeVsSeed, 'not met');
  t.is(f.ifDueMs, 190);
  t.is(row('ifDueMs').baseline, 110);
  t.is(f.aims.ifDueMs, 'met');
  t.is(f.ifDueRssMB, 58);
  t.is(f.aims.ifDueRssMB, 'met');
  t.is(f.table.length, 10);
  t.deepEqual(f.load?.start.loadavg, [0.1, 0.2, 0.3]);
});

test('an unmeasured figure is null and its aim n/a, never a number', (t) => {
  const base = input();
  const f = benchFigures(input({ runs: { ...base.runs, backupMount: [], restoreStep: [] }, rssMB: { ...base.rssMB, ifDue: [] }, ms: undefined, backupSteps: { webapi: {}, mount: {}, unchanged: {} } }));
  t.is(f.backupVsSeed.mount, null);
  t.is(f.mountVsWebapi, null);
  t.is(f.aims.backupVsSeedMount, null);
  t.is(f.archiveUploadVsSeed, null);
  t.is(f.restoreVsSeed, null);
  t.is(f.ifDueMs, null);
  t.is(f.ifDueRssMB, null);
  t.is(f.aims.ifDueMs, null);
  t.is(f.scale, null);
  t.regex(formatTable(f), /backup, mount \(sshfs \+ rsync\), vs webapi\s+n\/a/);
});

test('the JSON keeps the earlier keys and has the new ones', (t) => {
  const f = benchFigures(input());
  for (const key of ['backupVsSeed', 'unchangedVsFull', 'peakRssMB', 'restoreVsSeed', 'recoverAfterPasswordVsSeed', 'recoverWholeVsSeed', 'aims', 'seconds', 'runs', 'rssMB', 'backupSteps', 'imageBuild', 'data', 'notMeasured', 'warnings', 'phases', 'environment', 'ifDueMs', 'ifDueRssMB', 'scale', 'load']) {
    t.true(key in f, key);
  }
  t.deepEqual(Object.keys(JSON.parse(JSON.stringify(f))).sort(), Object.keys(f).sort());
});

test('scale: time against the data ratio, RSS growth against 10 MB', (t) => {
  const s = scaleFigures({
    factor: 10,
    base: { files: 3000, MB: 52, backupSeconds: [4, 5, 6], backupRssMB: [70, 72], recoverSeconds: [10], recoverRssMB: [130] },
    tenfold: { files: 30000, MB: 520, backupSeconds: [45, 50, 60], backupRssMB: [85], recoverSeconds: [120], recoverRssMB: [135] },
  });
  t.is(s.dataRatio, 10);
  t.is(s.timeRatio, 10);
  t.is(s.aims.timeAtMostLinear, 'met');
  t.is(s.recoverTimeRatio, 12);
  t.is(s.aims.recoverTimeAtMostLinear, 'not met');
  t.is(s.rssGrowthMB, 13);
  t.is(s.aims.rssGrowthMB, 'not met');
  t.is(s.recoverRssGrowthMB, 5);
  t.is(s.aims.recoverRssGrowthMB, 'met');
  t.deepEqual(s.tenfold, { files: 30000, MB: 520, backupSeconds: 50, backupRssMB: 85, recoverSeconds: 120, recoverRssMB: 135 });
});

test('the table prints every aim row with its aim and verdict', (t) => {
  const text = formatTable(benchFigures(input()));
  t.regex(text, /backup, webapi, verified, vs tar czf \+ tahoe put\s+1\.20 s\s+2\.50 s \(the seed: tar czf \+ tahoe put\)\s+0\.48\s+<= 0\.6\s+met/);
  t.regex(text, /backup --if-due, nothing due: time\s+190 ms\s+110 ms \(sysback --help\)\s+1\.73\s+<= 200 ms\s+met/);
  t.regex(text, /load at start, t0: load average/);
  t.is(met(AIMS.peakRssMB, AIMS.peakRssMB), 'met');
  t.is(met(null, 1), null);
});
