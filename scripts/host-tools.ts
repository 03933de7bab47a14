// Checks for, or installs, every host program the builder and the tests need (builder/host-tools.ts
// owns the list and the installing). `npx tsx scripts/host-tools.ts` installs what is missing (as
// root, with apt); `--check` only says what is missing and exits 1 if anything is.
import { ALL_HOST_TOOLS, ensureHostTools, missingTools, packagesFor } from '../builder/host-tools.ts';
import { createLog } from '../core/log.ts';
import { createRunner } from '../core/runner.ts';

const log = createLog();
const runner = createRunner(log);
if (process.argv.includes('--check')) {
  const missing = await missingTools(runner, ALL_HOST_TOOLS);
  process.stdout.write(missing.length ? `missing: ${missing.join(' ')} (packages: ${packagesFor(missing).join(' ')})\n` : 'all host tools present\n');
  process.exitCode = missing.length ? 1 : 0;
} else {
  const installed = await ensureHostTools(runner, log, ALL_HOST_TOOLS);
  log.info(installed.length ? `installed ${installed.join(' ')}` : 'all host tools present');
}
