// Owns the private area's layout and its manifest (DESIGN §4.4):
//   SysBackup.tar.gz                       the latest verified generation (a link to the same cap)
//   archives/SysBackup-<UTC>.tar.gz        every generation kept by the retention policy
//   manifest.json                          what each generation is: sha256, size, entries, host,
//                                          created, sysback version, and the files.txt patterns it
//                                          was made from (the restore's allowed list)
// Contract: the manifest schema is versioned and validated on read (a damaged manifest is a
// CorruptError, and recovery can still fall back to the archives/ listing); retention is a pure choice.
import { z } from 'zod';
import { CorruptError } from '../core/errors.ts';
import { validateWith } from '../core/config/validate.ts';

export const MANIFEST_FORMAT = 'sysback-manifest/1';
export const LATEST_NAME = 'SysBackup.tar.gz';
export const ARCHIVES_DIR = 'archives';
export const MANIFEST_NAME = 'manifest.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** a generation's file name in archives/ */
export const GENERATION_NAME = /^SysBackup-\d{8}T\d{6}Z\.tar\.gz$/;

export const generationSchema = z
  .object({
    /** file name in archives/ */
    name: z.string().regex(GENERATION_NAME),
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
export type Manifest = z.infer<typeof manifestSchema>;

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
  return result.value;
}

/** The manifest after adding `generation` as the newest and keeping `retention` generations. */
export function withGeneration(previous: Manifest | undefined, generation: Generation, retention: number, now: Date): { manifest: Manifest; pruned: string[] } {
  const others = (previous?.generations ?? []).filter((g) => g.name !== generation.name);
  const all = [generation, ...others];
  const { keep, prune } = chooseRetention(all.map((g) => g.name), retention);
  return {
    manifest: { format: MANIFEST_FORMAT, updated: now.toISOString(), generations: all.filter((g) => keep.includes(g.name)) },
    pruned: prune,
  };
}

/**
 * Which generations to keep: the newest `retention` by name (names sort by time). Never fewer than
 * one, and the newest is always kept. Pure.
 */
export function chooseRetention(names: readonly string[], retention: number): { keep: string[]; prune: string[] } {
  const sorted = [...new Set(names)].sort().reverse();
  const count = Math.max(1, Math.floor(retention));
  return { keep: sorted.slice(0, count), prune: sorted.slice(count) };
}
