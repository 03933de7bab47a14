// The process gateway against real tiny programs (sh, cat): typed errors, redaction, input, pipes.
import test from 'ava';
import { CommandError, reportFatal, UserError, EXIT } from '../../../core/errors.ts';
import { createMemoryLog } from '../../../core/log.ts';
import { createRunner } from '../../../core/runner.ts';
import { redact } from '../../../core/redact.ts';

test('a failing program becomes a CommandError with argv, exit code and the stderr tail', async (t) => {
  const runner = createRunner(createMemoryLog());
  const error = await t.throwsAsync(runner.run(['sh', '-c', 'echo first >&2; echo "the real reason" >&2; exit 7']), {
    instanceOf: CommandError,
  });
  t.is(error.code, 7);
  t.deepEqual(error.argv.slice(0, 2), ['sh', '-c']);
  t.regex(error.stderrTail, /the real reason/);
  t.regex(error.message, /exited with code 7: .*the real reason/);
  t.is(error.exitCode, EXIT.command);
});

test('a missing program is a CommandError that says so and hints at installing it', async (t) => {
  const runner = createRunner(createMemoryLog());
  const error = await t.throwsAsync(runner.run(['sysback-no-such-program-xyz']), { instanceOf: CommandError });
  t.regex(error.message, /not found/);
  t.regex(error.hint ?? '', /install sysback-no-such-program-xyz/);
});

test('secrets and Tahoe caps never reach the log or the error', async (t) => {
  const log = createMemoryLog('debug');
  const runner = createRunner(log);
  const cap = 'URI:DIR2:rc2hmfyzw3pwdqdssumhcf2gsa:oolqbgymu2p6bo42jjf5smjshytrj2vldqnxf2co2mvcbpln4fyq';
  const error = await t.throwsAsync(
    runner.run(['sh', '-c', `echo "bad password hunter2-secret for ${cap}" >&2; exit 1`], { secrets: ['hunter2-secret'] }),
    { instanceOf: CommandError },
  );
  const everything = [...log.lines, error.message, error.stderrTail, error.argv.join(' ')].join('\n');
  t.false(everything.includes('hunter2-secret'));
  t.false(everything.includes('oolqbgymu2p6bo42'));
  t.true(everything.includes('URI:DIR2:<redacted>'));
  t.true(log.lines.some((line) => line.includes('$ sh -c')));
});

test('input reaches stdin and stdout comes back; reject=false returns the exit code', async (t) => {
  const runner = createRunner(createMemoryLog());
  t.is((await runner.run(['cat'], { input: 'hello' })).stdout, 'hello');
  const result = await runner.run(['sh', '-c', 'exit 3'], { reject: false });
  t.is(result.exitCode, 3);
});

test('pipe streams through a program', async (t) => {
  const runner = createRunner(createMemoryLog());
  const child = runner.pipe(['tr', 'a-z', 'A-Z']);
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  child.stdin!.end('streamed');
  await child.done;
  t.is(Buffer.concat(chunks).toString(), 'STREAMED');
});

test('the top-level handler prints one line and a hint for user errors, a stack for bugs', (t) => {
  let out = '';
  t.is(reportFatal(new UserError('bad flag', 'use --help'), (s) => (out += s)), EXIT.usage);
  t.is(out, 'sysback: bad flag\n  hint: use --help\n');
  out = '';
  t.is(reportFatal(new TypeError('oops'), (s) => (out += s)), EXIT.internal);
  t.regex(out, /internal error.*TypeError: oops\n\s+at /s);
});

test('redact keeps the kind of a cap for debugging', (t) => {
  t.is(redact('cap URI:CHK:abc:def:2:3:100 ok'), 'cap URI:CHK:<redacted> ok');
  t.is(redact('pw=sekrit', ['sekrit']), 'pw=<secret>');
});
