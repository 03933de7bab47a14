// Owns the benchmark's measuring instruments: wall-clock timing of a step, the median of repeats,
// and the peak resident memory (VmHWM) of the sysback process inside a simulated router.
// Contract: the RSS probe only reads /proc (the router shares our PID namespace); it watches the
// `node …/sysback.mjs` process whose root is the given router root and never touches other processes.
// VmHWM is a high-water mark, so the last value read before the process exits is its peak up to
// at most one polling interval (20 ms) before the end.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - started) / 1000, value };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** kB of VmHWM of one process, or undefined when it is gone or has no memory map (a zombie). */
function vmHwmKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function isSysbackIn(pid: number, root: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!cmdline[0]?.endsWith('node') || !cmdline.some((a) => a.endsWith('/sysback.mjs'))) return false;
    return path.resolve(readlinkSync(`/proc/${pid}/root`)) === path.resolve(root);
  } catch {
    return false;
  }
}

export interface RssProbe {
  /** stops polling; the peak VmHWM in MB of every sysback process seen (0 when none was seen) */
  stop(): { peakMB: number; processes: number };
}

/** Polls the sysback node process(es) running inside `root` until stopped. */
export function probeRss(root: string, intervalMs = 20): RssProbe {
  const watched = new Map<number, number>();
  const tick = () => {
    let alive = false;
    for (const pid of watched.keys()) {
      const kb = vmHwmKb(pid);
      if (kb === undefined) continue;
      alive = true;
      watched.set(pid, Math.max(watched.get(pid)!, kb));
    }
    if (alive) return;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (watched.has(pid) || !isSysbackIn(pid, root)) continue;
      watched.set(pid, vmHwmKb(pid) ?? 0);
    }
  };
  const timer = setInterval(tick, intervalMs);
  tick();
  return {
    stop() {
      clearInterval(timer);
      const peakKb = Math.max(0, ...watched.values());
      return { peakMB: round(peakKb / 1024, 1), processes: watched.size };
    },
  };
}
