// Owns turning the benchmark's raw measurements into its figures and their two outputs: one JSON
// object (`npm run bench -- --json`) and a human table. Contract: every ratio is sysback's median
// divided by its baseline's median (below 1 = sysback is cheaper); a figure that could not be
// measured is null with its reason in `notMeasured`, never a made-up number. The aims are issue 9's
// table (AIM_ROWS); each is judged "met" / "not met" here and nowhere else, and no test asserts them.
import { median, round } from './bench-probe.ts';

export const AIMS = {
  /** sysback backup (webapi, verified) / the seed's tar czf + tahoe put */
  backupVsSeed: 0.6,
  /** BACKING's archive + upload step alone / the seed's whole method */
  archiveUploadVsSeed: 0.4,
  /** backup with the mount transport / backup with the web API */
  mountVsWebapi: 1.3,
  /** unchanged re-backup / full backup (webapi) */
  unchangedVsFull: 0.05,
  /** peak VmHWM of sysback backup, MB */
  peakRssMB: 80,
  /** peak VmHWM of sysback recover, MB (Argon2id's 64 MiB included) */
  peakRssRecoverMB: 140,
  /** RESTORE f) / tahoe get + tar xzf */
  restoreVsSeed: 0.6,
  /** the whole sysback recover / tahoe get + tar xzf */
  recoverWholeVsSeed: 2.0,
  /** `sysback backup --if-due` with nothing due: milliseconds and peak MB */
  ifDueMs: 200,
  ifDueRssMB: 60,
  /** scale: peak RSS may grow by at most this many MB from the base data set to the larger one */
  scaleRssGrowthMB: 10,
} as const;

export interface Phase {
  name: string;
  seconds: number;
}

export interface ImageBuild {
  overlayOnlySeconds: number | null;
  fullSeconds: number | null;
  /** removing the build outputs afterwards (part of the bench's time, not of the build) */
  removeOutputSeconds?: number;
  /** the builder's own per-step seconds of the full build */
  steps?: Record<string, number>;
  errors?: Record<string, string>;
}

/** Raw seconds of every repeat, by what was timed. */
export interface RawRuns {
  seedBackup: number[];
  backupWebapi: number[];
  backupMount: number[];
  unchanged: number[];
  seedRestore: number[];
  recoverWhole: number[];
  recoverAfterPassword: number[];
  restoreStep: number[];
  configure: number[];
  /** the floor: a web-API PUT of the seed's finished archive to the router's private node, from the
      host (no tar, no gzip, no CLI start: the Tahoe node's own upload work) */
  webapiPutFloor?: number[];
}

/** The machine's load: the `uptime` line and os.loadavg() (1, 5, 15 minutes). */
export interface LoadSample {
  at: string;
  uptime: string;
  loadavg: number[];
}

/** One data set of the scale run, raw. */
export interface ScaleSetInput {
  files: number;
  MB: number;
  backupSeconds: number[];
  backupRssMB: number[];
  recoverSeconds: number[];
  recoverRssMB: number[];
}

export interface ScaleInput {
  /** how many times larger the second data set is (10 in a full run) */
  factor: number;
  base: ScaleSetInput;
  tenfold: ScaleSetInput;
}

export interface BenchInput {
  runs: RawRuns;
  /** peak VmHWM per command; `startup` is `sysback --help` (node + the entry loaded, nothing done) */
  rssMB: { startup: number[]; backupWebapi: number[]; backupMount: number[]; unchanged: number[]; recover: number[]; ifDue?: number[] };
  /** milliseconds measured inside the router around the command: `--help` and `backup --if-due` (nothing due) */
  ms?: { startup: number[]; ifDue: number[] };
  /** per transport (and the unchanged run): seconds of each logged backup step, per run */
  backupSteps: { webapi: Record<string, number[]>; mount: Record<string, number[]>; unchanged: Record<string, number[]> };
  /** seconds of each step of `sysback recover` ("a) …"; parts as "a) …: part"), per run */
  recoverSteps?: Record<string, number[]>;
  /** the process's peak RSS (VmHWM, MB) when each of those steps ended, per run (core/steps.ts's events) */
  recoverPeakMB?: Record<string, number[]>;
  data: Record<string, number | string>;
  imageBuild: ImageBuild | null;
  scale?: ScaleInput | null;
  load?: { start: LoadSample; end: LoadSample | null };
  notMeasured: Record<string, string>;
  warnings: string[];
  phases: Phase[];
  environment: Record<string, string | number | boolean>;
}

