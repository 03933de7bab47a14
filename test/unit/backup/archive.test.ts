import test from 'ava';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import * as archive from '../../../backup/archive.ts';
import { createArchiveStream, writeArchive } from '../../../backup/archive.ts';
import { listBackupEntries } from '../../../backup/files-list.ts';
import { UserError } from '../../../core/errors.ts';
import { tempDir } from '../../support/archive-fixtures.ts';

interface Listed {
  path: string;
  type: string;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  mtime: number | undefined;
  size: number | undefined;
  linkpath: string | undefined;
  atime: Date | undefined;
  ctime: Date | undefined;
  uname: string | undefined;
  body: string;
}

/** Lists an archive with node-tar's parser (independent of the restore code). */
async function listArchive(bytes: Buffer): Promise<Listed[]> {
  const out: Listed[] = [];
  const parser = new Parser({ strict: true });
  parser.on('entry', (e: ReadEntry) => {
    const chunks: Buffer[] = [];
    e.on('data', (c: Buffer) => chunks.push(c));
    e.on('end', () =>
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime ? e.mtime.getTime() / 1000 : undefined,
        size: e.size,
        linkpath: e.linkpath,
        atime: e.header.atime,
        ctime: e.header.ctime,
        uname: e.uname,
        body: Buffer.concat(chunks).toString(),
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
    Readable.from([bytes]).pipe(parser);
  });
  return out;
}

const MTIME = 1_700_000_000;

async function fixtureTree(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const out = await tempDir(t);
  await mkdir(`${root}/etc/sysback`, { recursive: true });
  await mkdir(`${root}/var/spool/cron/crontabs`, { recursive: true });
  await writeFile(`${root}/etc/hostname`, 'router-1\n');
  await writeFile(`${root}/etc/sysback/files.txt`, '/etc\n');
  await writeFile(`${root}/var/spool/cron/crontabs/root`, '0 */240 * * * sysback backup\n');
  await chmod(`${root}/var/spool/cron/crontabs/root`, 0o600);
  await chmod(`${root}/var/spool/cron/crontabs`, 0o1730);
  await chown(`${root}/etc/hostname`, 1000, 1001);
  await symlink('/usr/share/zoneinfo/UTC', `${root}/etc/localtime`);
  for (const p of ['etc/hostname', 'etc/sysback/files.txt', 'var/spool/cron/crontabs/root', 'etc/sysback', 'etc', 'var/spool/cron/crontabs', 'var/spool/cron']) {
    await utimes(`${root}/${p}`, MTIME, MTIME);
  }
  const list = await listBackupEntries(root, '/etc\n/var/spool/cron\n');
  return { root, out, list };
}

test('the archive holds full paths without the leading slash, sorted, with owner, mode, mtime and link targets', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  const summary = await writeArchive(root, list.entries, `${out}/SysBackup.tar.gz`);
  const entries = await listArchive(await readFile(`${out}/SysBackup.tar.gz`));
  t.deepEqual(
    entries.map((e) => e.path),
    ['etc/', 'etc/hostname', 'etc/localtime', 'etc/sysback/', 'etc/sysback/files.txt', 'var/spool/cron/', 'var/spool/cron/crontabs/', 'var/spool/cron/crontabs/root'],
  );
  t.is(summary.entryCount, 8);
  const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
  t.like(byPath['etc/hostname'], { type: 'File', uid: 1000, gid: 1001, mode: 0o644, mtime: MTIME, body: 'router-1\n' });
  t.like(byPath['etc/localtime'], { type: 'SymbolicLink', linkpath: '/usr/share/zoneinfo/UTC' });
  t.like(byPath['var/spool/cron/crontabs/'], { type: 'Directory', mode: 0o1730, mtime: MTIME });
  t.like(byPath['var/spool/cron/crontabs/root'], { type: 'File', mode: 0o600, uid: 0 });
  for (const e of entries) {
    t.is(e.atime, undefined, `${e.path} has no atime`);
    t.is(e.ctime, undefined, `${e.path} has no ctime`);
    t.is(e.uname, '', `${e.path} has no user name`);
  }
});

