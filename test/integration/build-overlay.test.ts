// `sysback build --overlay-only` through the real command line, twice: the acceptance check that the
// same inputs give the same overlay.tar.gz sha256, that --dry-run --json prints the plan on a clean
// stdout and writes nothing, and that a bad grid.json fails with the usage exit code naming the field.
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext } from '../../core/context.ts';
import { EXIT } from '../../core/errors.ts';
import { TEST_GRID } from './test-image.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ctx = createContext();
const work = mkdtempSync(path.join(os.tmpdir(), 'sysback-build-overlay-'));
const gridFile = path.join(work, 'grid.json');
writeFileSync(gridFile, JSON.stringify(TEST_GRID));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

function sysback(args: string[]) {
  return ctx.runner.run(['npx', 'tsx', path.join(repo, 'cli/sysback.ts'), ...args], { cwd: repo, reject: false, timeoutMs: 300_000 });
}

test.serial('two --overlay-only builds of the same inputs give the same overlay.tar.gz sha256', async (t) => {
  const shas: string[] = [];
  for (const out of ['one', 'two']) {
    const result = await sysback(['build', '--grid', gridFile, '--out', path.join(work, out), '--overlay-only', '--json']);
    t.is(result.exitCode, 0, result.stderr);
    const reported = JSON.parse(result.stdout).overlaySha256;
    const actual = createHash('sha256').update(readFileSync(path.join(work, out, 'overlay.tar.gz'))).digest('hex');
    t.is(reported, actual);
    shas.push(actual);
    t.false(existsSync(path.join(work, out, 'disk.img')));
  }
  t.is(shas[0], shas[1]);
});

test.serial('--dry-run --json prints the plan on stdout and writes nothing', async (t) => {
  const out = path.join(work, 'dry');
  const result = await sysback(['build', '--grid', gridFile, '--out', out, '--dry-run', '--json']);
  t.is(result.exitCode, 0, result.stderr);
  const plan = JSON.parse(result.stdout);
  t.is(plan.format, 'sysback-build-plan/1');
  t.true(plan.units.mask.includes('systemd-firstboot.service'));
  t.false(existsSync(out));
});

test.serial('a bad grid.json fails with the usage exit code and names the field', async (t) => {
  const bad = path.join(work, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...TEST_GRID, listen: 'tor' }));
  const result = await sysback(['build', '--grid', bad, '--out', path.join(work, 'bad'), '--overlay-only']);
  t.is(result.exitCode, EXIT.usage);
  t.regex(result.stderr, /tor: required when listen is "tor"/);
  t.false(existsSync(path.join(work, 'bad')));
});
