// Owns reading the overlay source folders: `overlays/<layer>/<device path>` mirrors the device tree
// (OpenWrt's FILES=, mkosi's ExtraTrees), `*.mustache` files are templates that lose the suffix, and
// `overlays/manifest.json` is the one place that gives modes and owners. Reading is separate from
// planning so the plan stays pure: `computePlan` gets what this returns.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadJsonConfig } from '../core/config/validate.ts';
import { validateWith } from '../core/config/validate.ts';
import { UserError } from '../core/errors.ts';

export const TEMPLATE_SUFFIX = '.mustache';

export function defaultOverlaysDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'overlays');
}

export type OverlaySource =
  | { kind: 'dir'; layer: string; devicePath: string }
  | { kind: 'file'; layer: string; devicePath: string; template: boolean; text: string; from: string }
  | { kind: 'symlink'; layer: string; devicePath: string; target: string };

const mode = z.string().regex(/^0?[0-7]{3,4}$/, 'an octal mode such as 0644');
const owner = z.string().regex(/^\d+:\d+$/, 'numeric uid:gid such as 0:0');
export const manifestSchema = z
  .object({
    $comment: z.string().optional(),
    defaults: z.object({ file: mode, dir: mode, owner }).strict(),
    entries: z.record(z.string().regex(/^\/[^\s]*$/, 'an absolute device path'), z.object({ mode: mode.optional(), owner: owner.optional() }).strict()),
  })
  .strict();
export type OverlayManifest = z.infer<typeof manifestSchema>;

export interface OverlayInput {
  layers: string[];
  sources: OverlaySource[];
  manifest: OverlayManifest;
}

/** Reads every layer in `layers` (in order) from `overlaysDir`. */
export function readOverlaySources(overlaysDir: string, layers: readonly string[]): OverlayInput {
  const manifest = loadJsonConfig(path.join(overlaysDir, 'manifest.json'), (input) => validateWith(manifestSchema, input));
  const sources: OverlaySource[] = [];
  for (const layer of layers) {
    const top = path.join(overlaysDir, layer);
    let stat;
    try {
      stat = lstatSync(top);
    } catch {
      throw new UserError(`overlay layer "${layer}" does not exist in ${overlaysDir}`, 'check "layers" in the build config');
    }
    if (!stat.isDirectory()) throw new UserError(`overlay layer ${top} is not a directory`);
    walk(top, '', layer, sources);
  }
  return { layers: [...layers], sources, manifest };
}

function walk(top: string, rel: string, layer: string, out: OverlaySource[]): void {
  for (const name of readdirSync(path.join(top, rel)).sort()) {
    const relPath = rel ? `${rel}/${name}` : name;
    const full = path.join(top, relPath);
    const stat = lstatSync(full);
    if (stat.isDirectory()) {
      out.push({ kind: 'dir', layer, devicePath: `/${relPath}` });
      walk(top, relPath, layer, out);
    } else if (stat.isSymbolicLink()) {
      out.push({ kind: 'symlink', layer, devicePath: `/${relPath}`, target: readlinkSync(full) });
    } else if (stat.isFile()) {
      const template = name.endsWith(TEMPLATE_SUFFIX);
      const devicePath = `/${template ? relPath.slice(0, -TEMPLATE_SUFFIX.length) : relPath}`;
      out.push({ kind: 'file', layer, devicePath, template, text: readFileSync(full, 'utf8'), from: full });
    } else {
      throw new UserError(`overlay ${full} is neither a file, a directory nor a symlink`);
    }
  }
}
