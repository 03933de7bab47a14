// Owns the private area's layout and its manifest (DESIGN §4.4):
//   SysBackup.tar.gz                       the latest verified generation (a link to the same cap)
//   archives/SysBackup-<UTC>[-<n>].tar.gz  every generation kept by the retention policy
//   manifest.json                          what each generation is: its sequence number, sha256, size,
//                                          entries, host, created, sysback version, and the files.txt
//                                          patterns it was made from (the restore's allowed list)
// Contract: the manifest schema is versioned and validated on read (a damaged manifest is a
// CorruptError, and recovery can still fall back to the archives/ listing). Generation ORDER is the
// sequence number `seq` the manifest gives each generation (the next is always the highest kept + 1),
// never the name and never the wall clock: a router's clock can be behind or ahead, so `created` and
// the name's time are for people only. A manifest written before `seq` existed still parses: its list
// order (newest first) gives the order. Retention is a pure choice by `seq` and never drops the newest.
import { z } from 'zod';
import { CorruptError } from '../core/errors.ts';
import { validateWith } from '../core/config/validate.ts';

export const MANIFEST_FORMAT = 'sysback-manifest/1';
export const LATEST_NAME = 'SysBackup.tar.gz';
export const ARCHIVES_DIR = 'archives';
export const MANIFEST_NAME = 'manifest.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** a generation's file name in archives/ (the `-<n>` suffix only when a clock repeated a second) */
export const GENERATION_NAME = /^SysBackup-\d{8}T\d{6}Z(-\d{1,6})?\.tar\.gz$/;

export const generationSchema = z
  .object({
    /** file name in archives/ */
    name: z.string().regex(GENERATION_NAME),
    /** order of generations: higher is newer (absent in manifests older than this field) */
    seq: z.number().int().min(1).optional(),
    created: z.string(),
    sha256,
    size: z.number().int().min(0),
    entries: z.number().int().min(0),
    host: z.string(),
    sysbackVersion: z.string(),
    /** files.txt patterns the archive was made from: what a restore may write */
    patterns: z.array(z.string()).min(1),
  })
  .strict();

export const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    updated: z.string(),
    /** newest first */
    generations: z.array(generationSchema),
  })
  .strict();

export type Generation = z.infer<typeof generationSchema>;
/** a generation whose place in the order is known */
export type OrderedGeneration = Generation & { seq: number };
export type Manifest = Omit<z.infer<typeof manifestSchema>, 'generations'> & { generations: OrderedGeneration[] };

/** `SysBackup-20261127T220501Z.tar.gz` for a time (UTC, whole seconds). */
export function generationName(time: Date): string {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `SysBackup-${stamp}.tar.gz`;
}

export function parseManifest(text: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CorruptError('the backup manifest is not JSON');
  }
  const result = validateWith(manifestSchema, json);
  if (!result.ok) {
    throw new CorruptError(`the backup manifest is damaged: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
  return { ...result.value, generations: ordered(result.value.generations) };
}

/**
 * The generations in their order, newest first, each with a `seq`. Generations that carry a `seq`
 * are sorted by it; an old manifest's generations (no `seq`) are numbered from their list order,
 * which was newest first; in a mixed list the listed order is kept and numbers only ever increase
 * towards the front, so nothing written later can sort below what it followed. Pure.
 */
export function ordered(generations: readonly Generation[]): OrderedGeneration[] {
  if (generations.length > 0 && generations.every((g) => g.seq !== undefined)) {
    return [...(generations as OrderedGeneration[])].sort((a, b) => b.seq - a.seq);
  }
  const out: OrderedGeneration[] = [];
  let next = 0;
  for (const g of [...generations].reverse()) {
    next = Math.max(next + 1, g.seq ?? 0);
    out.unshift({ ...g, seq: next });
  }
  return out;
}

/** The sequence number the next generation gets: one above every generation the manifest holds. */
export function nextSeq(previous: Manifest | undefined): number {
  return Math.max(0, ...(previous?.generations ?? []).map((g) => g.seq)) + 1;
}

/**
 * The file name for a new generation made at `time` (the caller's clock): `generationName(time)`,
 * with `-2`, `-3`, ... when a generation of that name exists already (a clock that stepped back
 * repeats names; a new archive must never overwrite an old one).
 */
export function uniqueGenerationName(time: Date, existing: Iterable<string>): string {
  const taken = new Set(existing);
  const base = generationName(time);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const name = base.replace(/\.tar\.gz$/, `-${n}.tar.gz`);
    if (!taken.has(name)) return name;
  }
}

/**
 * The manifest after adding `generation` as the newest (it gets `nextSeq(previous)`, whatever its
 * `created` or name say) and keeping `retention` generations by sequence. `pruned` are the names
 * of the generations dropped; the new one is never among them. `now` is only the manifest's
 * informative `updated` field.
 */
export function withGeneration(
  previous: Manifest | undefined,
  generation: Generation,
  retention: number,
  now: Date,
): { manifest: Manifest; pruned: string[] } {
  const newest: OrderedGeneration = { ...generation, seq: nextSeq(previous) };
  const others = (previous?.generations ?? []).filter((g) => g.name !== generation.name);
  const { keep, prune } = chooseRetention([newest, ...others], retention);
  return {
    manifest: { format: MANIFEST_FORMAT, updated: now.toISOString(), generations: keep },
    pruned: prune.map((g) => g.name).filter((name) => name !== newest.name),
  };
}

/**
 * Which generations to keep: the `retention` highest by sequence, newest first. Never fewer than
 * one, and the newest (highest `seq`) is always kept, whatever names or times say. Pure.
 */
export function chooseRetention<G extends { name: string; seq: number }>(generations: readonly G[], retention: number): { keep: G[]; prune: G[] } {
  const sorted = [...generations].sort((a, b) => b.seq - a.seq);
  const count = Math.max(1, Math.floor(Number.isFinite(retention) ? retention : 1));
  return { keep: sorted.slice(0, count), prune: sorted.slice(count) };
}

/**
 * The lines a person chooses a generation from: newest first by sequence, each with its number in
 * the list, the time it was made (as that router's clock said) and the host, so a generation made
 * by someone else (a thief holding the old router) stands out. Pure.
 */
export function generationChoices(generations: readonly OrderedGeneration[]): string[] {
  return [...generations]
    .sort((a, b) => b.seq - a.seq)
    .map((g, i) => `${i + 1}. ${g.created || g.name}  host ${g.host}  ${g.size} bytes${g.entries ? `, ${g.entries} entries` : ''}${i === 0 ? '  (newest)' : ''}`);
}

/**
 * The generation headless answers ask for: `generation` ("latest", a name, a name's time, or the
 * start of `created`), and/or `notAfter` (the newest generation created at or before that time: the
 * owner knows when the router was lost; a generation whose `created` cannot be read is not taken).
 * Undefined when none fits. Newest means highest sequence, never the latest time. Pure.
 */
export function pickGeneration(
  generations: readonly OrderedGeneration[],
  wanted: { generation?: string; notAfter?: string } = {},
): OrderedGeneration | undefined {
  let candidates = [...generations].sort((a, b) => b.seq - a.seq);
  if (wanted.notAfter !== undefined) {
    const limit = Date.parse(wanted.notAfter);
    candidates = candidates.filter((g) => {
      const made = Date.parse(g.created);
      return Number.isFinite(made) && made <= limit;
    });
  }
  const name = wanted.generation;
  if (name === undefined || name === 'latest') return candidates[0];
  return candidates.find((g) => g.name === name || g.name === `SysBackup-${name}.tar.gz` || (g.created !== '' && g.created.startsWith(name)));
}
