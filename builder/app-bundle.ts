// Owns finding the device app that goes into the image as /usr/lib/sysback/ (sysback.mjs and its
// chunks/): an explicit entry file, or a fresh bundle (scripts/bundle.ts) when running from the
// source tree, or, when the host app already runs bundled (dist/sysback.mjs, `sysback install`), the
// device app bundled beside it in dist/device/. Contract: the image carries the device app only,
// never the host app; an app is its entry file plus the `chunks/*.mjs` beside it that it loads.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../core/errors.ts';

export interface AppBundle {
  /** host path of the entry, laid as /usr/lib/sysback/sysback.mjs */
  entry: string;
  /** host paths of the chunks the entry loads, laid in /usr/lib/sysback/chunks/ */
  chunks: string[];
}

/** `import … from "./x.mjs"` and `import("./x.mjs")` in a bundle esbuild wrote: the files it loads. */
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(\.\.?\/[^"]+\.mjs)"/g;

/**
 * The app whose entry is `entry`: the entry and every chunk it can load (followed through the
 * imports, so chunks left over from an older build are never laid in the image).
 */
export function appAt(entry: string): AppBundle {
  if (!existsSync(entry)) throw new UserError(`the app bundle ${entry} does not exist`, 'run `npm run build` first');
  const resolved = path.resolve(entry);
  const chunkDir = path.join(path.dirname(resolved), 'chunks');
  const found = new Set<string>();
  const todo = [resolved];
  while (todo.length > 0) {
    const file = todo.pop()!;
    for (const match of readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)) {
      const target = path.resolve(path.dirname(file), match[1]!);
      if (found.has(target)) continue;
      if (path.dirname(target) !== chunkDir || !existsSync(target)) {
        throw new UserError(`the app bundle ${entry} loads ${target}, which is not one of its chunks/`, 'rebuild it with `npm run build`');
      }
      found.add(target);
      todo.push(target);
    }
  }
  return { entry: resolved, chunks: [...found].sort() };
}

export async function resolveAppBundle(explicit: string | undefined): Promise<AppBundle> {
  if (explicit) return appAt(explicit);
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.mjs')) {
    // we are the host app, dist/sysback.mjs; the device app is bundled beside it
    const device = path.join(path.dirname(self), 'device', 'sysback.mjs');
    if (!existsSync(device)) throw new UserError(`the device app ${device} is missing beside ${self}`, 'run `npm run build`, which writes both apps');
    return appAt(device);
  }
  // from source: bundle now (esbuild is a dev dependency; the path is not a literal so it is never bundled)
  const bundler = path.resolve(path.dirname(self), '..', 'scripts', 'bundle.ts');
  const mod = (await import(bundler)) as { bundleDevice(): Promise<string> };
  return appAt(await mod.bundleDevice());
}