/** The step of BACKING b)/d) that builds and uploads the archive (scripts/bench.ts names it so). */
export const ARCHIVE_UPLOAD_STEP = 'archive+upload';

const ratio = (a: number | null, b: number | null) => (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : round(a / b, 3));
const med = (values: readonly number[] | undefined, digits = 2) => (values?.length ? round(median(values), digits) : null);
const peak = (values: readonly number[] | undefined) => (values?.length ? Math.max(...values) : null);

export type Verdict = 'met' | 'not met' | null;

/** 'met' when `value` is at most `aim`; null when unmeasured. */
export function met(value: number | null, aim: number): Verdict {
  if (value === null) return null;
  return value <= aim ? 'met' : 'not met';
}

/** One row of issue 9's table: the figure, its baseline side by side, the ratio, the aim and the verdict. */
export interface AimRow {
  id: string;
  figure: string;
  unit: 's' | 'ms' | 'MB';
  value: number | null;
  baseline: number | null;
  baselineIs: string;
  ratio: number | null;
  /** what is compared with the aim: the ratio, or the value itself */
  aimOn: 'ratio' | 'value';
  aim: number;
  result: Verdict;
}

function scaleSet(set: ScaleSetInput) {
  return {
    files: set.files,
    MB: round(set.MB, 2),
    backupSeconds: med(set.backupSeconds),
    backupRssMB: peak(set.backupRssMB),
    recoverSeconds: med(set.recoverSeconds),
    recoverRssMB: peak(set.recoverRssMB),
  };
}

/** The scale figures: time should grow at most as the data does, peak RSS by at most 10 MB. Reported, never asserted. */
export function scaleFigures(input: ScaleInput) {
  const base = scaleSet(input.base);
  const tenfold = scaleSet(input.tenfold);
  const dataRatio = ratio(tenfold.MB, base.MB);
  const timeRatio = ratio(tenfold.backupSeconds, base.backupSeconds);
  const recoverTimeRatio = ratio(tenfold.recoverSeconds, base.recoverSeconds);
  const growth = (a: number | null, b: number | null) => (a === null || b === null ? null : round(a - b, 1));
  const rssGrowthMB = growth(tenfold.backupRssMB, base.backupRssMB);
  const recoverRssGrowthMB = growth(tenfold.recoverRssMB, base.recoverRssMB);
  return {
    factor: input.factor,
    base,
    tenfold,
    dataRatio,
    timeRatio,
    recoverTimeRatio,
    rssGrowthMB,
    recoverRssGrowthMB,
    aims: {
      timeAtMostLinear: dataRatio === null ? null : met(timeRatio, dataRatio),
      recoverTimeAtMostLinear: dataRatio === null ? null : met(recoverTimeRatio, dataRatio),
      rssGrowthMB: met(rssGrowthMB, AIMS.scaleRssGrowthMB),
      recoverRssGrowthMB: met(recoverRssGrowthMB, AIMS.scaleRssGrowthMB),
    },
  };
}

