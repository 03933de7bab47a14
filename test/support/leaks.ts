// What a test leaves behind: processes whose command line mentions a directory, and host mounts
// under it. Used by teardown assertions ("grid stop leaves no process and no mount behind").
import { readdirSync, readFileSync } from 'node:fs';

export function processesMentioning(text: string): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (cmdline.includes(text)) found.push({ pid: Number(entry), cmdline: cmdline.trim() });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(prefix));
}
