// runFirstboot on a temp root: where the answers come from, the kernel command line, the console
// question, the confirmation over a configured router, and the dispatch to the flows (recorded).
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createContext } from '../../../core/context.ts';
import { ConfigError, InterruptedError, NotConfiguredError, SysbackError, UserError } from '../../../core/errors.ts';
import { createMemoryLog } from '../../../core/log.ts';
import type { Prompter } from '../../../core/prompter.ts';
import { createConsolePrompter } from '../../../core/prompter-console.ts';
import { configuredState, writeState } from '../../../core/state.ts';
import { type FirstbootDeps, runFirstboot } from '../../../firstboot/firstboot.ts';
import { type FlowOptions, FlowUnavailableError, type Flows, unavailableFlows } from '../../../firstboot/flows.ts';

interface Call {
  flow: keyof Flows;
  options: FlowOptions;
  prompter: Prompter;
  alias?: string;
  password?: string;
}

async function setup(t: ExecutionContext, options: { cmdline?: string; configured?: boolean; typed?: string; console?: boolean } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-firstboot-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  await mkdir(root);
  const cmdlineFile = path.join(dir, 'cmdline');
  await writeFile(cmdlineFile, `${options.cmdline ?? 'root=LABEL=root rw quiet'}\n`);
  const log = createMemoryLog();
  const ctx = createContext({ root, log });
  if (options.configured) await writeState(ctx, configuredState({ mode: 'new', alias: 'alice', now: new Date(0) }));

  const calls: Call[] = [];
  // a flow that asks what the real flows ask, so the prompter handed over is exercised
  const recording = (flow: keyof Flows) => async (_ctx: unknown, prompter: Prompter, flowOptions: FlowOptions) => {
    const call: Call = { flow, options: flowOptions, prompter };
    if (prompter.kind === 'scripted') {
      call.alias = await prompter.line('Alias', { key: 'alias' });
      call.password = await prompter.secret('Password', { key: 'password' });
    }
    calls.push(call);
  };
  const flows: Flows = { configure: recording('configure'), recover: recording('recover') };

  const input = new PassThrough();
  const output = new PassThrough();
  let consoleText = '';
  output.on('data', (c: Buffer) => (consoleText += c.toString()));
  if (options.typed !== undefined) input.write(options.typed);
  let stdout = '';
  let transcript = '';
  const deps: FirstbootDeps = {
    flows,
    console: () => createConsolePrompter({ input, output, signals: null }),
    consoleAvailable: options.console ?? false,
    env: {},
    stdout: (s) => void (stdout += s),
    transcript: { write: (s: string) => void (transcript += s) },
  };
  return {
    dir,
    root,
    ctx,
    log,
    cmdlineFile,
    calls,
    deps,
    stdout: () => stdout,
    consoleText: () => consoleText,
    transcript: () => transcript,
    run: (extra: { answersFile?: string; noReboot?: boolean } = {}, depsOverride: Partial<FirstbootDeps> = {}) =>
      runFirstboot(ctx, { noReboot: extra.noReboot ?? true, cmdlineFile, answersFile: extra.answersFile }, { ...deps, ...depsOverride }),
  };
}

async function answersAt(file: string, answers: object): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(answers), { mode: 0o600 });
  return file;
}

test('a configured router exits at once: no question, no flow, no mode line', async (t) => {
  const s = await setup(t, { configured: true, console: true });
  t.deepEqual(await s.run(), { ran: undefined, reason: 'configured' });
  t.is(s.calls.length, 0);
  t.is(s.stdout(), '');
  t.is(s.consoleText(), '');
});

test('--answers with mode "new" runs configure headless, the prompter answering from the file', async (t) => {
  const s = await setup(t);
  const file = await answersAt(path.join(s.dir, 'answers.json'), { mode: 'new', alias: 'alice', password: 'correct horse battery' });
  t.deepEqual(await s.run({ answersFile: file, noReboot: true }), { ran: 'new', source: 'answers' });
  t.is(s.stdout(), 'sysback: mode=new\n');
  t.is(s.calls.length, 1);
  const call = s.calls[0]!;
  t.is(call.flow, 'configure');
  t.is(call.alias, 'alice');
  t.is(call.password, 'correct horse battery');
  t.deepEqual(call.options, {
    answers: { mode: 'new', alias: 'alice', password: 'correct horse battery' },
    answersFile: file,
    noReboot: true,
    replacesConfiguredRouter: false,
  });
  // the journal gets the transcript, never the password
  t.true(s.transcript().includes('Alias: alice\n'));
  t.false(s.transcript().includes('correct horse'));
});

