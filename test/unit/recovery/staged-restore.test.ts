import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CorruptError, UnsafeArchiveError } from '../../../core/errors.ts';
import { ArchiveReadError } from '../../../recovery/restore-plan.ts';
import { restoreArchive } from '../../../recovery/safe-extract.ts';
import { ArchiveMismatchError, stageArchive } from '../../../recovery/staged-restore.ts';
import { type RawEntry, rawTarGz, snapshotTree, tempDir, victim } from '../../support/archive-fixtures.ts';

const ALLOWED = ['/etc', '/var/spool/cron'];


const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The archive as a download would deliver it: in small pieces, asynchronously. */
function download(bytes: Buffer, options: { cutAt?: number; failAt?: number } = {}): Readable {
  const end = options.cutAt ?? bytes.length;
  async function* pieces() {
    for (let at = 0; at < end; at += 997) {
      if (options.failAt !== undefined && at >= options.failAt) throw new Error('connection reset');
      await new Promise((resolve) => setImmediate(resolve));
      yield bytes.subarray(at, Math.min(at + 997, end));
    }
  }
  return Readable.from(pieces());
}

const stagingOf = (root: string) => `${root}/var/lib/sysback/staging`;

test('one pass: the staged restore equals the two-pass restore, and nothing reaches the root before apply', async (t) => {
  const entries: RawEntry[] = [
    { path: 'etc/', type: 'Directory', mode: 0o755 },
    { path: 'etc/hostname', body: 'new\n' },
    { path: 'etc/big', body: Buffer.alloc(300_000, 7) },
    { path: 'etc/ssh/', type: 'Directory', mode: 0o700 },
    { path: 'etc/ssh/sshd_config', body: 'x\n', mode: 0o600 },
    { path: 'etc/localtime', type: 'SymbolicLink', linkpath: '/usr/share/zoneinfo/UTC' },
    { path: 'etc/twin', type: 'Link', linkpath: 'etc/hostname' },
  ];
  const bytes = rawTarGz(entries);
  const one = await victim(t);
  const two = await victim(t);
  const before = await snapshotTree(one.root);
  const staged = await stageArchive({ root: one.root, input: download(bytes), allowed: ALLOWED, expectedSha256: sha256(bytes) });
  t.deepEqual(await snapshotTree(one.root, { skip: ['var'] }), before, 'staged: the root itself is unchanged');
  t.deepEqual(staged.plan.changed, ['/etc', '/etc/hostname']);
  t.deepEqual(staged.plan.added, ['/etc/big', '/etc/localtime', '/etc/ssh', '/etc/ssh/sshd_config', '/etc/twin']);
  const result = await staged.apply();
  t.is(result.applied, 7);
  const dir = await tempDir(t);
  await writeFile(`${dir}/a.tar.gz`, bytes);
  await restoreArchive({ root: two.root, source: `${dir}/a.tar.gz`, allowed: ALLOWED });
  t.deepEqual(await snapshotTree(one.root, { withIno: false }), await snapshotTree(two.root));
  t.false(existsSync(stagingOf(one.root)));
});

test('sha256-mismatch-after-staging: bytes that are not the manifest\'s are an ArchiveMismatchError, staging removed, nothing applied', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const bytes = rawTarGz([{ path: 'etc/hostname', body: 'thief\n' }]);
  await t.throwsAsync(stageArchive({ root, input: download(bytes), allowed: ALLOWED, expectedSha256: 'ab'.repeat(32) }), { instanceOf: ArchiveMismatchError, message: /does not match its manifest/ });
  t.deepEqual(await snapshotTree(root), before);
});

test('hostile-verified: a refused entry in an archive whose sha256 matches is the refusal itself (no older generation excuses it)', async (t) => {
  const { root, outside } = await victim(t);
  const before = await snapshotTree(root);
  const bytes = rawTarGz([
    { path: 'etc/hostname', body: 'new\n' },
    { path: 'etc/link', type: 'SymbolicLink', linkpath: outside },
    { path: 'etc/link/shadow', body: 'overwritten\n' },
    { path: 'etc/padding', body: randomBytes(200_000) },
  ]);
  const error = await t.throwsAsync(stageArchive({ root, input: download(bytes), allowed: ALLOWED, expectedSha256: sha256(bytes) }), { instanceOf: UnsafeArchiveError });
  t.is(error.entry, 'etc/link/shadow');
  t.deepEqual(await snapshotTree(root), before, 'the root is unchanged, staging gone');
  t.is(await readFile(`${outside}/shadow`, 'utf8'), 'host secret\n', 'nothing written through the archive\'s own symlink');
});