export function benchFigures(input: BenchInput) {
  const seconds = Object.fromEntries(Object.entries(input.runs).map(([k, v]) => [k, med(v)])) as Record<keyof RawRuns, number | null>;
  const backupPeaks = [...input.rssMB.backupWebapi, ...input.rssMB.backupMount, ...input.rssMB.unchanged];
  const archiveUpload = med(input.backupSteps.webapi[ARCHIVE_UPLOAD_STEP]);
  const startupMs = med(input.ms?.startup, 0);
  const ifDueMs = med(input.ms?.ifDue, 0);
  const ifDueRssMB = peak(input.rssMB.ifDue);
  const startupRssMB = peak(input.rssMB.startup);
  const recoverRssMB = peak(input.rssMB.recover);
  const figures = {
    backupVsSeed: { webapi: ratio(seconds.backupWebapi, seconds.seedBackup), mount: ratio(seconds.backupMount, seconds.seedBackup) },
    archiveUploadVsSeed: ratio(archiveUpload, seconds.seedBackup),
    mountVsWebapi: ratio(seconds.backupMount, seconds.backupWebapi),
    unchangedVsFull: ratio(seconds.unchanged, seconds.backupWebapi),
    peakRssMB: peak(backupPeaks),
    peakRssRecoverMB: recoverRssMB,
    restoreVsSeed: ratio(seconds.restoreStep, seconds.seedRestore),
    recoverAfterPasswordVsSeed: ratio(seconds.recoverAfterPassword, seconds.seedRestore),
    recoverWholeVsSeed: ratio(seconds.recoverWhole, seconds.seedRestore),
    ifDueMs,
    ifDueRssMB,
  };
  const row = (r: Omit<AimRow, 'ratio' | 'result'>): AimRow => {
    const rowRatio = ratio(r.value, r.baseline);
    return { ...r, ratio: rowRatio, result: met(r.aimOn === 'ratio' ? rowRatio : r.value, r.aim) };
  };
  const table: AimRow[] = [
    row({ id: 'backupVsSeedWebapi', figure: 'backup, webapi, verified, vs tar czf + tahoe put', unit: 's', value: seconds.backupWebapi, baseline: seconds.seedBackup, baselineIs: 'the seed: tar czf + tahoe put', aimOn: 'ratio', aim: AIMS.backupVsSeed }),
    row({ id: 'archiveUploadVsSeed', figure: 'of which archive + upload alone, vs the seed', unit: 's', value: archiveUpload, baseline: seconds.seedBackup, baselineIs: 'the seed: tar czf + tahoe put', aimOn: 'ratio', aim: AIMS.archiveUploadVsSeed }),
    row({ id: 'backupVsSeedMount', figure: 'backup, mount (sshfs + rsync), vs webapi', unit: 's', value: seconds.backupMount, baseline: seconds.backupWebapi, baselineIs: 'sysback backup, webapi', aimOn: 'ratio', aim: AIMS.mountVsWebapi }),
    row({ id: 'unchangedVsFull', figure: 'unchanged re-backup vs full (webapi)', unit: 's', value: seconds.unchanged, baseline: seconds.backupWebapi, baselineIs: 'sysback backup --force, webapi', aimOn: 'ratio', aim: AIMS.unchangedVsFull }),
    row({ id: 'peakRssMB', figure: 'peak RSS, sysback backup (VmHWM)', unit: 'MB', value: figures.peakRssMB, baseline: startupRssMB, baselineIs: 'sysback --help', aimOn: 'value', aim: AIMS.peakRssMB }),
    row({ id: 'peakRssRecoverMB', figure: 'peak RSS, sysback recover (VmHWM)', unit: 'MB', value: recoverRssMB, baseline: startupRssMB, baselineIs: 'sysback --help', aimOn: 'value', aim: AIMS.peakRssRecoverMB }),
    row({ id: 'restoreVsSeed', figure: 'restore step (download + hash + safe extract) vs tahoe get + tar xzf', unit: 's', value: seconds.restoreStep, baseline: seconds.seedRestore, baselineIs: 'the seed: tahoe get + tar xzf', aimOn: 'ratio', aim: AIMS.restoreVsSeed }),
    row({ id: 'recoverWholeVsSeed', figure: 'whole recover vs tahoe get + tar xzf', unit: 's', value: seconds.recoverWhole, baseline: seconds.seedRestore, baselineIs: 'the seed: tahoe get + tar xzf', aimOn: 'ratio', aim: AIMS.recoverWholeVsSeed }),
    row({ id: 'ifDueMs', figure: 'backup --if-due, nothing due: time', unit: 'ms', value: ifDueMs, baseline: startupMs, baselineIs: 'sysback --help', aimOn: 'value', aim: AIMS.ifDueMs }),
    row({ id: 'ifDueRssMB', figure: 'backup --if-due, nothing due: peak RSS', unit: 'MB', value: ifDueRssMB, baseline: startupRssMB, baselineIs: 'sysback --help', aimOn: 'value', aim: AIMS.ifDueRssMB }),
  ];
  const aims = Object.fromEntries(table.map((r) => [r.id, r.result])) as Record<string, Verdict>;
  return {
    ...figures,
    aims,
    table,
    scale: input.scale ? scaleFigures(input.scale) : null,
    load: input.load ?? null,
    seconds,
    ms: { startup: startupMs, ifDue: ifDueMs },
    runs: Object.fromEntries(Object.entries(input.runs).map(([k, v]) => [k, (v as number[]).map((x) => round(x, 2))])) as Record<keyof RawRuns, number[]>,
    rssMB: {
      startup: startupRssMB,
      backupWebapi: peak(input.rssMB.backupWebapi),
      backupMount: peak(input.rssMB.backupMount),
      unchanged: peak(input.rssMB.unchanged),
      recover: recoverRssMB,
      ifDue: ifDueRssMB,
    },
    backupSteps: Object.fromEntries(
      Object.entries(input.backupSteps).map(([kind, steps]) => [kind, Object.fromEntries(Object.entries(steps).map(([name, v]) => [name, med(v)]))]),
    ) as Record<'webapi' | 'mount' | 'unchanged', Record<string, number | null>>,
    recoverSteps: Object.fromEntries(Object.entries(input.recoverSteps ?? {}).map(([name, v]) => [name, med(v)])),
    recoverPeakMB: Object.fromEntries(Object.entries(input.recoverPeakMB ?? {}).map(([name, v]) => [name, peak(v)])),
    imageBuild: input.imageBuild && {
      ...input.imageBuild,
      overlayOnlySeconds: input.imageBuild.overlayOnlySeconds === null ? null : round(input.imageBuild.overlayOnlySeconds, 2),
      fullSeconds: input.imageBuild.fullSeconds === null ? null : round(input.imageBuild.fullSeconds, 2),
      ...(input.imageBuild.removeOutputSeconds === undefined ? {} : { removeOutputSeconds: round(input.imageBuild.removeOutputSeconds, 1) }),
    },
    data: input.data,
    notMeasured: input.notMeasured,
    warnings: input.warnings,
    phases: input.phases.map((p) => ({ name: p.name, seconds: round(p.seconds, 1) })),
    environment: input.environment,
  };
}

