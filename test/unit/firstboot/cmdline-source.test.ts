import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContext } from '../../../core/context.ts';
import { createMemoryLog } from '../../../core/log.ts';
import { defaultCmdlineFile, runFirstboot } from '../../../firstboot/firstboot.ts';
import type { Prompter } from '../../../core/prompter.ts';

test('inside a container the words come from PID 1 (systemd-nspawn passes them there)', (t) => {
  t.is(defaultCmdlineFile({ container: 'systemd-nspawn' }), '/proc/1/cmdline');
});

test('a NUL-separated command line (/proc/1/cmdline) is read word by word', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-cmdline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cmdline = path.join(dir, 'cmdline');
  writeFileSync(cmdline, '/usr/lib/systemd/systemd\0systemd.unit=multi-user.target\0sysback.mode=new\0');
  const ran: string[] = [];
  const flow = async () => {
    ran.push('configure');
  };
  const outcome = await runFirstboot(
    createContext({ root: dir, log: createMemoryLog() }),
    { noReboot: true, cmdlineFile: cmdline },
    {
      flows: { configure: flow, recover: flow },
      // the flow asks on the console; this test's flow asks nothing
      console: () => ({}) as Prompter,
      consoleAvailable: true,
      env: {},
      stdout: () => {},
      transcript: { write: () => true },
    },
  );
  t.deepEqual(outcome, { ran: 'new', source: 'cmdline' });
  t.deepEqual(ran, ['configure']);
});
