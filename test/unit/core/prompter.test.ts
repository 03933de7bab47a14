// The console prompter driven through plain streams (not a TTY), the way a pipe or a test feeds it.
// The real terminal (raw mode, no echo, Ctrl-C as a signal) is covered by test/integration/prompt-pty.
import test from 'ava';
import { InterruptedError } from '../../../core/errors.ts';
import { TooManyAttemptsError } from '../../../core/prompter.ts';
import { createConsolePrompter } from '../../../core/prompter-console.ts';
import { consoleWith, streams } from '../../support/console-prompter.ts';


test('line returns the trimmed answer after the prompt "Question: "', async (t) => {
  const c = consoleWith('  alice  \n');
  t.is(await c.prompter.line('Alias'), 'alice');
  t.is(c.text(), 'Alias: ');
  t.false(c.prompter.interactive);
  t.is(c.prompter.kind, 'console');
});

test('line takes the default on Enter and shows it', async (t) => {
  const c = consoleWith('\n');
  t.is(await c.prompter.line('Generation', { default: 'latest' }), 'latest');
  t.is(c.text(), 'Generation [latest]: ');
});

test('line refuses an empty answer with a reason, then accepts the next', async (t) => {
  const c = consoleWith('\nbob\n');
  t.is(await c.prompter.line('Alias'), 'bob');
  t.regex(c.text(), /an answer is needed \(2 tries left\)/);
});

test('line re-asks with the validator reason each time, then throws TooManyAttemptsError', async (t) => {
  const c = consoleWith('x!\ny!\nz!\n');
  const error = await t.throwsAsync(
    c.prompter.line('Alias', { validate: (a) => (a.endsWith('!') ? `"${a}" has a "!"` : undefined) }),
    { instanceOf: TooManyAttemptsError },
  );
  t.is(error.lastReason, '"z!" has a "!"');
  t.regex(error.message, /after 3 attempts/);
  t.is(error.exitCode, 2);
  const out = c.text();
  t.true(out.includes('"x!" has a "!" (2 tries left)'));
  t.true(out.includes('"y!" has a "!" (1 try left)'));
  t.true(out.includes('"z!" has a "!"\n'));
  t.is(out.split('Alias: ').length - 1, 3);
});

test('attempts and onExhausted set the bound and the error', async (t) => {
  class Custom extends Error {}
  const c = consoleWith('a\nb\n');
  await t.throwsAsync(
    c.prompter.line('Q', { attempts: 2, validate: () => 'never', onExhausted: (reason) => new Custom(reason) }),
    { instanceOf: Custom, message: 'never' },
  );
});

test('an async validator is awaited (a password checked by decrypting)', async (t) => {
  const c = consoleWith('wrong\nright\n');
  const answer = await c.prompter.secret('Password', {
    validate: async (pw) => {
      await new Promise((r) => setImmediate(r));
      return pw === 'right' ? undefined : 'wrong password';
    },
  });
  t.is(answer, 'right');
  t.regex(c.text(), /wrong password \(2 tries left\)/);
});

test('answers typed ahead stay buffered for the next questions', async (t) => {
  const c = consoleWith('one\ntwo\r\nthree\rfour\n');
  t.is(await c.prompter.line('A'), 'one');
  t.is(await c.prompter.line('B'), 'two');
  t.is(await c.prompter.line('C'), 'three');
  t.is(await c.prompter.line('D'), 'four');
});

test('a "\\r" at the end of one chunk and "\\n" at the start of the next make one line end', async (t) => {
  const s = streams();
  const prompter = createConsolePrompter({ input: s.input, output: s.output, signals: null });
  s.input.write('first\r');
  t.is(await prompter.line('A'), 'first');
  s.input.write('\nsecond\n');
  t.is(await prompter.line('B'), 'second');
});

test('answers arriving in pieces, with a UTF-8 character split across chunks, are joined', async (t) => {
  const s = streams();
  const prompter = createConsolePrompter({ input: s.input, output: s.output, signals: null });
  const pending = prompter.line('Alias');
  const bytes = Buffer.from('jos\u00e9\n', 'utf8');
  s.input.write(bytes.subarray(0, 4));
  await new Promise((r) => setImmediate(r));
  s.input.write(bytes.subarray(4));
  t.is(await pending, 'jos\u00e9');
});

