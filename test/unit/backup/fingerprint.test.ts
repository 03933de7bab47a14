import test from 'ava';
import { chmod, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { mkdir, symlink, unlink } from 'node:fs/promises';
import { fingerprintEntries } from '../../../backup/fingerprint.ts';
import { tempDir } from '../../support/archive-fixtures.ts';

async function tree(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  await mkdir(`${root}/etc`);
  await writeFile(`${root}/etc/hostname`, 'router-1\n');
  await symlink('/usr/share/zoneinfo/UTC', `${root}/etc/localtime`);
  return { root, entries: ['/etc', '/etc/hostname', '/etc/localtime'] };
}

test('an unchanged tree gives the same fingerprint; reading files does not change it', async (t) => {
  const { root, entries } = await tree(t);
  const first = await fingerprintEntries(root, entries);
  await readFile(`${root}/etc/hostname`);
  t.is(await fingerprintEntries(root, [...entries].reverse()), first);
  t.regex(first, /^[0-9a-f]{64}$/);
});

test('mtime, mode, content and link target changes all change the fingerprint', async (t) => {
  const { root, entries } = await tree(t);
  const seen = new Set([await fingerprintEntries(root, entries)]);
  const changes: Array<[string, () => Promise<void>]> = [
    ['touch', () => utimes(`${root}/etc/hostname`, 1_700_000_000, 1_700_000_000)],
    ['chmod', () => chmod(`${root}/etc/hostname`, 0o600)],
    ['same-size edit with mtime put back', async () => {
      await writeFile(`${root}/etc/hostname`, 'router-2\n');
      await utimes(`${root}/etc/hostname`, 1_700_000_000, 1_700_000_000);
    }],
    ['link target', async () => {
      await unlink(`${root}/etc/localtime`);
      await symlink('/usr/share/zoneinfo/CET', `${root}/etc/localtime`);
    }],
    ['vanished', () => rm(`${root}/etc/hostname`)],
  ];
  for (const [what, change] of changes) {
    await change();
    const now = await fingerprintEntries(root, entries);
    t.false(seen.has(now), what);
    seen.add(now);
  }
});
