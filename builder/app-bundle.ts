// Owns finding the bundled app that goes into the image as /usr/lib/sysback/sysback.mjs: an explicit
// path, or a fresh `npm run build` (scripts/bundle.ts) when running from the source tree, or the
// running bundle itself when sysback already runs bundled (on a device, `sysback install`).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../core/errors.ts';

export async function resolveAppBundle(explicit: string | undefined): Promise<string> {
  if (explicit) {
    if (!existsSync(explicit)) throw new UserError(`the app bundle ${explicit} does not exist`, 'run `npm run build` first');
    return path.resolve(explicit);
  }
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.mjs')) return self; // we are the bundle
  // from source: bundle now (esbuild is a dev dependency; the path is not a literal so it is never bundled)
  const bundler = path.resolve(path.dirname(self), '..', 'scripts', 'bundle.ts');
  const mod = (await import(bundler)) as { bundle(): Promise<string> };
  return mod.bundle();
}