test('backspace, Ctrl-U and arrow-key escape sequences edit the line as a terminal would', async (t) => {
  const c = consoleWith('abc\x7f\x7fd\nxyz\x15ok\n\x1b[A\x1bOBhi\b!\n');
  t.is(await c.prompter.line('A'), 'ad');
  t.is(await c.prompter.line('B'), 'ok');
  t.is(await c.prompter.line('C'), 'h!');
});

test('secret keeps spaces, refuses an empty answer, and never writes the answer', async (t) => {
  const c = consoleWith('\n  two words \n');
  t.is(await c.prompter.secret('Password'), '  two words ');
  t.false(c.text().includes('two words'));
  t.regex(c.text(), /nothing was typed/);
});

test('choice prints the options in brackets and accepts aliases in any case', async (t) => {
  const c = consoleWith('maybe\nN\n');
  const mode = await c.prompter.choice('Is this a new router, or do you want to recover one?', [
    { value: 'new', aliases: ['n'] },
    { value: 'recover', aliases: ['r'] },
  ]);
  t.is(mode, 'new');
  const out = c.text();
  t.true(out.startsWith('Is this a new router, or do you want to recover one? [new/recover]: '));
  t.true(out.includes('"maybe" is not an answer here; please type new or n, or recover or r (2 tries left)'));
});

test('choice takes its default on Enter and plain string options', async (t) => {
  const c = consoleWith('\nWEBAPI\n');
  t.is(await c.prompter.choice('Transport', ['mount', 'webapi'], { default: 'mount' }), 'mount');
  t.is(await c.prompter.choice('Transport', ['mount', 'webapi']), 'webapi');
  t.true(c.text().startsWith('Transport [mount/webapi] (mount): '));
});

test('confirm accepts y/yes/n/no, uses its default on Enter, and refuses anything else', async (t) => {
  const c = consoleWith('yes\nN\n\nperhaps\ny\n');
  t.true(await c.prompter.confirm('Go on'));
  t.false(await c.prompter.confirm('Go on'));
  t.true(await c.prompter.confirm('Go on', { default: true }));
  t.true(await c.prompter.confirm('Go on', { default: false }));
  const out = c.text();
  t.true(out.includes('Go on [y/n]: '));
  t.true(out.includes('Go on [Y/n]: '));
  t.true(out.includes('"perhaps" is not yes or no'));
});

test('say prints a line', (t) => {
  const c = consoleWith('');
  c.prompter.say('Recovery card: alice');
  t.is(c.text(), 'Recovery card: alice\n');
});

// --- the type-ahead filter over many names ---

const ALIASES = Array.from({ length: 500 }, (_, i) => `router-${String(i).padStart(3, '0')}`).concat(['alice', 'alicia', 'malik', 'bob']);

test('pick over 504 names: part of a name shows numbered matches, a number chooses', async (t) => {
  const c = consoleWith('ali\n2\n');
  t.is(await c.prompter.pick('Your alias', ALIASES), 'alicia');
  const out = c.text();
  t.true(out.includes('  504 names; type part of one to narrow the list\n'));
  t.true(out.includes('Your alias: '));
  t.true(out.includes('  3 of 504 names match "ali":\n  1) alice\n  2) alicia\n  3) malik\n'));
  t.true(out.includes('Number, or more letters: '));
  // no full-screen control sequences: plain lines for a serial console
  t.false(out.includes('\x1b'));
});

test('pick: too many matches show one page and say how many more; more letters narrow them', async (t) => {
  const c = consoleWith('router\nrouter-49\n7\n');
  t.is(await c.prompter.pick('Your alias', ALIASES), 'router-496');
  const out = c.text();
  t.true(out.includes('  500 of 504 names match "router":'));
  t.true(out.includes('  ... and 485 more: type more letters to narrow the list'));
  t.true(out.includes('  10 of 504 names match "router-49":'));
  t.true(out.includes(' 7) router-496'));
});