test('hostile-unverified: the same refusal in bytes that are not the manifest\'s is an ArchiveMismatchError (a damaged download)', async (t) => {
  const { root } = await victim(t);
  const bytes = rawTarGz([{ path: 'etc/../../pwned', body: 'x' }, { path: 'etc/padding', body: randomBytes(100_000) }]);
  const error = await t.throwsAsync(stageArchive({ root, input: download(bytes), allowed: ALLOWED, expectedSha256: 'cd'.repeat(32) }), { instanceOf: ArchiveMismatchError });
  t.true((error as { cause?: unknown }).cause instanceof UnsafeArchiveError, 'the refusal is kept as the cause');
});

test('download-cut-short: a download that ends early is an ArchiveMismatchError; one that fails, too; without a sha256 an ArchiveReadError', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const bytes = rawTarGz([{ path: 'etc/hostname', body: randomBytes(100_000) }, { path: 'etc/x', body: randomBytes(100_000) }]);
  await t.throwsAsync(stageArchive({ root, input: download(bytes, { cutAt: 400 }), allowed: ALLOWED, expectedSha256: sha256(bytes) }), { instanceOf: ArchiveMismatchError });
  await t.throwsAsync(stageArchive({ root, input: download(bytes, { failAt: 300 }), allowed: ALLOWED, expectedSha256: sha256(bytes) }), { instanceOf: ArchiveMismatchError });
  await t.throwsAsync(stageArchive({ root, input: download(bytes, { failAt: 300 }), allowed: ALLOWED }), { instanceOf: ArchiveReadError });
  await t.throwsAsync(stageArchive({ root, input: download(bytes, { cutAt: 400 }), allowed: ALLOWED }), { instanceOf: CorruptError });
  t.deepEqual(await snapshotTree(root), before);
});

test('thief-wrote-the-backup, one pass: applying only the image\'s list skips what lies beyond it', async (t) => {
  const { root } = await victim(t);
  const bytes = rawTarGz([
    { path: 'etc/hostname', body: 'new\n' },
    { path: 'root/.ssh/', type: 'Directory' },
    { path: 'root/.ssh/authorized_keys', body: 'ssh-ed25519 AAAA thief\n' },
    { path: 'usr/local/bin/', type: 'Directory' },
    { path: 'usr/local/bin/helper', body: '#!/bin/sh\n', mode: 0o4755 },
  ]);
  const staged = await stageArchive({ root, input: download(bytes), allowed: ['/'], expectedSha256: sha256(bytes) });
  const result = await staged.apply({ only: ['/etc/hostname', '/var/spool/cron'] });
  t.is(await readFile(`${root}/etc/hostname`, 'utf8'), 'new\n');
  t.false(existsSync(`${root}/root/.ssh/authorized_keys`));
  t.false(existsSync(`${root}/usr/local/bin/helper`));
  t.true(result.plan.skipped.includes('/root/.ssh/authorized_keys'));
  t.false(existsSync(stagingOf(root)));
});

test('hardlink-beyond-the-list: applying only the image\'s list refuses a hard link to a path beyond it, nothing applied', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const bytes = rawTarGz([
    { path: 'root/secret', body: 'x\n' },
    { path: 'etc/alias', type: 'Link', linkpath: 'root/secret' },
  ]);
  const staged = await stageArchive({ root, input: download(bytes), allowed: ['/'] });
  await t.throwsAsync(staged.apply({ only: ['/etc'] }), { instanceOf: UnsafeArchiveError, message: /hard link target \/root\/secret is not in the backed-up list/ });
  t.deepEqual(await snapshotTree(root), before);
});

test('dry run, one pass: the plan is made, nothing is written, not even the staging area', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const bytes = rawTarGz([{ path: 'etc/hostname', body: 'new\n' }, { path: 'etc/added', body: 'a\n' }]);
  const staged = await stageArchive({ root, input: download(bytes), allowed: ALLOWED, expectedSha256: sha256(bytes), dryRun: true });
  t.deepEqual(staged.plan.added, ['/etc/added']);
  t.deepEqual(staged.plan.changed, ['/etc/hostname']);
  await t.throwsAsync(staged.apply());
  await staged.discard();
  t.deepEqual(await snapshotTree(root), before);
});

test('discard: a staged restore that is not applied leaves the root as it was', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const bytes = rawTarGz([{ path: 'etc/hostname', body: 'new\n' }]);
  const staged = await stageArchive({ root, input: download(bytes), allowed: ALLOWED });
  await staged.discard();
  await staged.discard();
  t.deepEqual(await snapshotTree(root), before);
  await t.throwsAsync(staged.apply());
});
