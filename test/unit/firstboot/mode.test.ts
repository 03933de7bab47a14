import test from 'ava';
import { cmdlineMode, decideMode, type ModeFacts, splitKernelCmdline } from '../../../firstboot/mode.ts';

test('splitKernelCmdline: spaces separate, quotes group, words after "--" belong to init', (t) => {
  t.deepEqual(splitKernelCmdline('root=LABEL=root rw  console=ttyS0,115200 quiet\n'), ['root=LABEL=root', 'rw', 'console=ttyS0,115200', 'quiet']);
  t.deepEqual(splitKernelCmdline('a="b c" "d e"=f g'), ['a=b c', 'd e=f', 'g']);
  t.deepEqual(splitKernelCmdline('quiet -- sysback.mode=recover'), ['quiet']);
  t.deepEqual(splitKernelCmdline(''), []);
});

test('cmdlineMode: finds sysback.mode, the last one wins', (t) => {
  t.deepEqual(cmdlineMode('quiet sysback.mode=recover'), { mode: 'recover', problem: undefined });
  t.deepEqual(cmdlineMode('sysback.mode=recover quiet sysback.mode=new'), { mode: 'new', problem: undefined });
  t.deepEqual(cmdlineMode('quiet'), { mode: undefined, problem: undefined });
  t.deepEqual(cmdlineMode('"sysback.mode=recover"'), { mode: 'recover', problem: undefined });
});

test('cmdlineMode: a look-alike or a bad value is not a mode', (t) => {
  t.deepEqual(cmdlineMode('xsysback.mode=recover sysback.moderecover sysback.mode.x=new'), { mode: undefined, problem: undefined });
  const bad = cmdlineMode('sysback.mode=Recover');
  t.is(bad.mode, undefined);
  t.is(bad.problem, 'sysback.mode=Recover on the kernel command line is neither "new" nor "recover"; ignored');
  t.is(cmdlineMode('sysback.mode=').mode, undefined);
  t.is(cmdlineMode('quiet -- sysback.mode=recover').mode, undefined);
});

// The whole decision table: configured x answers x command line x console.
const rows: Array<[string, ModeFacts, ReturnType<typeof decideMode>['action'], string?]> = [
  ['configured, nothing asked', { configured: true, answers: undefined, cmdline: undefined, console: true }, 'done'],
  ['configured, answers say new', { configured: true, answers: { mode: 'new' }, cmdline: undefined, console: false }, 'done'],
  ['configured, answers say recover but no cmdline', { configured: true, answers: { mode: 'recover', confirmRecover: true }, cmdline: undefined, console: false }, 'done'],
  ['configured, cmdline new', { configured: true, answers: undefined, cmdline: 'new', console: true }, 'done'],
  ['configured, cmdline recover, console', { configured: true, answers: undefined, cmdline: 'recover', console: true }, 'confirm-recover'],
  ['configured, cmdline recover, confirmRecover', { configured: true, answers: { mode: 'recover', confirmRecover: true }, cmdline: 'recover', console: false }, 'run', 'recover'],
  ['configured, cmdline recover, answers without confirmRecover', { configured: true, answers: { mode: 'recover' }, cmdline: 'recover', console: true }, 'give-up'],
  ['configured, cmdline recover, answers confirmRecover false', { configured: true, answers: { mode: 'recover', confirmRecover: false }, cmdline: 'recover', console: false }, 'give-up'],
  ['configured, cmdline recover, headless', { configured: true, answers: undefined, cmdline: 'recover', console: false }, 'give-up'],
  ['new device, answers new', { configured: false, answers: { mode: 'new' }, cmdline: undefined, console: false }, 'run', 'new'],
  ['new device, answers beat cmdline', { configured: false, answers: { mode: 'new' }, cmdline: 'recover', console: true }, 'run', 'new'],
  ['new device, cmdline recover, console', { configured: false, answers: undefined, cmdline: 'recover', console: true }, 'run', 'recover'],
  ['new device, cmdline new, headless', { configured: false, answers: undefined, cmdline: 'new', console: false }, 'give-up'],
  ['new device, console only', { configured: false, answers: undefined, cmdline: undefined, console: true }, 'ask'],
  ['new device, headless, nothing', { configured: false, answers: undefined, cmdline: undefined, console: false }, 'give-up'],
];

for (const [name, facts, action, mode] of rows) {
  test(`decideMode: ${name} -> ${action}${mode ? ` ${mode}` : ''}`, (t) => {
    const decision = decideMode(facts);
    t.is(decision.action, action);
    if (decision.action === 'run') {
      t.is(decision.mode as string | undefined, mode);
      t.is(decision.source, facts.answers ? 'answers' : 'cmdline');
      t.is(decision.replaces, facts.configured);
    }
    if (decision.action === 'give-up') {
      t.is(decision.configured, facts.configured);
      t.true(decision.reason.length > 20);
    }
  });
}
