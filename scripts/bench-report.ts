// Owns turning the benchmark's raw measurements into its figures and their two outputs: one JSON
// object (`npm run bench -- --json`) and a human table. Contract: every ratio is sysback's median
// time divided by its baseline's median time (below 1 = sysback is faster); a figure that could not
// be measured is null with its reason in `notMeasured`, never a made-up number. The aims are issue 3's.
import { median, round } from './bench-probe.ts';

export const AIMS = {
  backupVsSeed: 0.6,
  unchangedVsFull: 0.05,
  peakRssMB: 80,
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
}

export interface BenchInput {
  runs: RawRuns;
  /** peak VmHWM per command; `startup` is `sysback --help` (node + the bundle loaded, nothing done) */
  rssMB: { startup: number[]; backupWebapi: number[]; backupMount: number[]; unchanged: number[]; recover: number[] };
  /** per transport (and the unchanged run): seconds of each logged backup step, per run */
  backupSteps: { webapi: Record<string, number[]>; mount: Record<string, number[]>; unchanged: Record<string, number[]> };
  data: Record<string, number | string>;
  imageBuild: ImageBuild | null;
  notMeasured: Record<string, string>;
  warnings: string[];
  phases: Phase[];
  environment: Record<string, string | number>;
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : round(a / b, 3));
const med = (values: number[]) => (values.length ? round(median(values), 2) : null);
const peak = (values: number[]) => (values.length ? Math.max(...values) : null);

