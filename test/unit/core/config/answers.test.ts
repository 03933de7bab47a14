import test from 'ava';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { aliasProblem, answersPassword, answersScript, loadAnswers, removeAnswersSecret, validateAnswers } from '../../../../core/config/answers.ts';
import { createContext } from '../../../../core/context.ts';
import { UserError } from '../../../../core/errors.ts';

const CARD = 'URI:DIR2-RO:abcdefghijklmnopqrstuvwxyz:abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst';

function problems(input: unknown): string[] {
  const result = validateAnswers(input);
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

test('a complete "new" answers file is valid', (t) => {
  const result = validateAnswers({ mode: 'new', alias: 'alice-router', password: 'correct horse battery', transport: 'webapi' });
  t.true(result.ok);
});

test('a "recover" file may name the router by recovery card instead of alias, and pick a generation', (t) => {
  t.deepEqual(problems({ mode: 'recover', recoveryCard: CARD, passwordFile: 'pw.txt', generation: 'latest', confirmRecover: true }), []);
  t.deepEqual(problems({ mode: 'recover', alias: 'alice', password: 'x', generation: '2026-11-27T21:40:00Z' }), []);
});

test('every problem is reported with its path', (t) => {
  t.deepEqual(problems({ mode: 'maybe', alias: 'bad alias!', password: '', transport: 'ftp', recoveryCard: 'URI:DIR2:rw:cap', extra: 1 }).sort(), [
    '(top level): Unrecognized key: "extra"',
    'alias: an alias is letters, digits, ".", "_" and "-", starting with a letter or digit',
    'mode: must be "new" or "recover"',
    'password: must not be empty',
    'recoveryCard: not a directory read cap (URI:DIR2-RO:...)',
    'transport: must be "mount" or "webapi"',
  ]);
});

test('cross-field problems are reported together with field problems', (t) => {
  t.deepEqual(problems({ mode: 'new', transport: 'ftp' }).sort(), [
    'alias: required for mode "new"',
    'password: required (or give passwordFile)',
    'transport: must be "mount" or "webapi"',
  ]);
  t.deepEqual(problems({ mode: 'nope' }).sort(), ['mode: must be "new" or "recover"', 'password: required (or give passwordFile)']);
});

test('exactly one of password and passwordFile', (t) => {
  t.deepEqual(problems({ mode: 'new', alias: 'a' }), ['password: required (or give passwordFile)']);
  t.deepEqual(problems({ mode: 'new', alias: 'a', password: 'p', passwordFile: 'f' }), ['passwordFile: give either password or passwordFile, not both']);
});

test('"new" needs an alias and refuses the recover-only fields; "recover" needs an alias or a card', (t) => {
  t.deepEqual(problems({ mode: 'new', password: 'p', recoveryCard: CARD, generation: 'latest', confirmRecover: true }).sort(), [
    'alias: required for mode "new"',
    'confirmRecover: only for mode "recover"',
    'generation: only for mode "recover"',
    'recoveryCard: only for mode "recover"',
  ]);
  t.deepEqual(problems({ mode: 'recover', password: 'p' }), ['alias: required for mode "recover" (or give recoveryCard)']);
});

test('types are checked: confirmRecover is a boolean, generation has no slash', (t) => {
  t.deepEqual(problems({ mode: 'recover', alias: 'a', password: 'p', confirmRecover: 'yes', generation: '../x' }).sort(), [
    'confirmRecover: Invalid input: expected boolean, received string',
    'generation: must be "latest" or a generation name',
  ]);
  t.deepEqual(problems('not an object'), ['(top level): Invalid input: expected object, received string']);
});

test('aliasProblem: the alias rule as a prompter validator', (t) => {
  t.is(aliasProblem('alice'), undefined);
  t.is(aliasProblem('a.b_c-9'), undefined);
  t.is(aliasProblem(''), 'an alias is needed');
  t.truthy(aliasProblem('-leading-dash'));
  t.truthy(aliasProblem('../etc'));
  t.truthy(aliasProblem('has space'));
  t.is(aliasProblem('x'.repeat(65)), 'an alias has at most 64 characters');
});

test('answersPassword reads passwordFile relative to the answers file, dropping one final newline', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-answers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'pw.txt'), 'a password with spaces \n', { mode: 0o600 });
  const answersFile = path.join(dir, 'answers.json');
  t.is(await answersPassword({ mode: 'new', alias: 'a', passwordFile: 'pw.txt' }, answersFile), 'a password with spaces ');
  t.is(await answersPassword({ mode: 'new', alias: 'a', password: 'inline' }, answersFile), 'inline');
  await writeFile(path.join(dir, 'empty.txt'), '\n', { mode: 0o600 });
  await t.throwsAsync(answersPassword({ mode: 'new', alias: 'a', passwordFile: 'empty.txt' }, answersFile), { instanceOf: UserError, message: /is empty/ });
  await writeFile(path.join(dir, 'two.txt'), 'one\ntwo\n', { mode: 0o600 });
  await t.throwsAsync(answersPassword({ mode: 'new', alias: 'a', passwordFile: 'two.txt' }, answersFile), { instanceOf: UserError, message: /more than one line/ });
  await t.throwsAsync(answersPassword({ mode: 'new', alias: 'a', passwordFile: 'missing.txt' }, answersFile), { instanceOf: UserError, message: /ENOENT/ });
});

