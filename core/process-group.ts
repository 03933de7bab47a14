// Owns stopping a child that leads its own process group (started through `setsid`, as the rsync
// adapter starts rsync) together with every process of that group: rsync forks a receiver and a
// generator, and all three must be gone before the mount they use is undone. Contract: the group is
// addressed by the PID we started (a process group ID is its leader's PID, never a name); SIGTERM
// first, SIGKILL after `termMs`, then a bounded wait for the group to be empty; never throws.
import { setTimeout as sleep } from 'node:timers/promises';

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Stops the group led by `pgid`: TERM, then KILL after `termMs`; waits up to `killMs` for it to be empty. */
export async function stopProcessGroup(pgid: number, options: { termMs?: number; killMs?: number } = {}): Promise<void> {
  const termMs = options.termMs ?? 3_000;
  const killMs = options.killMs ?? 10_000;
  signalGroup(pgid, 'SIGTERM');
  for (let waited = 0; waited < termMs && groupAlive(pgid); waited += 50) await sleep(50);
  if (groupAlive(pgid)) signalGroup(pgid, 'SIGKILL');
  for (let waited = 0; waited < killMs && groupAlive(pgid); waited += 50) await sleep(50);
}
