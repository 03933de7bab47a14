// `sysback boot OUT --grid GRIDDIR --nspawn` told to stop (SIGTERM, as `kill` or the demo passing on
// Ctrl-C does) stops its guest: no process of the container is left (none in its PID namespace, none in
// the grid namespace), the namespace's holder and forwarders are gone, its throwaway layer is removed,
// and the command exits 143. One boot of the cached test image, on a pty, at the first-boot question.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { missingTools } from '../../builder/host-tools.ts';
import { createContext } from '../../core/context.ts';
import { childrenOf, commOf, namespaceOf } from '../../core/processes.ts';
import { BootConsole } from '../support/boot-console.ts';
import { ensureBundle } from '../support/cli.ts';
import { processesMentioning } from '../support/leaks.ts';
import { testIf } from '../support/skip.ts';
import { sharedGrid, type TestGrid } from '../support/shared-grid.ts';
import { ensureTestImage } from './test-image.ts';

const PROMPT = /Is this a new router, or do you want to recover one\? \[new\/recover\]: /;
const ctx = createContext();
const needed = ['systemd-nspawn', 'script', 'unshare', 'nsenter', 'socat', 'ip', 'ss'];
const missing = process.getuid?.() === 0 ? await missingTools(ctx.runner, needed) : ['root'];

/** every live process of the host in that namespace */
function inNamespace(kind: 'pid' | 'net', id: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => namespaceOf(pid, kind) === id);
}
function descendants(root: number): number[] {
  const all: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    all.push(pid);
    queue.push(...childrenOf(pid));
  }
  return all;
}

let grid: TestGrid | undefined;
test.after.always(async () => {
  await grid?.release();
});

const run = testIf(missing.length === 0, `sysback boot signal tests need root and host programs (missing: ${missing.join(', ')})`);

run('SIGTERM to sysback boot --nspawn --grid stops the container, the grid namespace and the throwaway layer, and exits 143', async (t) => {
  t.timeout(900_000);
  const image = await ensureTestImage();
  grid = await sharedGrid();
  const cli = await ensureBundle();
  const command = [process.execPath, cli, 'boot', image.dir, '--nspawn', '--grid', grid.dir].join(' ');
  const proc = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, SHELL: '/bin/sh', TERM: 'vt100' }, stdio: ['pipe', 'pipe', 'pipe'] });
  const console = new BootConsole((text) => proc.stdin.write(text));
  proc.stdout.on('data', (chunk: Buffer) => console.push(chunk));
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  try {
    await console.waitFor(PROMPT, 300_000);
    // the boot's own processes: sysback (node) under script, nspawn under it, the container's init under nspawn
    const tree = descendants(proc.pid!);
    const boot = tree.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${cli}\0boot\0`))!;
    t.truthy(boot, 'sysback boot runs');
    const nspawn = tree.find((pid) => commOf(pid) === 'systemd-nspawn');
    t.truthy(nspawn, 'systemd-nspawn runs');
    const init = childrenOf(nspawn!).find((pid) => namespaceOf(pid, 'pid') !== namespaceOf(nspawn!, 'pid'));
    t.truthy(init, "the container's init runs");
    const guestPid = namespaceOf(init!, 'pid')!;
    const guestNet = namespaceOf(init!, 'net')!;
    t.not(guestNet, namespaceOf(process.pid, 'net'), 'the container is not on the host network');
    t.true(inNamespace('pid', guestPid).length > 1, 'the guest runs more than its init');
    const holder = processesMentioning('sysback-reach /').filter((p) => p.cmdline.startsWith('sh -c'));
    t.is(holder.length, 1, 'one grid namespace holder');
    const runDir = /sysback-reach (\S+)/.exec(holder[0]!.cmdline)![1]!;
    const session = tree.map((pid) => /(\/\S*sysback-nspawn-\w+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '))?.[1]).find(Boolean);
    t.truthy(session, 'the throwaway layer');
    t.log(`boot ${boot} nspawn ${nspawn} init ${init}, ${inNamespace('pid', guestPid).length} guest processes; namespace ${runDir}`);

    process.kill(boot, 'SIGTERM');
    const code = await Promise.race([closed, sleep(120_000).then(() => 'still running' as const)]);
    // script passes on its command's exit status
    t.is(code, 143, `sysback boot's exit: ${stderr.slice(-1000)}`);
    t.regex(stderr + console.text, /SIGTERM: stopping the container/);
    t.deepEqual(inNamespace('pid', guestPid), [], 'no process of the guest is left');
    t.deepEqual(inNamespace('net', guestNet), [], 'nothing is left in the grid namespace');
    t.deepEqual(processesMentioning(runDir), [], 'no holder or forwarder is left');
    t.deepEqual(processesMentioning(session!), [], 'nothing runs over the throwaway layer');
    t.deepEqual(processesMentioning(os.tmpdir() + '/sysback-nspawn-').filter((p) => p.cmdline.includes(session!)), []);
    t.throws(() => readdirSync(session!), undefined, 'the throwaway layer is removed');
    t.throws(() => readdirSync(runDir), undefined, 'the socket directory is removed');
  } finally {
    if (proc.exitCode === null) {
      for (const pid of descendants(proc.pid!).reverse()) if (commOf(pid) === 'systemd-nspawn') process.kill(pid, 'SIGKILL');
      proc.kill('SIGKILL');
    }
  }
});
