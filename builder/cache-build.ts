// Owns building one cached tree (the target root filesystem, the image layer) exactly once, even when
// several processes ask for it at the same time (ava runs test files side by side, and two of them may
// both find the cache empty on a fresh machine). Contract: a tree is complete only once its stamp file
// exists (written last, before the atomic rename into place); one builder at a time holds
// `<dir>.lock` (created exclusively, holding its PID); the others wait for it and then reuse its tree;
// a lock or a half-built `<dir>.partial-PID` left by a dead process is removed, never one whose
// builder is still alive.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CachedBuild {
  path: string;
  reused: boolean;
  seconds: number;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockHolder(lock: string): number | undefined {
  try {
    return Number(readFileSync(lock, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Takes `lock` when free or stale; resolves once we hold it. */
async function takeLock(lock: string, waitMs: number, onWait: (pid: number) => void): Promise<void> {
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = lockHolder(lock);
    if (holder === undefined || !alive(holder)) {
      // stale: move it aside under a unique name first, so two waiters never both delete a fresh lock
      const aside = `${lock}.stale-${process.pid}`;
      try {
        renameSync(lock, aside);
        if (lockHolder(aside) === holder) rmSync(aside, { force: true });
        else renameSync(aside, lock); // someone re-took it between our read and rename: give it back
      } catch {
        // another waiter moved it first
      }
      continue;
    }
    if (!told) onWait(holder);
    told = true;
    if (Date.now() > deadline) throw new Error(`${lock}: still held by pid ${holder} after ${Math.round(waitMs / 1000)} s`);
    await sleep(1000);
  }
}

/**
 * Returns `dir` complete: reused when its `stamp` exists, otherwise built by `build(partial)` into a
 * sibling `partial` directory, stamped with `stampContent` and renamed into place.
 */
export async function buildCachedTree(
  dir: string,
  stamp: string,
  build: (partial: string) => Promise<void>,
  stampContent: () => string,
  options: { waitMs?: number; log?: (line: string) => void } = {},
): Promise<CachedBuild> {
  const started = Date.now();
  const done = (reused: boolean): CachedBuild => ({ path: dir, reused, seconds: (Date.now() - started) / 1000 });
  if (existsSync(path.join(dir, stamp))) return done(true);
  const parent = path.dirname(dir);
  mkdirSync(parent, { recursive: true });
  const lock = `${dir}.lock`;
  await takeLock(lock, options.waitMs ?? 60 * 60_000, (pid) => options.log?.(`waiting for pid ${pid}, which is building ${dir}`));
  try {
    if (existsSync(path.join(dir, stamp))) return done(true);
    // we hold the lock: every partial tree left here belongs to a dead builder
    for (const entry of readdirSync(parent)) {
      const owner = /\.partial-(\d+)$/.exec(entry);
      if (entry.startsWith(`${path.basename(dir)}.partial`) && !(owner && Number(owner[1]) !== process.pid && alive(Number(owner[1])))) {
        rmSync(path.join(parent, entry), { recursive: true, force: true });
      }
    }
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    const partial = `${dir}.partial-${process.pid}`;
    try {
      await build(partial);
    } catch (error) {
      rmSync(partial, { recursive: true, force: true });
      throw error;
    }
    writeFileSync(path.join(partial, stamp), stampContent());
    renameSync(partial, dir);
    return done(false);
  } finally {
    rmSync(lock, { force: true });
  }
}