test('deterministic bytes: the same tree twice gives the same sha256, reading files (atime) changes nothing', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  const first = await writeArchive(root, list.entries, `${out}/a.tar.gz`);
  await readFile(`${root}/etc/hostname`);
  await chown(`${root}/etc/hostname`, 1000, 1001); // ctime changes, metadata does not
  const second = await writeArchive(root, [...list.entries].reverse(), `${out}/b.tar.gz`);
  t.is(first.sha256, second.sha256);
  t.deepEqual(await readFile(`${out}/a.tar.gz`), await readFile(`${out}/b.tar.gz`));
  t.is(first.sha256, createHash('sha256').update(await readFile(`${out}/a.tar.gz`)).digest('hex'));
  t.is(first.size, (await stat(`${out}/a.tar.gz`)).size);
});

test('deterministic bytes: a touched mtime or a chmod changes the sha256', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  const before = await writeArchive(root, list.entries, `${out}/a.tar.gz`);
  await utimes(`${root}/etc/hostname`, MTIME + 1, MTIME + 1);
  const touched = await writeArchive(root, list.entries, `${out}/b.tar.gz`);
  t.not(touched.sha256, before.sha256);
  await utimes(`${root}/etc/hostname`, MTIME, MTIME);
  t.is((await writeArchive(root, list.entries, `${out}/c.tar.gz`)).sha256, before.sha256);
  await chmod(`${root}/etc/hostname`, 0o640);
  t.not((await writeArchive(root, list.entries, `${out}/d.tar.gz`)).sha256, before.sha256);
});

test('the gzip header is fixed: no MTIME, no file name, OS unix', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  await writeArchive(root, list.entries, `${out}/a.tar.gz`);
  const bytes = await readFile(`${out}/a.tar.gz`);
  t.deepEqual([...bytes.subarray(0, 10)], [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
});

test('long and non-ASCII names go through a pax header and come back intact', async (t) => {
  const { root, out } = await fixtureTree(t);
  const deep = `etc/${'d'.repeat(90)}/${'e'.repeat(90)}`;
  await mkdir(`${root}/${deep}`, { recursive: true });
  await writeFile(`${root}/${deep}/${'f'.repeat(120)}.conf`, 'deep');
  await writeFile(`${root}/etc/café-ñ.conf`, 'accent');
  const list = await listBackupEntries(root, '/etc\n/var/spool/cron\n');
  await writeArchive(root, list.entries, `${out}/a.tar.gz`);
  const paths = (await listArchive(await readFile(`${out}/a.tar.gz`))).map((e) => e.path);
  t.true(paths.includes(`${deep}/${'f'.repeat(120)}.conf`));
  t.true(paths.includes('etc/café-ñ.conf'));
});

test('a file that vanished since listing is skipped with a warning', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  await rm(`${root}/etc/sysback/files.txt`);
  const warnings: string[] = [];
  const summary = await writeArchive(root, list.entries, `${out}/a.tar.gz`, { onWarning: (w) => warnings.push(w) });
  t.deepEqual(warnings, ['/etc/sysback/files.txt vanished or cannot be read (ENOENT); not in this backup']);
  t.deepEqual(summary.warnings, warnings);
  const paths = (await listArchive(await readFile(`${out}/a.tar.gz`))).map((e) => e.path);
  t.false(paths.includes('etc/sysback/files.txt'));
});

test('a vanished file that is listed explicitly fails the archive and leaves no partial file', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  await rm(`${root}/etc/hostname`);
  const error = await t.throwsAsync(writeArchive(root, list.entries, `${out}/a.tar.gz`, { explicit: ['/etc/hostname'] }), { instanceOf: UserError });
  t.regex(error.message, /cannot read \/etc\/hostname, which files\.txt lists explicitly/);
  t.deepEqual(execFileSync('ls', ['-A', out]).toString(), '');
});

test('the stream reports the same summary as the file writer', async (t) => {
  const { root, list } = await fixtureTree(t);
  const stream = createArchiveStream(root, list.entries);
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  const summary = await stream.summary;
  t.is(summary.sha256, hash.digest('hex'));
  t.is(summary.size, size);
  t.is(summary.entryCount, 8);
  t.is(summary.contentBytes, 'router-1\n'.length + '/etc\n'.length + '0 */240 * * * sysback backup\n'.length);
});

