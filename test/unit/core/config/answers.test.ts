import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { aliasProblem, answersPassword, answersScript, validateAnswers } from '../../../../core/config/answers.ts';
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
  await writeFile(path.join(dir, 'pw.txt'), 'a password with spaces \n');
  const answersFile = path.join(dir, 'answers.json');
  t.is(await answersPassword({ mode: 'new', alias: 'a', passwordFile: 'pw.txt' }, answersFile), 'a password with spaces ');
  t.is(await answersPassword({ mode: 'new', alias: 'a', password: 'inline' }, answersFile), 'inline');
  await writeFile(path.join(dir, 'empty.txt'), '\n');
  await t.throwsAsync(answersPassword({ mode: 'new', alias: 'a', passwordFile: 'empty.txt' }, answersFile), { instanceOf: UserError, message: /is empty/ });
  await writeFile(path.join(dir, 'two.txt'), 'one\ntwo\n');
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