export function benchFigures(input: BenchInput) {
  const seconds = Object.fromEntries(Object.entries(input.runs).map(([k, v]) => [k, med(v)])) as Record<keyof RawRuns, number | null>;
  const backupPeaks = [...input.rssMB.backupWebapi, ...input.rssMB.backupMount, ...input.rssMB.unchanged];
  const figures = {
    backupVsSeed: { webapi: ratio(seconds.backupWebapi, seconds.seedBackup), mount: ratio(seconds.backupMount, seconds.seedBackup) },
    unchangedVsFull: ratio(seconds.unchanged, seconds.backupWebapi),
    peakRssMB: peak(backupPeaks),
    restoreVsSeed: ratio(seconds.restoreStep, seconds.seedRestore),
    recoverAfterPasswordVsSeed: ratio(seconds.recoverAfterPassword, seconds.seedRestore),
    recoverWholeVsSeed: ratio(seconds.recoverWhole, seconds.seedRestore),
  };
  const aims = {
    backupVsSeedWebapi: met(figures.backupVsSeed.webapi, AIMS.backupVsSeed, true),
    backupVsSeedMount: met(figures.backupVsSeed.mount, AIMS.backupVsSeed, true),
    unchangedVsFull: met(figures.unchangedVsFull, AIMS.unchangedVsFull, false),
    peakRssMB: met(figures.peakRssMB, AIMS.peakRssMB, false),
  };
  return {
    ...figures,
    aims,
    seconds,
    runs: Object.fromEntries(Object.entries(input.runs).map(([k, v]) => [k, (v as number[]).map((x) => round(x, 2))])) as Record<keyof RawRuns, number[]>,
    rssMB: {
      startup: peak(input.rssMB.startup),
      backupWebapi: peak(input.rssMB.backupWebapi),
      backupMount: peak(input.rssMB.backupMount),
      unchanged: peak(input.rssMB.unchanged),
      recover: peak(input.rssMB.recover),
    },
    backupSteps: Object.fromEntries(
      Object.entries(input.backupSteps).map(([kind, steps]) => [kind, Object.fromEntries(Object.entries(steps).map(([name, v]) => [name, med(v)]))]),
    ) as Record<'webapi' | 'mount' | 'unchanged', Record<string, number | null>>,
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

/** 'met' / 'not met' against an aim (`inclusive`: at most; otherwise strictly under); null when unmeasured. */
function met(value: number | null, aim: number, inclusive: boolean): 'met' | 'not met' | null {
  if (value === null) return null;
  return (inclusive ? value <= aim : value < aim) ? 'met' : 'not met';
}

const s = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(2)} s`);
const r = (v: number | null) => (v === null ? 'n/a' : v.toFixed(2));

export function formatTable(f: BenchFigures): string {
  const rows: string[][] = [['figure', 'sysback', 'baseline', 'ratio', 'aim', 'result']];
  const x = f.seconds;
  rows.push(['backup, webapi (--force) vs tar czf + tahoe put', s(x.backupWebapi), s(x.seedBackup), r(f.backupVsSeed.webapi), `<= ${AIMS.backupVsSeed}`, f.aims.backupVsSeedWebapi ?? 'n/a']);
  rows.push(['backup, mount (--force) vs tar czf + tahoe put', s(x.backupMount), s(x.seedBackup), r(f.backupVsSeed.mount), `<= ${AIMS.backupVsSeed}`, f.aims.backupVsSeedMount ?? 'n/a']);
  rows.push(['unchanged re-backup vs full backup (webapi)', s(x.unchanged), s(x.backupWebapi), r(f.unchangedVsFull), `< ${AIMS.unchangedVsFull}`, f.aims.unchangedVsFull ?? 'n/a']);
  rows.push(['peak RSS of sysback backup (VmHWM)', f.peakRssMB === null ? 'n/a' : `${f.peakRssMB} MB`, f.rssMB.startup == null ? '' : `${f.rssMB.startup} MB (start-up, --help)`, '', `< ${AIMS.peakRssMB} MB`, f.aims.peakRssMB ?? 'n/a']);
  rows.push(['restore step (download+verify+extract) vs tahoe get + tar xzf', s(x.restoreStep), s(x.seedRestore), r(f.restoreVsSeed), '', '']);
  rows.push(['recover, password accepted -> reboot, vs tahoe get + tar xzf', s(x.recoverAfterPassword), s(x.seedRestore), r(f.recoverAfterPasswordVsSeed), '', '']);
  rows.push(['recover, whole command vs tahoe get + tar xzf', s(x.recoverWhole), s(x.seedRestore), r(f.recoverWholeVsSeed), '', '']);
  rows.push(['configure ("new" flow, whole command)', s(x.configure), '', '', '', '']);
  rows.push(['image build, --overlay-only', s(f.imageBuild?.overlayOnlySeconds), '', '', '', '']);
  rows.push(['image build, full (overlay, rootfs, disk)', s(f.imageBuild?.fullSeconds), '', '', '', '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  out.push('', `medians of ${Math.max(...Object.values(f.runs).map((v) => v.length))} runs where repeated; raw seconds: --json`);
  out.push(`data: ${Object.entries(f.data).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`peak RSS by command: ${Object.entries(f.rssMB).map(([k, v]) => `${k} ${v ?? 'n/a'} MB`).join(', ')}`);
  for (const [kind, steps] of Object.entries(f.backupSteps)) {
    if (Object.keys(steps).length) out.push(`inside sysback backup (${kind}, medians): ${Object.entries(steps).map(([k, v]) => `${k} ${v ?? 'n/a'} s`).join(', ')}`);
  }
  for (const [what, why] of Object.entries(f.notMeasured)) out.push(`not measured: ${what}: ${why}`);
  for (const w of f.warnings) out.push(`warning: ${w}`);
  if (f.imageBuild?.steps) out.push(`image build steps: ${Object.entries(f.imageBuild.steps).map(([k, v]) => `${k} ${v} s`).join(', ')}`);
  out.push('', 'where the time went:');
  const total = f.phases.reduce((a, p) => a + p.seconds, 0);
  const width = Math.max(...f.phases.map((p) => p.name.length));
  for (const p of f.phases) out.push(`  ${p.name.padEnd(width)} ${p.seconds.toFixed(1).padStart(7)} s`);
  out.push(`  ${'total'.padEnd(width)} ${total.toFixed(1).padStart(7)} s`);
  return out.join('\n') + '\n';
}
