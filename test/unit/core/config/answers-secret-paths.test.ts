// The answers' password never reaches an archive, wherever its files lie (issue 11, "no password at
// rest"): a passwordFile outside /etc/sysback (the owner's file, left on disk) and an answers file
// outside it are excluded from the flow's first backup (same process) and from every later one (a
// cron run: a new process that only has the record).
import test from 'ava';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { writeArchive } from '../../../../backup/archive.ts';
import { literalGlob, loadBackupList } from '../../../../backup/files-list.ts';
import { answersPassword, loadAnswers, removeAnswersSecret } from '../../../../core/config/answers.ts';
import { forgetNotedSecretFiles, SECRET_PATHS_FILE, secretDevicePaths } from '../../../../core/config/answers-secret-paths.ts';
import { createContext } from '../../../../core/context.ts';
import { createMemoryLog } from '../../../../core/log.ts';
import { tempDir } from '../../../support/archive-fixtures.ts';

const PASSWORD = 'quartz-lantern-meadow-77';

async function deviceWithPasswordFileOutside(t: Parameters<typeof tempDir>[0], pwName = 'pw.txt') {
  const root = await tempDir(t);
  await mkdir(path.join(root, 'etc/sysback'), { recursive: true });
  await mkdir(path.join(root, 'root'), { recursive: true });
  await mkdir(path.join(root, 'var/spool/cron/crontabs'), { recursive: true });
  await writeFile(path.join(root, 'var/spool/cron/crontabs/root'), '17 * * * * sysback backup --if-due\n');
  await writeFile(path.join(root, 'root/notes.txt'), 'the owner keeps notes here\n');
  await writeFile(path.join(root, 'etc/sysback/files.txt'), '/etc/sysback\n/root\n/var/lib/sysback\n');
  const pwFile = path.join(root, 'root', pwName);
  await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  const answersFile = path.join(root, 'root/answers.json');
  await writeFile(answersFile, JSON.stringify({ mode: 'new', alias: 'home', passwordFile: pwName }), { mode: 0o600 });
  chmodSync(pwFile, 0o600);
  return { root, pwFile, answersFile, ctx: createContext({ root, log: createMemoryLog() }) };
}

async function archiveBytes(t: Parameters<typeof tempDir>[0], ctx: ReturnType<typeof createContext>): Promise<{ plain: Buffer; entries: string[] }> {
  const list = await loadBackupList(ctx);
  const file = path.join(await tempDir(t), 'SysBackup.tar.gz');
  await writeArchive(ctx.root, list.entries, file, { explicit: list.explicit });
  return { plain: gunzipSync(readFileSync(file)), entries: list.entries };
}

test.serial.afterEach(() => forgetNotedSecretFiles());

test.serial('a passwordFile outside /etc/sysback is in no archive: neither the first backup nor a later cron run', async (t) => {
  const { pwFile, answersFile, ctx } = await deviceWithPasswordFileOutside(t);
  const answers = loadAnswers(answersFile);
  t.is(await answersPassword(answers, answersFile), PASSWORD);

  // the flow's first backup, in the process that read the answers
  const first = await archiveBytes(t, ctx);
  t.true(first.entries.includes('/root/notes.txt'), 'the rest of /root is saved');
  t.false(first.entries.includes('/root/pw.txt'));
  t.false(first.entries.includes('/root/answers.json'));
  t.true(first.plain.includes(Buffer.from('the owner keeps notes here')));
  t.false(first.plain.includes(Buffer.from(PASSWORD)), 'the password is not in the first archive');

  // the flow succeeded: the owner's password file stays, and is recorded
  const lines = await removeAnswersSecret(ctx, answersFile, answers, {});
  t.true(existsSync(pwFile));
  t.true(lines.some((l) => /left the password file .*no backup saves it/.test(l)));
  t.deepEqual(readFileSync(ctx.path(SECRET_PATHS_FILE), 'utf8').split('\n').filter(Boolean), ['/root/answers.json', '/root/pw.txt']);

  // an hourly run is another process: it knows nothing but the record
  forgetNotedSecretFiles();
  const later = await archiveBytes(t, ctx);
  t.false(later.entries.includes('/root/pw.txt'));
  t.false(later.entries.includes(SECRET_PATHS_FILE), 'the record is sysback state, not backed up');
  t.true(later.entries.includes('/root/notes.txt'));
  t.false(later.plain.includes(Buffer.from(PASSWORD)), 'the password is not in a later archive');
});

test.serial('a password file whose name holds glob characters is excluded literally, its neighbours kept', async (t) => {
  const { root, answersFile, ctx } = await deviceWithPasswordFileOutside(t, 'pw[1]*.txt');
  await writeFile(path.join(root, 'root/pw1-other.txt'), 'not a secret\n');
  const answers = loadAnswers(answersFile);
  t.is(await answersPassword(answers, answersFile), PASSWORD);
  const { plain, entries } = await archiveBytes(t, ctx);
  t.false(entries.includes('/root/pw[1]*.txt'));
  t.true(entries.includes('/root/pw1-other.txt'), 'the escaped name matches only itself');
  t.false(plain.includes(Buffer.from(PASSWORD)));
  t.is(literalGlob('/root/pw[1]*.txt'), '/root/pw\\[1\\]\\*.txt');
});

test.serial('files outside the device root (a laptop --root) are not the root\'s concern', async (t) => {
  const { ctx } = await deviceWithPasswordFileOutside(t);
  const elsewhere = path.join(await tempDir(t), 'answers.json');
  await writeFile(elsewhere, JSON.stringify({ mode: 'new', alias: 'home', password: PASSWORD }), { mode: 0o600 });
  loadAnswers(elsewhere);
  t.deepEqual(secretDevicePaths(ctx), []);
});
