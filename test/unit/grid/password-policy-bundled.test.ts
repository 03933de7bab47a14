// The password estimator as the router runs it: bundled the way scripts/bundle.ts bundles the device
// app (esbuild, ESM, code splitting, the CommonJS dictionaries behind a dynamic import), written to a
// temp dir and run by node with no node_modules beside it. Stops the failure where the flows passed
// under tsx and the bundle died in step d) with "ZxcvbnFactory is not a constructor".
import test from 'ava';
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deviceBuildOptions } from '../../../scripts/bundle.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const run = promisify(execFile);

test('the bundled password policy refuses a weak password and accepts a strong one, with no node_modules', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-pwbundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const entry = path.join(dir, 'entry.ts');
  writeFileSync(
    entry,
    `import { checkPassword } from ${JSON.stringify(path.join(REPO, 'grid', 'password-policy.ts'))};\n` +
      `const weak = await checkPassword('aa bb cc dd', { alias: 'home-router' });\n` +
      `const strong = await checkPassword('marble tiger violin orchard', { alias: 'home-router' });\n` +
      `process.stdout.write(JSON.stringify({ weak: weak ?? null, strong: strong ?? null }));\n`,
  );
  await build({ ...deviceBuildOptions({ check: entry }, path.join(dir, 'out')), logLevel: 'silent' });
  const { stdout } = await run(process.execPath, [path.join(dir, 'out', 'check.mjs')], { cwd: dir });
  const verdict = JSON.parse(stdout) as { weak: string | null; strong: string | null };
  t.truthy(verdict.weak, 'the weak password is refused, with a reason');
  t.is(verdict.strong, null);
});
