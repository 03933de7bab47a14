// `npm run faults [-- --seed N] [-- --json] [-- --quick] [-- --kinds a,b]`: the fault campaign
// (scripts/fault-campaign.ts, docs/faults.md). Prints the seed first (rerun the same plan with
// --seed), progress on stderr, then the table (or, with --json, one JSON object on stdout: injected,
// survived, rerunsOk, lost, seed, kinds[], faults[]). Exits 1 when data was lost or a rerun failed,
// 2 for bad arguments, 130 on Ctrl-C; in every case after stopping and removing what it started.
import { bundle } from './bundle.ts';
import { Campaign, KINDS, type CampaignResult, type Kind } from './fault-campaign.ts';

function usage(problem: string): never {
  process.stderr.write(`faults: ${problem}\nusage: npm run faults [-- --seed N] [-- --json] [-- --quick] [-- --kinds ${KINDS.join(',')}]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let seed = Math.floor(Math.random() * 2 ** 31);
let json = false;
let quick = false;
let kinds: Kind[] | undefined;
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--json') json = true;
  else if (arg === '--quick') quick = true;
  else if (arg === '--seed' || arg.startsWith('--seed=')) {
    const value = arg.includes('=') ? arg.slice(7) : args[++i];
    if (!value || !/^\d+$/.test(value)) usage(`--seed needs a non-negative integer, got ${JSON.stringify(value)}`);
    seed = Number(value);
  } else if (arg === '--kinds' || arg.startsWith('--kinds=')) {
    const value = arg.includes('=') ? arg.slice(8) : args[++i];
    const list = (value ?? '').split(',').filter(Boolean);
    const bad = list.filter((k) => !(KINDS as readonly string[]).includes(k));
    if (!list.length || bad.length) usage(`unknown fault kind(s): ${bad.join(', ') || '(none given)'}`);
    kinds = list as Kind[];
  } else usage(`unknown argument ${arg}`);
}
if (process.getuid?.() !== 0) usage('the campaign needs root (overlayfs, tmpfs, chroot)');

const say = (line: string) => process.stderr.write(`${line}\n`);
say(`fault campaign: seed ${seed}${quick ? ' (quick)' : ''} (reproduce with: npm run faults -- --seed ${seed}${quick ? ' --quick' : ''})`);
const campaign = new Campaign({ seed, quick, ...(kinds ? { kinds } : {}), say });

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    say(`faults: ${signal}: stopping everything the campaign started`);
    void campaign.cleanup().finally(() => process.exit(130));
  });
}

let result: CampaignResult | undefined;
let failure: unknown;
// keeps the event loop alive while the campaign runs: a promise that never settles then hangs (and
// Ctrl-C still cleans up) instead of Node ending the process with exit 13 and leaving nodes behind
const keepAlive = setInterval(() => {}, 60_000);
try {
  // the routers carry dist/device: built from the sources now, never an older bundle
  await bundle();
  result = await campaign.run();
} catch (error) {
  failure = error;
} finally {
  await campaign.cleanup();
  clearInterval(keepAlive);
}
if (stopping) await new Promise(() => {});
if (!result) {
  say(`faults: the campaign could not run: ${(failure as Error)?.stack ?? failure}`);
  process.exit(1);
}

if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
else process.stdout.write(table(result));
process.exitCode = result.lost > 0 || result.rerunsOk < result.injected ? 1 : 0;

function table(r: CampaignResult): string {
  const rows = [['fault kind', 'injected', 'survived', 'rerunsOk', 'lost'], ...r.kinds.map((k) => [k.kind, k.injected, k.survived, k.rerunsOk, k.lost].map(String)), ['total', r.injected, r.survived, r.rerunsOk, r.lost].map(String)];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |\n`;
  const rule = `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|\n`;
  const failures = r.faults.filter((f) => !f.survived || !f.rerunOk || f.lost).map((f) => `- ${f.kind} #${f.n}: ${f.landed}: ${f.detail}\n`);
  return `\nseed ${r.seed}${r.quick ? ' (quick)' : ''}, ${r.seconds} s\n\n${line(rows[0]!)}${rule}${rows.slice(1).map(line).join('')}\n${failures.length ? `faults that did not end well:\n${failures.join('')}` : 'every fault ended well\n'}`;
}