test('a passwordFile next to the answers file is read for the scripted prompter', async (t) => {
  const s = await setup(t);
  await writeFile(path.join(s.dir, 'pw'), 'from a file\n', { mode: 0o600 });
  const file = await answersAt(path.join(s.dir, 'answers.json'), { mode: 'recover', alias: 'alice', passwordFile: 'pw' });
  await s.run({ answersFile: file });
  t.is(s.calls[0]!.flow, 'recover');
  t.is(s.calls[0]!.password, 'from a file');
});

test('answers are found at /etc/sysback/answers.json under the root', async (t) => {
  const s = await setup(t);
  await answersAt(path.join(s.root, 'etc/sysback/answers.json'), { mode: 'recover', alias: 'bob', password: 'pw' });
  t.deepEqual(await s.run(), { ran: 'recover', source: 'answers' });
  t.is(s.calls[0]!.options.answersFile, path.join(s.root, 'etc/sysback/answers.json'));
});

test('answers are found as the systemd credential sysback.answers', async (t) => {
  const s = await setup(t);
  const credentials = path.join(s.dir, 'credentials');
  await answersAt(path.join(credentials, 'sysback.answers'), { mode: 'new', alias: 'carol', password: 'pw' });
  t.deepEqual(await s.run({}, { env: { CREDENTIALS_DIRECTORY: credentials } }), { ran: 'new', source: 'answers' });
  t.is(s.calls[0]!.alias, 'carol');
});

test('--answers wins over /etc/sysback/answers.json, which wins over the credential', async (t) => {
  const s = await setup(t);
  const credentials = path.join(s.dir, 'credentials');
  await answersAt(path.join(credentials, 'sysback.answers'), { mode: 'new', alias: 'from-credential', password: 'pw' });
  await answersAt(path.join(s.root, 'etc/sysback/answers.json'), { mode: 'new', alias: 'from-etc', password: 'pw' });
  const given = await answersAt(path.join(s.dir, 'given.json'), { mode: 'new', alias: 'from-flag', password: 'pw' });
  await s.run({ answersFile: given }, { env: { CREDENTIALS_DIRECTORY: credentials } });
  await s.run({}, { env: { CREDENTIALS_DIRECTORY: credentials } });
  t.deepEqual(s.calls.map((c) => c.alias), ['from-flag', 'from-etc']);
});

test('answers beat the kernel command line', async (t) => {
  const s = await setup(t, { cmdline: 'quiet sysback.mode=recover' });
  const file = await answersAt(path.join(s.dir, 'a.json'), { mode: 'new', alias: 'alice', password: 'pw' });
  t.deepEqual(await s.run({ answersFile: file }), { ran: 'new', source: 'answers' });
});

test('a missing --answers file is a UserError; an invalid one a ConfigError listing every problem; no flow runs', async (t) => {
  const s = await setup(t);
  await t.throwsAsync(s.run({ answersFile: path.join(s.dir, 'nope.json') }), { instanceOf: UserError, message: /does not exist/ });
  const bad = await answersAt(path.join(s.dir, 'bad.json'), { mode: 'new', password: 'pw', passwordFile: 'x', transport: 'carrier-pigeon' });
  const error = await t.throwsAsync(s.run({ answersFile: bad }), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.path).sort(), ['alias', 'passwordFile', 'transport']);
  t.is(s.calls.length, 0);
});

test('headless with no answers and no console: NotConfiguredError (exit 4) with a message for the journal', async (t) => {
  const s = await setup(t);
  const error = await t.throwsAsync(s.run(), { instanceOf: NotConfiguredError });
  t.is(error.exitCode, 4);
  t.regex(error.message, /no console and no answers file/);
  t.regex(error.hint!, /answers\.json.*sysback firstboot/);
  t.is(s.calls.length, 0);
  t.deepEqual(await readdir(s.root), []);
});

test('headless with sysback.mode=new but no answers: NotConfiguredError too (nobody to answer)', async (t) => {
  const s = await setup(t, { cmdline: 'sysback.mode=new' });
  await t.throwsAsync(s.run(), { instanceOf: NotConfiguredError, message: /sysback\.mode=new/ });
});

