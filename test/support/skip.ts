// Owns skipping a test visibly (restic's rule: integration tests skip *visibly* when something is
// missing). A test that cannot run here is a real ava skip whose title carries the reason, so the TAP
// line reads `ok 7 - grid: ... (skipped: needs root) # SKIP`, ava counts it in its `# skip N`, and
// scripts/test.ts reports it in the closing line "N passed, N failed, N skipped". The reason is also
// printed once per reason on stderr. Never `t.pass()` for a test that did not run.
import test, { type TestFn } from 'ava';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const told = new Set<string>();

function tell(reason: string): void {
  if (told.has(reason)) return;
  told.add(reason);
  process.stderr.write(`skip: ${reason}\n`);
}

/** The title a skipped test is registered under (pure). */
export function skippedTitle(title: string, reason: string): string {
  return `${title} (skipped: ${reason})`;
}

/**
 * `test` when `condition` holds, else a stand-in with the same shape (`.serial`, `.failing`,
 * `.serial.failing`, ...) that registers every test as `test.skip` with `reason` in its title.
 */
export function testIf(condition: boolean, reason: string): TestFn {
  if (condition) return test;
  tell(reason);
  const skipping: any = (title: string, ...rest: unknown[]) => (test.skip as any)(skippedTitle(title, reason), ...rest);
  for (const modifier of ['serial', 'failing', 'skip', 'only']) skipping[modifier] = skipping;
  // hooks still run in the file (they guard themselves); they are not tests and are not skipped
  for (const hook of ['before', 'after', 'beforeEach', 'afterEach']) skipping[hook] = (test as any)[hook];
  return skipping as TestFn;
}

/**
 * Whether `program` is on PATH (synchronous: ava wants every test declared synchronously, so what
 * decides a skip is known without awaiting).
 */
export function hasProgram(program: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(path.join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The first reason that applies, or undefined: `skipReason([!isRoot(), 'needs root'], [!fuse, 'no /dev/fuse'])`. */
export function skipReason(...checks: Array<[boolean, string]>): string | undefined {
  return checks.find(([applies]) => applies)?.[1];
}

/** `testIf` over a list of checks: skipped with the first reason that applies. */
export function testUnless(...checks: Array<[boolean, string]>): TestFn {
  const reason = skipReason(...checks);
  return testIf(reason === undefined, reason ?? '');
}
