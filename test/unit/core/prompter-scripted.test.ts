// The scripted prompter: the headless path of the product (answers file), and the same retry rules.
import test from 'ava';
import { PassThrough } from 'node:stream';
import { UserError } from '../../../core/errors.ts';
import { TooManyAttemptsError } from '../../../core/prompter.ts';
import { createConsolePrompter } from '../../../core/prompter-console.ts';
import { askNewPassword } from '../../../core/prompter-new-password.ts';
import { createScriptedPrompter } from '../../../core/prompter-scripted.ts';

function transcript() {
  let text = '';
  return { write: (s: string) => void (text += s), text: () => text };
}

test('answers each question by its key and writes a transcript with secrets hidden', async (t) => {
  const out = transcript();
  const p = createScriptedPrompter({ alias: 'alice', password: 'correct horse', mode: 'recover', confirmRecover: true }, { output: out });
  t.is(p.kind, 'scripted');
  t.false(p.interactive);
  t.is(await p.line('Alias', { key: 'alias' }), 'alice');
  t.is(await p.secret('Password', { key: 'password' }), 'correct horse');
  t.is(await p.choice('Mode', ['new', 'recover'], { key: 'mode' }), 'recover');
  t.true(await p.confirm('Replace', { key: 'confirmRecover' }));
  t.is(out.text(), 'Alias: alice\nPassword: (hidden)\nMode [new/recover]: recover\nReplace [y/n]: yes\n');
});

test('a question the answers do not cover fails with the key to add', async (t) => {
  const p = createScriptedPrompter({}, { output: transcript(), origin: 'the answers file /x.json' });
  const error = await t.throwsAsync(p.line('Alias', { key: 'alias' }), { instanceOf: UserError });
  t.is(error.message, 'the answers file /x.json has no answer to "Alias"');
  t.is(error.hint, 'add "alias" to the answers file /x.json');
  await t.throwsAsync(p.line('Something without a key'), { instanceOf: UserError, message: /no answer to "Something without a key"/ });
});

test('a refused scripted answer fails at once with its reason (no pointless retries)', async (t) => {
  const out = transcript();
  const p = createScriptedPrompter({ alias: 'bad alias!' }, { output: out });
  const error = await t.throwsAsync(
    p.line('Alias', { key: 'alias', validate: () => 'an alias has no spaces' }),
    { instanceOf: TooManyAttemptsError },
  );
  t.is(error.lastReason, 'an alias has no spaces');
  t.is(out.text().split('Alias: ').length - 1, 1);
});

test('a list of answers is tried in order, like a person retrying', async (t) => {
  const p = createScriptedPrompter({ password: ['wrong', 'right'] }, { output: transcript() });
  t.is(await p.secret('Password', { key: 'password', validate: (s) => (s === 'right' ? undefined : 'wrong password') }), 'right');
  await t.throwsAsync(p.secret('Password', { key: 'password' }), { instanceOf: UserError, message: /no answer left for "password"/ });
});

test('pick from answers: the exact name is chosen; a name not on the list is refused', async (t) => {
  const items = ['alice', 'bob'];
  t.is(await createScriptedPrompter({ alias: 'bob' }, { output: transcript() }).pick('Alias', items, { key: 'alias' }), 'bob');
  const error = await t.throwsAsync(
    createScriptedPrompter({ alias: 'bo' }, { output: transcript() }).pick('Alias', items, { key: 'alias' }),
    { instanceOf: TooManyAttemptsError },
  );
  t.is(error.lastReason, '"bo" is not one of the 2 names');
});

test('pick from answers: onExhausted lets the flow throw its own error (an unknown alias)', async (t) => {
  class UnknownAlias extends Error {}
  await t.throwsAsync(
    createScriptedPrompter({ alias: 'carol' }, { output: transcript() }).pick('Alias', ['alice'], {
      key: 'alias',
      onExhausted: () => new UnknownAlias('carol'),
    }),
    { instanceOf: UnknownAlias },
  );
});

test('askNewPassword from answers: password and passwordConfirm', async (t) => {
  const p = createScriptedPrompter({ password: 'long enough secret', passwordConfirm: 'long enough secret' }, { output: transcript() });
  t.is(await askNewPassword(p), 'long enough secret');
  const weak = createScriptedPrompter({ password: 'abc', passwordConfirm: 'abc' }, { output: transcript() });
  const error = await t.throwsAsync(askNewPassword(weak, { validate: (s) => (s.length < 8 ? 'too short' : undefined) }), {
    instanceOf: TooManyAttemptsError,
  });
  t.is(error.lastReason, 'too short');
});

test('askNewPassword on a console: a mismatch and a weak password are retried, each with its reason', async (t) => {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (c: Buffer) => (text += c.toString()));
  const p = createConsolePrompter({ input, output, signals: null });
  input.write('first secret\nsecond secret\nabc\nfinal secret\nfinal secret\n');
  const password = await askNewPassword(p, { validate: (s) => (s.length < 8 ? 'at least 8 characters' : undefined) });
  t.is(password, 'final secret');
  t.true(text.includes('the two passwords differ'));
  t.true(text.includes('at least 8 characters'));
  t.true(text.includes('Password again: '));
  t.false(text.includes('final secret'));
});

test('askNewPassword gives up after its attempts', async (t) => {
  const input = new PassThrough();
  const output = new PassThrough();
  const p = createConsolePrompter({ input, output, signals: null });
  input.write('aaaaaaaa\nbbbbbbbb\ncccccccc\ndddddddd\neeeeeeee\nffffffff\n');
  const error = await t.throwsAsync(askNewPassword(p), { instanceOf: TooManyAttemptsError });
  t.is(error.lastReason, 'the two passwords differ');
});