test('FIFOs handed to the archive are skipped with a warning', async (t) => {
  const { root, out, list } = await fixtureTree(t);
  execFileSync('mkfifo', [`${root}/etc/pipe`]);
  const summary = await writeArchive(root, [...list.entries, '/etc/pipe'], `${out}/a.tar.gz`);
  t.deepEqual(summary.warnings, ['/etc/pipe is a socket, FIFO or device node; not in this backup']);
});

test('fixedGzipHeader rewrites the header even when zlib hands it over byte by byte', async (t) => {
  const { gzipSync } = await import('node:zlib');
  const { fixedGzipHeader } = await import('../../../backup/archive.ts');
  const gz = gzipSync(Buffer.from('hello'));
  gz[4] = 0x12; // a non-zero MTIME, as a gzip with a clock would write
  gz[9] = 0xff;
  const out: Buffer[] = [];
  const transform = fixedGzipHeader();
  transform.on('data', (c: Buffer) => out.push(c));
  for (const byte of gz) transform.write(Buffer.from([byte]));
  transform.end();
  await new Promise((resolve) => transform.on('end', resolve));
  const fixed = Buffer.concat(out);
  t.deepEqual([...fixed.subarray(0, 10)], [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
  t.deepEqual(fixed.subarray(10), gz.subarray(10));
  const { gunzipSync } = await import('node:zlib');
  t.is(gunzipSync(fixed).toString(), 'hello');
});

test('summary rejects instead of hanging when the consumer destroys the stream', async (t) => {
  const { root, list } = await fixtureTree(t);
  const stream = createArchiveStream(root, list.entries);
  stream.destroy();
  await t.throwsAsync(stream.summary);
});

test('slabs: a sink that never gives slabs back stops the producer after SLAB_COUNT slabs', (t) => {
  const { Slabs } = archive;
  const held: Buffer[] = [];
  const slabs = new Slabs((chunk) => held.push(chunk), 1024, 3);
  let written = 0;
  // 10 KiB offered in 512-byte records: only 3 slabs of 1 KiB may be filled and handed on
  while (written < 10 * 1024 && slabs.reserve(512)) {
    slabs.put(Buffer.alloc(512, 1));
    written += 512;
  }
  t.is(held.length, 3, 'three full slabs handed on');
  t.is(written, 3 * 1024);
  t.false(slabs.reserve(512));
});

test('slabs: a slab given back is reused, not reallocated, and its bytes are what was written', async (t) => {
  const { Slabs } = archive;
  const seen = new Set<ArrayBufferLike>();
  const out: Buffer[] = [];
  const slabs = new Slabs((chunk, done) => {
    seen.add(chunk.buffer);
    out.push(Buffer.from(chunk));
    setImmediate(done);
  }, 1024, 2);
  for (let i = 0; i < 40; i++) {
    while (!slabs.reserve(100)) await slabs.available();
    slabs.put(Buffer.alloc(100, i));
  }
  slabs.submit();
  await new Promise((resolve) => setImmediate(resolve));
  t.true(seen.size <= 2, `${seen.size} distinct buffers used`);
  const all = Buffer.concat(out);
  t.is(all.length, 4000);
  for (let i = 0; i < 40; i++) t.true(all.subarray(i * 100, (i + 1) * 100).every((b) => b === i), `record ${i}`);
});

test('a consumer that stops reading stops the archive: a few slabs and stream buffers in flight, not the file', async (t) => {
  const dir = await tempDir(t, 'sysback-archive-bp-');
  const { mkdir: mk, writeFile: wf } = await import('node:fs/promises');
  const { randomBytes } = await import('node:crypto');
  await mk(`${dir}/srv`, { recursive: true });
  await wf(`${dir}/srv/big.bin`, randomBytes(16 * 1024 * 1024)); // incompressible: output ~ input
  const stream = createArchiveStream(dir, ['/srv', '/srv/big.bin']);
  const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
  stream.pause();
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setTimeout(resolve, 2));
  // what is queued in the stream itself, readable side; the slabs bound what zlib was handed
  const queued = stream.readableLength + (stream as unknown as { writableLength: number }).writableLength;
  t.true(first.length > 0);
  t.true(queued <= 1024 * 1024, `${queued} bytes queued while nobody reads`);
  stream.destroy();
  await t.throwsAsync(stream.summary);
});
