import test from 'ava';
import { validateBuildConfig } from '../../../builder/build-config.ts';

test('lease-expiry: build.json refuses a backup interval longer than 20 days, as the device config does', (t) => {
  const month = validateBuildConfig({ intervalHours: 24 * 30 });
  t.false(month.ok);
  if (!month.ok) t.regex(month.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), /intervalHours: at most 480 h/);
  t.true(validateBuildConfig({ intervalHours: 480 }).ok);
});
