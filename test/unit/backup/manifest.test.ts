import test from 'ava';
import {
  chooseRetention,
  generationChoices,
  generationName,
  pickGeneration,
  GENERATION_NAME,
  MANIFEST_FORMAT,
  nextSeq,
  ordered,
  parseManifest,
  uniqueGenerationName,
  withGeneration,
  type Generation,
  type Manifest,
} from '../../../backup/manifest.ts';
import { CorruptError } from '../../../core/errors.ts';

function gen(time: string, extra: Partial<Generation> = {}): Generation {
  return {
    name: generationName(new Date(time)),
    created: time,
    sha256: 'a'.repeat(64),
    size: 1,
    entries: 1,
    host: 'router',
    sysbackVersion: '0.1.0',
    patterns: ['/etc'],
    ...extra,
  };
}

/** Runs backups at the given clock times, retention `keep`; returns the manifest and everything pruned. */
function runAt(times: string[], keep: number): { manifest: Manifest; pruned: string[]; made: string[] } {
  let manifest: Manifest | undefined;
  const pruned: string[] = [];
  const made: string[] = [];
  for (const time of times) {
    const now = new Date(time);
    const name = uniqueGenerationName(now, manifest?.generations.map((g) => g.name) ?? []);
    made.push(name);
    const result = withGeneration(manifest, gen(time, { name }), keep, now);
    manifest = parseManifest(JSON.stringify(result.manifest));
    pruned.push(...result.pruned);
  }
  return { manifest: manifest!, pruned, made };
}

const retentionTable: Array<{ title: string; times: string[]; keep: number }> = [
  { title: 'a clock that runs right', times: ['2026-11-01T00:00:00Z', '2026-11-11T00:00:00Z', '2026-11-21T00:00:00Z', '2026-12-01T00:00:00Z'], keep: 2 },
  { title: 'a clock that stepped back a year before the last run', times: ['2026-11-01T00:00:00Z', '2026-11-11T00:00:00Z', '2026-11-21T00:00:00Z', '2025-11-21T00:00:00Z'], keep: 2 },
  { title: 'a clock stuck at the epoch after the first run (no RTC, no NTP yet)', times: ['2026-11-01T00:00:00Z', '1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'], keep: 2 },
  { title: 'a clock far ahead, then corrected', times: ['2026-11-01T00:00:00Z', '2036-11-01T00:00:00Z', '2026-11-11T00:00:00Z', '2026-11-21T00:00:00Z'], keep: 2 },
  { title: 'retention 1 with a clock behind', times: ['2026-11-21T00:00:00Z', '2026-11-01T00:00:00Z'], keep: 1 },
];

for (const row of retentionTable) {
  test(`retention by sequence, ${row.title}: the newest run is kept, the newest N by run order survive`, (t) => {
    const { manifest, pruned, made } = runAt(row.times, row.keep);
    const newest = made[made.length - 1]!;
    t.is(manifest.generations[0]!.name, newest, 'the generation of the last run is the newest');
    t.false(pruned.includes(newest), 'the newest is never pruned');
    t.deepEqual(
      manifest.generations.map((g) => g.name),
      made.slice(-row.keep).reverse(),
      'exactly the last N runs, newest first',
    );
    t.is(new Set(made).size, made.length, 'no two runs share an archive name, even when the clock repeats');
    t.deepEqual(manifest.generations.map((g) => g.seq), manifest.generations.map((_, i) => row.times.length - i));
  });
}

test('a new archive never takes the name of an old one when the clock repeats a second', (t) => {
  const time = new Date('2026-11-01T00:00:00Z');
  const first = generationName(time);
  t.is(uniqueGenerationName(time, []), first);
  t.is(uniqueGenerationName(time, [first]), first.replace('.tar.gz', '-2.tar.gz'));
  t.is(uniqueGenerationName(time, [first, first.replace('.tar.gz', '-2.tar.gz')]), first.replace('.tar.gz', '-3.tar.gz'));
  t.regex(first.replace('.tar.gz', '-2.tar.gz'), GENERATION_NAME);
});