export type BenchFigures = ReturnType<typeof benchFigures>;

const amount = (v: number | null | undefined, unit: string) => {
  if (v === null || v === undefined) return 'n/a';
  return unit === 's' ? `${v.toFixed(2)} s` : unit === 'ms' ? `${Math.round(v)} ms` : `${v} MB`;
};
const r = (v: number | null) => (v === null ? 'n/a' : v.toFixed(2));

function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

/** The aims table alone (issue 9's rows), as printed and as docs/benchmarks.md takes it. */
export function formatAimTable(f: BenchFigures): string[] {
  const rows: string[][] = [['figure', 'sysback', 'baseline', 'ratio', 'aim', 'result']];
  for (const row of f.table) {
    const aim = row.aimOn === 'ratio' ? `<= ${row.aim}` : `<= ${row.aim} ${row.unit}`;
    rows.push([row.figure, amount(row.value, row.unit), `${amount(row.baseline, row.unit)} (${row.baselineIs})`, r(row.ratio), aim, row.result ?? 'n/a']);
  }
  return columns(rows);
}

function formatScale(scale: NonNullable<BenchFigures['scale']>): string[] {
  const rows: string[][] = [['scale (webapi)', 'base', `x${scale.factor}`, 'ratio / growth', 'aim', 'result']];
  const set = (s: typeof scale.base) => `${s.files} files, ${s.MB} MB`;
  rows.push(['data set', set(scale.base), set(scale.tenfold), r(scale.dataRatio), '', '']);
  rows.push(['backup --force, time', amount(scale.base.backupSeconds, 's'), amount(scale.tenfold.backupSeconds, 's'), r(scale.timeRatio), `<= ${r(scale.dataRatio)} (linear)`, scale.aims.timeAtMostLinear ?? 'n/a']);
  rows.push(['backup --force, peak RSS', amount(scale.base.backupRssMB, 'MB'), amount(scale.tenfold.backupRssMB, 'MB'), scale.rssGrowthMB === null ? 'n/a' : `+${scale.rssGrowthMB} MB`, `<= +${AIMS.scaleRssGrowthMB} MB`, scale.aims.rssGrowthMB ?? 'n/a']);
  rows.push(['recover, time', amount(scale.base.recoverSeconds, 's'), amount(scale.tenfold.recoverSeconds, 's'), r(scale.recoverTimeRatio), `<= ${r(scale.dataRatio)} (linear)`, scale.aims.recoverTimeAtMostLinear ?? 'n/a']);
  rows.push(['recover, peak RSS', amount(scale.base.recoverRssMB, 'MB'), amount(scale.tenfold.recoverRssMB, 'MB'), scale.recoverRssGrowthMB === null ? 'n/a' : `+${scale.recoverRssGrowthMB} MB`, `<= +${AIMS.scaleRssGrowthMB} MB`, scale.aims.recoverRssGrowthMB ?? 'n/a']);
  return columns(rows);
}