test('answersScript keys the answers like the questions, the password confirmed by itself', (t) => {
  const script = answersScript({ mode: 'recover', alias: 'alice', password: 'p', generation: 'latest', confirmRecover: true }, 'pw');
  t.is(script.password, 'pw');
  t.is(script.passwordConfirm, 'pw');
  t.is(script.alias, 'alice');
  t.is(script.mode, 'recover');
  t.is(script.generation, 'latest');
  t.is(script.confirmRecover, true);
  t.is(script.recoveryCard, undefined);
});

async function answersDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-answers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('answers-readable-by-others: an answers file group or others may read is refused with a clear error', async (t) => {
  const dir = await answersDir(t);
  const file = path.join(dir, 'answers.json');
  await writeFile(file, JSON.stringify({ mode: 'new', alias: 'alice', password: 'x' }), { mode: 0o644 });
  await chmod(file, 0o644);
  const error = t.throws(() => loadAnswers(file), { instanceOf: UserError });
  t.regex(error!.message, /readable by its group and everyone \(mode 0644\); it was not used/);
  t.regex(error!.hint ?? '', /chmod 600/);
  await chmod(file, 0o640);
  t.regex(t.throws(() => loadAnswers(file))!.message, /readable by its group \(mode 0640\)/);
  await chmod(file, 0o600);
  t.is(loadAnswers(file).alias, 'alice');
});

test('password-file-readable-by-others: a passwordFile group or others may read is refused', async (t) => {
  const dir = await answersDir(t);
  await writeFile(path.join(dir, 'pw'), 'secret words here\n', { mode: 0o604 });
  await chmod(path.join(dir, 'pw'), 0o604);
  await t.throwsAsync(answersPassword({ mode: 'new', alias: 'a', passwordFile: 'pw' }, path.join(dir, 'answers.json')), { instanceOf: UserError, message: /readable by everyone/ });
});

test('password-at-rest: after a flow, the device answers file and a passwordFile under /etc/sysback are gone', async (t) => {
  const root = await answersDir(t);
  await mkdir(path.join(root, 'etc/sysback'), { recursive: true });
  const file = path.join(root, 'etc/sysback/answers.json');
  await writeFile(file, JSON.stringify({ mode: 'new', alias: 'alice', passwordFile: 'password' }), { mode: 0o600 });
  await writeFile(path.join(root, 'etc/sysback/password'), 'pw\n', { mode: 0o600 });
  const ctx = createContext({ root });
  const answers = loadAnswers(file);
  const done = await removeAnswersSecret(ctx, file, answers, {});
  t.false(existsSync(file));
  t.false(existsSync(path.join(root, 'etc/sysback/password')));
  t.is(done.length, 2);
  t.false(done.join(' ').includes('pw\n'));
  t.deepEqual(await removeAnswersSecret(ctx, file, answers, {}), [], 'a second call has nothing left to do');
});

test('password-at-rest: an answers file elsewhere (--answers F) loses its password field, other fields kept', async (t) => {
  const root = await answersDir(t);
  const elsewhere = await answersDir(t);
  const file = path.join(elsewhere, 'answers.json');
  await writeFile(file, JSON.stringify({ mode: 'recover', alias: 'alice', password: 'the secret one', generation: 'latest' }), { mode: 0o600 });
  await writeFile(path.join(elsewhere, 'pw'), 'x', { mode: 0o600 });
  const done = await removeAnswersSecret(createContext({ root }), file, loadAnswers(file), {});
  const left = JSON.parse(await readFile(file, 'utf8'));
  t.deepEqual(left, { mode: 'recover', alias: 'alice', generation: 'latest' });
  t.false((await readFile(file, 'utf8')).includes('the secret one'));
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.deepEqual(done, [`removed the password from the answers file ${file}`]);
  // a passwordFile outside /etc/sysback is the owner's: left, and said so
  const other = path.join(elsewhere, 'answers2.json');
  await writeFile(other, JSON.stringify({ mode: 'new', alias: 'alice', passwordFile: 'pw' }), { mode: 0o600 });
  const lines = await removeAnswersSecret(createContext({ root }), other, loadAnswers(other), {});
  t.true(existsSync(path.join(elsewhere, 'pw')));
  t.regex(lines[0]!, /left the password file .* remove it yourself/);
});

test('a systemd credential is left alone (it lives in a private tmpfs)', async (t) => {
  const root = await answersDir(t);
  const credentials = await answersDir(t);
  const file = path.join(credentials, 'sysback.answers');
  await writeFile(file, JSON.stringify({ mode: 'new', alias: 'alice', password: 'x' }), { mode: 0o400 });
  const lines = await removeAnswersSecret(createContext({ root }), file, loadAnswers(file), { CREDENTIALS_DIRECTORY: credentials });
  t.true(existsSync(file));
  t.regex(lines[0]!, /systemd credential/);
});

test('notAfter and restoreBeyondList: recover only, notAfter a UTC time', (t) => {
  t.deepEqual(problems({ mode: 'recover', alias: 'alice', password: 'p', notAfter: '2026-11-20T00:00:00Z', restoreBeyondList: false }), []);
  t.deepEqual(problems({ mode: 'recover', alias: 'alice', password: 'p', notAfter: 'last tuesday' }), ['notAfter: not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)']);
  t.deepEqual(problems({ mode: 'new', alias: 'alice', password: 'p', notAfter: '2026-11-20T00:00:00Z', restoreBeyondList: true }), [
    'notAfter: only for mode "recover"',
    'restoreBeyondList: only for mode "recover"',
  ]);
});
