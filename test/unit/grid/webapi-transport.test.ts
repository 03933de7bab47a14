// The webapi transport's pure parts: target names that would leave the area are refused, progress is
// cumulative, a missing source is a UserError naming the file, temp files sit beside their target.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { UserError } from '../../../core/errors.ts';
import { counting, localSourceSize, splitTargetName, tempBeside } from '../../../grid/webapi-transport.ts';

test('a nested name splits into its parent and base name', (t) => {
  t.deepEqual(splitTargetName('archives/2026/SysBackup.tar.gz'), { parent: 'archives/2026', base: 'SysBackup.tar.gz' });
  t.deepEqual(splitTargetName('SysBackup.tar.gz'), { parent: undefined, base: 'SysBackup.tar.gz' });
});

test('path traversal in a target name is refused (.., absolute, empty segments)', (t) => {
  for (const name of ['', '/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a/.', 'a/']) {
    t.throws(() => splitTargetName(name), { instanceOf: UserError }, name);
  }
});

test('progress receives cumulative bytes and the total', async (t) => {
  const seen: Array<[number, number | undefined]> = [];
  await pipeline(
    Readable.from([Buffer.alloc(10), Buffer.alloc(5), Buffer.alloc(7)]),
    counting((done, total) => seen.push([done, total]), 22),
    new Writable({ write: (_c, _e, cb) => cb() }),
  );
  t.deepEqual(seen, [[10, 22], [15, 22], [22, 22]]);
});

test('a missing or non-regular source is a UserError naming it', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-wt-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => localSourceSize(path.join(dir, 'gone.tar.gz')), { instanceOf: UserError, message: /gone\.tar\.gz, does not exist/ });
  t.throws(() => localSourceSize(dir), { instanceOf: UserError, message: /not a regular file/ });
});

test('a temp file sits beside its target, hidden, so the final rename stays on one file system', (t) => {
  const temp = tempBeside('/var/lib/sysback/restore/SysBackup.tar.gz');
  t.is(path.dirname(temp), '/var/lib/sysback/restore');
  t.regex(path.basename(temp), /^\.SysBackup\.tar\.gz\.sysback-.*\.part$/);
});