test('pick: an exact name chooses at once; a unique match is chosen with Enter', async (t) => {
  const c = consoleWith('bob\nmali\n\n');
  t.is(await c.prompter.pick('Your alias', ALIASES), 'bob');
  t.is(await c.prompter.pick('Your alias', ALIASES), 'malik');
  t.true(c.text().includes('Press Enter to choose it, or type other letters: '));
});

test('pick: no match and a number off the list are refused attempts, each with its reason', async (t) => {
  const c = consoleWith('zzz\nali\n9\nqqq\n');
  const error = await t.throwsAsync(c.prompter.pick('Your alias', ALIASES), { instanceOf: TooManyAttemptsError });
  t.is(error.lastReason, 'no name contains "qqq"');
  const out = c.text();
  t.true(out.includes('no name contains "zzz" (2 tries left)'));
  t.true(out.includes('9 is not a number on the list (1-3) (1 try left)'));
});

test('pick: a short list is shown at once and a number chooses', async (t) => {
  const c = consoleWith('2\n');
  t.is(await c.prompter.pick('Your alias', ['alice', 'bob', 'carol']), 'bob');
  t.true(c.text().startsWith('  3 names:\n  1) alice\n  2) bob\n  3) carol\nYour alias (number or name): '));
});

test('pick: `accept` takes free text such as a recovery card read cap', async (t) => {
  const cap = 'URI:DIR2-RO:aaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
  const c = consoleWith(`${cap}\n`);
  t.is(await c.prompter.pick('Your alias, or the read cap from your recovery card', ALIASES, { accept: (s) => s.startsWith('URI:DIR2-RO:') }), cap);
});

// --- Ctrl-C and the end of input ---

test('Ctrl-C (ETX) at a line prompt throws InterruptedError', async (t) => {
  const c = consoleWith('ab\x03');
  const error = await t.throwsAsync(c.prompter.line('Alias'), { instanceOf: InterruptedError });
  t.is(error.exitCode, 130);
});

test('Ctrl-C (ETX) at a password prompt throws InterruptedError', async (t) => {
  const c = consoleWith('secr\x03et\n');
  await t.throwsAsync(c.prompter.secret('Password'), { instanceOf: InterruptedError });
});

test('Ctrl-C (ETX) in the middle of a pick throws InterruptedError', async (t) => {
  const c = consoleWith('ali\n\x03');
  await t.throwsAsync(c.prompter.pick('Your alias', ALIASES), { instanceOf: InterruptedError });
});

test('SIGINT while waiting for an answer throws InterruptedError and removes its handler', async (t) => {
  const s = streams();
  const before = process.listenerCount('SIGINT');
  const prompter = createConsolePrompter({ input: s.input, output: s.output });
  const pending = prompter.line('Alias');
  t.is(process.listenerCount('SIGINT'), before + 1);
  // a real signal to this test process: without the handler the process would die
  process.kill(process.pid, 'SIGINT');
  await t.throwsAsync(pending, { instanceOf: InterruptedError });
  t.is(process.listenerCount('SIGINT'), before);
});

test('the end of input with nothing typed throws InterruptedError; a last line without newline counts', async (t) => {
  const c = consoleWith('last words', true);
  t.is(await c.prompter.line('A'), 'last words');
  await t.throwsAsync(c.prompter.line('B'), { instanceOf: InterruptedError, message: /console closed/ });
});

test('Ctrl-D on an empty line is the end of input', async (t) => {
  const c = consoleWith('\x04');
  await t.throwsAsync(c.prompter.line('A'), { instanceOf: InterruptedError });
});

test('between questions the input is paused and no listener is left behind', async (t) => {
  const s = streams();
  const prompter = createConsolePrompter({ input: s.input, output: s.output, signals: null });
  s.input.write('x\n');
  await prompter.line('A');
  const pending = prompter.line('B');
  s.input.write('y\n');
  await pending;
  t.true(s.input.isPaused());
  t.is(s.input.listenerCount('data'), 0);
  t.is(s.input.listenerCount('end'), 0);
});
