// Processes of a fault campaign (scripts/faults.ts): a device command started inside a simulated
// router (the same chroot as SimulatedRouter.exec) so the campaign holds its PID and sees its stderr
// line by line as it comes (to strike at a step), the device's sysback process found as a descendant
// of that PID, and a router's Tahoe node found by the PID file its node directory keeps. Contract:
// every child is started in its own process group and `killGroup` ends that group only; nothing is
// ever found or killed by name alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { DEVICE } from '../../core/device-paths.ts';
import type { SimulatedRouter } from './router.ts';

const CHROOT_SCRIPT = 'set -e\nm=$1; shift\nmount -t proc proc "$m/proc"\nmount --rbind /dev "$m/dev"\nexec chroot "$m" "$@"';

export interface Finished {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Started {
  child: ChildProcess;
  pid: number;
  done: Promise<Finished>;
  exited(): boolean;
}

const live = new Set<ChildProcess>();

/** `sysback ARGS` inside ROUTER; `onLine` sees every stdout and stderr line as it arrives. */
export function startSysback(router: SimulatedRouter, args: readonly string[], options: { env?: Record<string, string>; onLine?: (line: string) => void } = {}): Started {
  const env = Object.entries({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', ...options.env }).map(([k, v]) => `${k}=${v}`);
  const argv = ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', CHROOT_SCRIPT, 'router', router.root, 'env', '-i', ...env, DEVICE.bin, ...args];
  const started = Date.now();
  const child = spawn('unshare', argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let stdout = '';
  let stderr = '';
  let exited = false;
  const split = () => {
    let partial = '';
    return (chunk: Buffer, sink: (text: string) => void) => {
      const text = chunk.toString('utf8');
      sink(text);
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) options.onLine?.(line);
    };
  };
  const out = split();
  const err = split();
  child.stdout!.on('data', (c: Buffer) => out(c, (t) => (stdout += t)));
  child.stderr!.on('data', (c: Buffer) => err(c, (t) => (stderr += t)));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      live.delete(child);
      resolve({ exitCode: code ?? (signal ? 128 : -1), stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, pid: child.pid!, done, exited: () => exited };
}

/** Ends the process groups of every child still running (the campaign's exit paths). */
export function killLiveChildren(): void {
  for (const child of live) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** The device's sysback (node running the device app; `marker` narrows it, e.g. to one command) that descends from ANCESTOR, if running. */
export function deviceSysbackPid(ancestor: number, marker: string = DEVICE.app): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!cmdline(pid).includes(marker)) continue;
    for (let p: number | undefined = pid, depth = 0; p && p > 1 && depth < 20; p = parentOf(p), depth++) {
      if (p === ancestor) return pid;
    }
  }
  return undefined;
}

/** The PID the router's Tahoe node of AREA recorded, when that process still runs that node. */
export function routerNodePid(router: SimulatedRouter, area: 'private' | 'public'): number | undefined {
  const file = router.path(`${DEVICE.tahoe(area)}.pid`);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && cmdline(pid).includes(DEVICE.tahoe(area)) ? pid : undefined;
}

export function sigkill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