const loadLine = (sample: LoadSample) => `${sample.at}: ${sample.uptime} (os.loadavg ${sample.loadavg.map((v) => v.toFixed(2)).join(' ')})`;

export function formatTable(f: BenchFigures): string {
  const out = formatAimTable(f);
  const other: string[][] = [['other figures', 'sysback', 'baseline', 'ratio']];
  const x = f.seconds;
  other.push(['backup, mount (--force) vs tar czf + tahoe put', amount(x.backupMount, 's'), amount(x.seedBackup, 's'), r(f.backupVsSeed.mount)]);
  other.push(['recover, password accepted -> reboot, vs tahoe get + tar xzf', amount(x.recoverAfterPassword, 's'), amount(x.seedRestore, 's'), r(f.recoverAfterPasswordVsSeed)]);
  other.push(['floor: web-API PUT of the finished archive (the node\'s own upload work) vs the seed', amount(x.webapiPutFloor, 's'), amount(x.seedBackup, 's'), r(ratio(x.webapiPutFloor ?? null, x.seedBackup))]);
  other.push(['configure ("new" flow, whole command)', amount(x.configure, 's'), '', '']);
  other.push(['image build, --overlay-only', amount(f.imageBuild?.overlayOnlySeconds, 's'), '', '']);
  other.push(['image build, full (overlay, rootfs, disk)', amount(f.imageBuild?.fullSeconds, 's'), '', '']);
  out.push('', ...columns(other));
  if (f.scale) out.push('', ...formatScale(f.scale));
  out.push('', `medians of ${Math.max(...Object.values(f.runs).map((v) => v.length))} runs where repeated; raw seconds: --json`);
  if (f.load) {
    out.push(`load at start, ${loadLine(f.load.start)}`);
    if (f.load.end) out.push(`load at end,   ${loadLine(f.load.end)}`);
  }
  out.push(`data: ${Object.entries(f.data).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`peak RSS by command: ${Object.entries(f.rssMB).map(([k, v]) => `${k} ${v ?? 'n/a'} MB`).join(', ')}`);
  for (const [kind, steps] of Object.entries(f.backupSteps)) {
    if (Object.keys(steps).length) out.push(`inside sysback backup (${kind}, medians): ${Object.entries(steps).map(([k, v]) => `${k} ${v ?? 'n/a'} s`).join(', ')}`);
  }
  const recoverSteps = Object.entries(f.recoverSteps ?? {});
  const peakAfter = (step: string) => (f.recoverPeakMB[step] == null ? '' : `  (peak RSS so far ${f.recoverPeakMB[step]} MB)`);
  if (recoverSteps.length) out.push('inside sysback recover (medians):', ...recoverSteps.map(([k, v]) => `  ${k} ${v ?? 'n/a'} s${peakAfter(k)}`));
  for (const [what, why] of Object.entries(f.notMeasured)) out.push(`not measured: ${what}: ${why}`);
  for (const w of f.warnings) out.push(`warning: ${w}`);
  if (f.imageBuild?.steps) out.push(`image build steps: ${Object.entries(f.imageBuild.steps).map(([k, v]) => `${k} ${v} s`).join(', ')}`);
  out.push('', 'where the time went:');
  const total = f.phases.reduce((a, p) => a + p.seconds, 0);
  const width = Math.max(5, ...f.phases.map((p) => p.name.length));
  for (const p of f.phases) out.push(`  ${p.name.padEnd(width)} ${p.seconds.toFixed(1).padStart(7)} s`);
  out.push(`  ${'total'.padEnd(width)} ${total.toFixed(1).padStart(7)} s`);
  return out.join('\n') + '\n';
}