test('on a console: asks the exact question, re-asks with a reason, and dispatches the answer', async (t) => {
  const s = await setup(t, { console: true, typed: 'maybe\nR\n' });
  t.deepEqual(await s.run(), { ran: 'recover', source: 'console' });
  const out = s.consoleText();
  t.true(out.startsWith('Is this a new router, or do you want to recover one? [new/recover]: '));
  t.true(out.includes('"maybe" is not an answer here; please type new or n, or recover or r'));
  t.is(out.split('Is this a new router, or do you want to recover one? [new/recover]: ').length - 1, 2);
  t.is(s.stdout(), 'sysback: mode=recover\n');
  t.is(s.calls[0]!.prompter.kind, 'console');
  t.is(s.calls[0]!.options.answers, undefined);
});

test('on a console with sysback.mode=new on the command line: no question, the flow uses the console', async (t) => {
  const s = await setup(t, { console: true, cmdline: 'quiet sysback.mode=new' });
  t.deepEqual(await s.run(), { ran: 'new', source: 'cmdline' });
  t.is(s.consoleText(), '');
  t.is(s.calls[0]!.prompter.kind, 'console');
});

test('Ctrl-C at the question: InterruptedError, no flow, nothing written', async (t) => {
  const s = await setup(t, { console: true, typed: '\x03' });
  const error = await t.throwsAsync(s.run(), { instanceOf: InterruptedError });
  t.is(error.exitCode, 130);
  t.is(s.calls.length, 0);
  t.deepEqual(await readdir(s.root), []);
});

test('configured + sysback.mode=recover: the typed word "recover" confirms and recovery runs', async (t) => {
  const s = await setup(t, { configured: true, console: true, cmdline: 'sysback.mode=recover', typed: 'recover\n' });
  t.deepEqual(await s.run(), { ran: 'recover', source: 'cmdline' });
  const out = s.consoleText();
  t.true(out.includes('This router is already configured (alias "alice").'));
  t.true(out.includes('Type "recover" to recover, or anything else to keep this configuration: '));
  t.true(s.calls[0]!.options.replacesConfiguredRouter);
});

test('configured + sysback.mode=recover: anything else, or just Enter, keeps the configuration (exit 0)', async (t) => {
  for (const typed of ['yes\n', '\n', 'r\n']) {
    const s = await setup(t, { configured: true, console: true, cmdline: 'sysback.mode=recover', typed });
    t.deepEqual(await s.run(), { ran: undefined, reason: 'recovery not confirmed' }, JSON.stringify(typed));
    t.true(s.consoleText().includes('Not recovering: the router keeps its configuration.'));
    t.is(s.calls.length, 0);
  }
});

test('configured + sysback.mode=recover headless: confirmRecover in the answers runs recovery', async (t) => {
  const s = await setup(t, { configured: true, cmdline: 'sysback.mode=recover' });
  const file = await answersAt(path.join(s.dir, 'a.json'), { mode: 'recover', alias: 'alice', password: 'pw', confirmRecover: true });
  t.deepEqual(await s.run({ answersFile: file }), { ran: 'recover', source: 'answers' });
  t.true(s.calls[0]!.options.replacesConfiguredRouter);
});

test('configured + sysback.mode=recover headless without confirmRecover: refused, nothing runs', async (t) => {
  const s = await setup(t, { configured: true, cmdline: 'sysback.mode=recover' });
  const error = await t.throwsAsync(s.run(), { instanceOf: SysbackError, message: /no console to confirm it/ });
  t.is(error.exitCode, 2);
  const file = await answersAt(path.join(s.dir, 'a.json'), { mode: 'recover', alias: 'alice', password: 'pw' });
  await t.throwsAsync(s.run({ answersFile: file }), { instanceOf: SysbackError, message: /confirmRecover/ });
  t.is(s.calls.length, 0);
});

test('a bad sysback.mode value is warned about and ignored', async (t) => {
  const s = await setup(t, { console: true, cmdline: 'sysback.mode=rebuild', typed: 'n\n' });
  t.deepEqual(await s.run(), { ran: 'new', source: 'console' });
  t.true(s.log.lines.some((l) => l.includes('sysback.mode=rebuild on the kernel command line is neither')));
});

test('a missing kernel command line file reads as empty', async (t) => {
  const s = await setup(t, { console: true, typed: 'new\n' });
  await rm(s.cmdlineFile);
  t.deepEqual(await s.run(), { ran: 'new', source: 'console' });
});

test('without the flows in this build: FlowUnavailableError names the flow', async (t) => {
  const s = await setup(t, { console: true, typed: 'new\n' });
  const error = await t.throwsAsync(s.run({}, { flows: unavailableFlows }), { instanceOf: FlowUnavailableError });
  t.regex(error.message, /the "new" flow is not available/);
});
