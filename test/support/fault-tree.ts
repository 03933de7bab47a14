// The files a fault campaign compares between a lost router and the one recovered in its place:
// every entry under the fixture's roots (test/support/fixture-tree.ts) with its type, mode, owner,
// mtime, content (sha256) and link target. Root's crontab is compared as a set of lines (recovery
// re-installs the managed backup line; where it lands is issue 11's crontab item, not data loss).
// Contract: `treeDiff` lists every difference, empty when the trees are equal.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { FIXTURE_ROOTS } from './fixture-tree.ts';

export type Tree = Map<string, string>;
const CRONTAB = '/var/spool/cron/crontabs/root';

export function treeOf(root: string): Tree {
  const out: Tree = new Map();
  const walk = (devicePath: string) => {
    const host = path.join(root, devicePath);
    let st;
    try {
      st = lstatSync(host);
    } catch {
      return;
    }
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.set(devicePath, `link ${meta} -> ${readlinkSync(host)}`);
    else if (st.isDirectory()) {
      // the crontab directory's mtime changes with the managed line (see CRONTAB above)
      out.set(devicePath, `dir ${meta}${devicePath === path.posix.dirname(CRONTAB) ? '' : ` ${Math.floor(st.mtimeMs / 1000)}`}`);
      for (const name of readdirSync(host).sort()) walk(path.posix.join(devicePath, name));
    } else if (devicePath === CRONTAB) {
      out.set(devicePath, `crontab ${meta} ${[...new Set(readFileSync(host, 'utf8').split('\n').filter(Boolean))].sort().join(' | ')}`);
    } else {
      out.set(devicePath, `file ${meta} ${Math.floor(st.mtimeMs / 1000)} ${createHash('sha256').update(readFileSync(host)).digest('hex')}`);
    }
  };
  for (const r of FIXTURE_ROOTS) if (existsSync(path.join(root, r)) || isLink(path.join(root, r))) walk(r);
  return out;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export function treeDiff(want: Tree, got: Tree): string[] {
  const diffs: string[] = [];
  for (const [p, v] of want) if (got.get(p) !== v) diffs.push(`${p}: want ${v}, got ${got.get(p) ?? '(missing)'}`);
  for (const p of got.keys()) if (!want.has(p)) diffs.push(`${p}: not on the source router`);
  return diffs;
}
