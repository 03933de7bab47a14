// Stopping the guest `sysback boot` started, on a fake process table: which PID gets which signal,
// in which order, and which PIDs are never touched (a reaped leader, a recycled init PID).
import test from 'ava';
import { guestProcess, SIGRTMIN_3, type ProcessTable } from '../../../builder/guest-stop.ts';

interface FakeProcess {
  ns: string;
  children: number[];
  /** what it does on each signal: 'exit' ends it (and, for an init, its namespace) */
  on: Partial<Record<string, 'exit' | 'ignore'>>;
}

function fakeTable(processes: Record<number, FakeProcess>) {
  const sent: Array<[number, NodeJS.Signals | number]> = [];
  const end = (pid: number) => {
    const p = processes[pid];
    if (!p) return;
    delete processes[pid];
    // an init's death ends its whole PID namespace
    for (const [other, q] of Object.entries(processes)) if (q.ns === p.ns && p.ns !== 'host') delete processes[Number(other)];
    // a parent whose guest died (nspawn) exits after it
    for (const [parent, q] of Object.entries(processes)) if (q.children.includes(pid) && q.on.child === 'exit') end(Number(parent));
  };
  const table: ProcessTable = {
    children: (pid) => processes[pid]?.children.filter((c) => processes[c]) ?? [],
    pidNamespace: (pid) => processes[pid]?.ns,
    alive: (pid) => pid in processes,
    kill(pid, signal) {
      sent.push([pid, signal]);
      const p = processes[pid];
      if (!p) return;
      const action = signal === 'SIGKILL' ? 'exit' : p.on[String(signal)];
      if (action === 'exit') end(pid);
    },
  };
  return { table, sent, processes };
}

const fast = { graceMs: 50, killMs: 50, pollMs: 5 };

test('nspawn that powers its container off on SIGTERM gets SIGTERM only; nothing is killed', async (t) => {
  const { table, sent, processes } = fakeTable({
    100: { ns: 'host', children: [101], on: { SIGTERM: 'ignore', child: 'exit' } },
    101: { ns: 'guest', children: [102], on: {} },
    102: { ns: 'guest', children: [], on: {} },
  });
  // nspawn's SIGTERM: the container's init halts, nspawn then exits
  const kill = table.kill;
  table.kill = (pid, signal) => {
    kill(pid, signal);
    if (pid === 100 && signal === 'SIGTERM') kill(101, 'SIGKILL');
  };
  const guest = guestProcess('nspawn', table);
  guest.started(100);
  guest.watch();
  t.deepEqual(guest.init, { pid: 101, namespace: 'guest' });
  await guest.stop(fast);
  t.deepEqual(sent.filter(([pid]) => pid === 100), [[100, 'SIGTERM']]);
  t.deepEqual(Object.keys(processes), []);
});

test('a container that does not power off within the grace: its init is killed (the whole namespace with it), then nspawn', async (t) => {
  const { table, sent, processes } = fakeTable({
    100: { ns: 'host', children: [101], on: { SIGTERM: 'ignore' } },
    101: { ns: 'guest', children: [], on: {} },
    102: { ns: 'guest', children: [], on: {} },
  });
  const guest = guestProcess('nspawn', table);
  guest.started(100);
  await guest.stop(fast);
  t.deepEqual(sent, [[100, 'SIGTERM'], [101, 'SIGKILL'], [100, 'SIGKILL']]);
  t.deepEqual(Object.keys(processes), []);
});

test('nspawn died first (a hangup) and left its container running: the recorded init is asked to halt, then killed', async (t) => {
  const { table, sent, processes } = fakeTable({
    100: { ns: 'host', children: [101], on: {} },
    101: { ns: 'guest', children: [], on: {} },
  });
  const guest = guestProcess('nspawn', table);
  guest.started(100);
  guest.watch();
  delete processes[100]; // nspawn gone, the init reparented
  guest.exited();
  await guest.stop(fast);
  t.deepEqual(sent, [[101, SIGRTMIN_3], [101, 'SIGKILL']]);
  t.deepEqual(Object.keys(processes), []);
});

test('never a PID that is no longer ours: a reaped leader, an init PID now in another namespace', async (t) => {
  const { table, sent } = fakeTable({
    100: { ns: 'host', children: [101], on: {} },
    101: { ns: 'guest', children: [], on: {} },
  });
  const guest = guestProcess('nspawn', table);
  guest.started(100);
  guest.watch();
  guest.exited();
  // both PIDs were reused by unrelated host processes
  const { table: reused, sent: sentReused } = fakeTable({
    100: { ns: 'host', children: [], on: {} },
    101: { ns: 'host', children: [], on: {} },
  });
  Object.assign(table, { alive: reused.alive, pidNamespace: reused.pidNamespace, children: reused.children, kill: reused.kill });
  await guest.stop(fast);
  t.deepEqual(sent, []);
  t.deepEqual(sentReused, []);
});

test('qemu: SIGTERM, then SIGKILL after the grace; no container init is looked for', async (t) => {
  const { table, sent } = fakeTable({ 200: { ns: 'host', children: [201], on: { SIGTERM: 'ignore' } }, 201: { ns: 'other', children: [], on: {} } });
  const guest = guestProcess('qemu', table);
  guest.started(200);
  guest.watch();
  t.is(guest.init, undefined);
  await guest.stop(fast);
  t.deepEqual(sent, [[200, 'SIGTERM'], [200, 'SIGKILL']]);
});

test('a guest that already ended is not signalled at all', async (t) => {
  const { table, sent } = fakeTable({});
  const guest = guestProcess('nspawn', table);
  await guest.stop(fast);
  guest.started(300);
  guest.exited();
  await guest.stop(fast);
  t.deepEqual(sent, []);
});
