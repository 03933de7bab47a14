// Runs the bundled host CLI (dist/sysback.mjs) as a user would, building the bundles when missing;
// simulated routers carry the device app (dist/device/sysback.mjs and its chunks), as the image does.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLog } from '../../core/log.ts';
import { createRunner } from '../../core/runner.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUNDLE = path.join(REPO, 'dist', 'sysback.mjs');
/** the device app's directory: sysback.mjs and chunks/, laid as /usr/lib/sysback/ */
export const DEVICE_APP_DIR = path.join(REPO, 'dist', 'device');

let building: Promise<void> | undefined;

export async function ensureBundle(): Promise<string> {
  if (!existsSync(BUNDLE) || !existsSync(path.join(DEVICE_APP_DIR, 'sysback.mjs')) || process.env.SYSBACK_REBUILD === '1') {
    building ??= (async () => {
      const { bundle } = await import('../../scripts/bundle.ts');
      await bundle();
    })();
    await building;
  }
  return BUNDLE;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function sysback(args: readonly string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  await ensureBundle();
  const runner = createRunner(createLog({ level: 'warn' }));
  const result = await runner.run([process.execPath, BUNDLE, ...args], {
    env: options.env,
    input: options.input,
    cwd: options.cwd,
    reject: false,
    timeoutMs: 600_000,
  });
  return result;
}