test('an old manifest without seq still parses; its list order (newest first) is the order', (t) => {
  const old = {
    format: MANIFEST_FORMAT,
    updated: '2026-11-21T00:00:00.000Z',
    // names say the opposite of the list: the list wins
    generations: [gen('2025-01-01T00:00:00Z'), gen('2026-11-11T00:00:00Z'), gen('2026-11-01T00:00:00Z')],
  };
  const manifest = parseManifest(JSON.stringify(old));
  t.deepEqual(manifest.generations.map((g) => g.seq), [3, 2, 1]);
  t.is(manifest.generations[0]!.name, generationName(new Date('2025-01-01T00:00:00Z')));
  t.is(nextSeq(manifest), 4);
  const { manifest: next, pruned } = withGeneration(manifest, gen('2024-01-01T00:00:00Z'), 2, new Date('2024-01-01T00:00:00Z'));
  t.is(next.generations[0]!.name, generationName(new Date('2024-01-01T00:00:00Z')), 'the new one is newest, clock or not');
  t.deepEqual(pruned, [generationName(new Date('2026-11-11T00:00:00Z')), generationName(new Date('2026-11-01T00:00:00Z'))]);
});

test('generations with seq are ordered by seq, not by list position or name', (t) => {
  const list = [gen('2026-11-01T00:00:00Z', { seq: 1 }), gen('2020-01-01T00:00:00Z', { seq: 7 }), gen('2030-01-01T00:00:00Z', { seq: 3 })];
  t.deepEqual(ordered(list).map((g) => g.seq), [7, 3, 1]);
});

test('a mixed list (an entry without seq slipped in) keeps its listed order and increasing numbers', (t) => {
  const list = [gen('2026-11-21T00:00:00Z'), gen('2026-11-11T00:00:00Z', { seq: 5 }), gen('2026-11-01T00:00:00Z', { seq: 4 })];
  t.deepEqual(ordered(list).map((g) => g.seq), [6, 5, 4]);
});

test('chooseRetention keeps at least one and the highest sequence, whatever the retention says', (t) => {
  const gens = [{ name: 'b', seq: 2 }, { name: 'c', seq: 3 }, { name: 'a', seq: 1 }];
  t.deepEqual(chooseRetention(gens, 0).keep.map((g) => g.name), ['c']);
  t.deepEqual(chooseRetention(gens, Number.NaN).keep.map((g) => g.name), ['c']);
  t.deepEqual(chooseRetention(gens, 2).prune.map((g) => g.name), ['a']);
});

test('a damaged manifest is a CorruptError', (t) => {
  t.throws(() => parseManifest('{'), { instanceOf: CorruptError });
  t.throws(() => parseManifest(JSON.stringify({ format: MANIFEST_FORMAT, updated: 'x', generations: [{ ...gen('2026-11-01T00:00:00Z'), seq: 0 }] })), { instanceOf: CorruptError });
});

test('generation choice: newest first by sequence with time and host; notAfter picks the newest made before the theft', (t) => {
  const list = ordered([
    gen('2026-11-21T00:00:00Z', { seq: 3, host: 'thief-box' }),
    gen('2026-11-11T00:00:00Z', { seq: 2 }),
    gen('2026-11-01T00:00:00Z', { seq: 1 }),
  ]);
  const lines = generationChoices(list);
  t.regex(lines[0]!, /^1\. 2026-11-21T00:00:00Z  host thief-box .*\(newest\)$/);
  t.regex(lines[2]!, /^3\. 2026-11-01T00:00:00Z  host router/);
  t.is(pickGeneration(list)?.seq, 3);
  t.is(pickGeneration(list, { notAfter: '2026-11-15T00:00:00Z' })?.seq, 2);
  t.is(pickGeneration(list, { notAfter: '2020-01-01T00:00:00Z' }), undefined);
  t.is(pickGeneration(list, { generation: '2026-11-01' })?.seq, 1);
  t.is(pickGeneration(list, { generation: list[1]!.name })?.seq, 2);
});
