// Owns stopping the guest `sysback boot` started (DESIGN §7: by PID, never by name). A guest is the
// process this boot spawned (qemu, or systemd-nspawn after unshare/sh exec it) and, for nspawn, the
// container's init: the child of nspawn that lives in another PID namespace, recorded with that
// namespace's identity while nspawn runs, because nspawn can die first (a hangup, a SIGKILL) and leave
// the init running, reparented, with the guest's Tahoe nodes and tor under it. Contract of `stop()`:
// SIGTERM to the leader (nspawn powers the container off in order, qemu quits), up to `graceMs` for it
// to end; then SIGKILL to the container's init (the kernel ends every process of its PID namespace with
// it) and to the leader; a bounded wait; never throws. A PID is signalled only while it is still the
// process recorded: the leader while its `run` has not returned, the init while its PID namespace is
// the one recorded (a recycled PID is never hit). The process table is a seam for the unit tests.
import { childrenOf, isAlive, namespaceOf } from '../core/processes.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessTable {
  /** direct children of `pid` */
  children(pid: number): number[];
  /** identity of the PID namespace `pid` lives in (readlink /proc/PID/ns/pid), or undefined when gone */
  pidNamespace(pid: number): string | undefined;
  /** alive and not a zombie */
  alive(pid: number): boolean;
  kill(pid: number, signal: NodeJS.Signals | number): void;
}

export const hostProcesses: ProcessTable = {
  children: childrenOf,
  pidNamespace: (pid) => namespaceOf(pid, 'pid'),
  alive: isAlive,
  kill(pid, signal) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  },
};

/** systemd's "halt" request (SIGRTMIN+3 with glibc's SIGRTMIN of 34), what nspawn sends the init itself */
export const SIGRTMIN_3 = 37;

export interface StopOptions {
  /** how long the guest may take to power off after SIGTERM */
  graceMs?: number;
  /** how long to wait for it to be gone after SIGKILL */
  killMs?: number;
  pollMs?: number;
}

export interface GuestProcess {
  /** the leader's PID once started */
  readonly leader: number | undefined;
  /** the container's init and its PID namespace, once seen */
  readonly init: { pid: number; namespace: string } | undefined;
  /** the PID `runner.run` reported (onStart) */
  started(pid: number): void;
  /** `runner.run` returned: the leader is reaped, its PID no longer ours */
  exited(): void;
  /** Looks for the container's init under the leader (nspawn); cheap, called while the guest runs. */
  watch(): void;
  stop(options?: StopOptions): Promise<void>;
}

export function guestProcess(kind: 'nspawn' | 'qemu', table: ProcessTable = hostProcesses): GuestProcess {
  let leader: number | undefined;
  let running = false;
  let init: { pid: number; namespace: string } | undefined;
  const leaderAlive = () => leader !== undefined && running && table.alive(leader);
  const initAlive = () => init !== undefined && table.alive(init.pid) && table.pidNamespace(init.pid) === init.namespace;
  const gone = () => !leaderAlive() && !initAlive();
  const find = () => {
    if (kind !== 'nspawn' || leader === undefined || !running || initAlive()) return;
    const own = table.pidNamespace(leader);
    for (const child of table.children(leader)) {
      const namespace = table.pidNamespace(child);
      if (namespace !== undefined && own !== undefined && namespace !== own) init = { pid: child, namespace };
    }
  };
  async function waitGone(ms: number, pollMs: number): Promise<void> {
    for (let waited = 0; waited < ms && !gone(); waited += pollMs) await sleep(pollMs);
  }
  return {
    get leader() {
      return leader;
    },
    get init() {
      return init;
    },
    started(pid) {
      leader = pid;
      running = true;
      init = undefined;
    },
    exited() {
      running = false;
    },
    watch: find,
    async stop(options = {}) {
      const pollMs = options.pollMs ?? 100;
      find();
      if (gone()) return;
      if (leaderAlive()) table.kill(leader!, 'SIGTERM');
      // nspawn gone (or deaf) but its container still up: the init gets the orderly request itself
      else if (initAlive()) table.kill(init!.pid, SIGRTMIN_3);
      await waitGone(options.graceMs ?? 30_000, pollMs);
      if (gone()) return;
      if (initAlive()) table.kill(init!.pid, 'SIGKILL');
      if (leaderAlive()) table.kill(leader!, 'SIGKILL');
      await waitGone(options.killMs ?? 10_000, pollMs);
    },
  };
}
