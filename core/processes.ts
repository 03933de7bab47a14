// Owns stopping what sysback started: by PID only, never by name (DESIGN §7). Before signalling, the
// PID's command line must still contain the marker recorded when it was started, so a recycled PID
// is never hit. The /proc readers (children, name, namespace, liveness) live here too, for every
// caller that walks a process tree by PID (builder/guest-stop.ts, the boot tests).
import { readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  return !isZombie(pid);
}

/** The direct children of `pid` (none when it is gone). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The program name of `pid` (`/proc/PID/comm`), '' when it is gone. */
export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The identity of the namespace of `kind` that `pid` lives in (readlink /proc/PID/ns/KIND), undefined when gone. */
export function namespaceOf(pid: number, kind: 'pid' | 'net'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and its command line contains `marker`. */
export function isOurProcess(pid: number, marker: string): boolean {
  const cmdline = commandLineOf(pid);
  return cmdline !== undefined && cmdline.includes(marker) && !isZombie(pid);
}

/**
 * Sends SIGTERM to `pid` if it is still ours, waits up to `graceMs`, then SIGKILL. Returns whether a
 * process was stopped.
 */
export async function stopProcess(pid: number, marker: string, graceMs = 10_000): Promise<boolean> {
  if (!isOurProcess(pid, marker)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, marker)) return true;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  for (let i = 0; i < 50 && isOurProcess(pid, marker); i++) await sleep(100);
  return true;
}
