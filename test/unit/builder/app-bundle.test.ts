import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { appAt } from '../../../builder/app-bundle.ts';
import { UserError } from '../../../core/errors.ts';
import { tempDir } from '../../support/archive-fixtures.ts';

function app(dir: string, files: Record<string, string>): string {
  mkdirSync(path.join(dir, 'chunks'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return path.join(dir, 'sysback.mjs');
}

test('an app is its entry and the chunks it loads, statically or with import(), followed through chunks', async (t) => {
  const dir = await tempDir(t);
  const entry = app(dir, {
    'sysback.mjs': 'import { a } from "./chunks/chunk-A.mjs";\nconst lazy = () => import("./chunks/backup-B.mjs");\n',
    'chunks/chunk-A.mjs': 'export const a = 1;\n',
    'chunks/backup-B.mjs': 'import "./chunk-C.mjs";\nexport { a } from "./chunk-A.mjs";\n',
    'chunks/chunk-C.mjs': '',
  });
  t.deepEqual(appAt(entry), { entry, chunks: ['backup-B.mjs', 'chunk-A.mjs', 'chunk-C.mjs'].map((c) => path.join(dir, 'chunks', c)) });
});

test('a chunk left over from an older build is not part of the app', async (t) => {
  const dir = await tempDir(t);
  const entry = app(dir, { 'sysback.mjs': 'import "./chunks/chunk-A.mjs";\n', 'chunks/chunk-A.mjs': '', 'chunks/chunk-OLD.mjs': '' });
  t.deepEqual(appAt(entry).chunks, [path.join(dir, 'chunks', 'chunk-A.mjs')]);
});

test('a one-file app has no chunks', async (t) => {
  const dir = await tempDir(t);
  t.deepEqual(appAt(app(dir, { 'sysback.mjs': 'console.log("app")\n' })).chunks, []);
});

test('an app loading a file outside its chunks/ is refused (it would be missing on the device)', async (t) => {
  const dir = await tempDir(t);
  const entry = app(dir, { 'sysback.mjs': 'import "../elsewhere.mjs";\n' });
  t.throws(() => appAt(entry), { instanceOf: UserError, message: /not one of its chunks/ });
});

test('a missing app says to build it', (t) => {
  t.throws(() => appAt('/nonexistent/sysback.mjs'), { instanceOf: UserError, message: /does not exist/ });
});
