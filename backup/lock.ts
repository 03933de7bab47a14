// Owns "two backups never overlap": an exclusive lock file (/var/lib/sysback/backup.lock) naming its
// holder by PID *and* that process's start time (field 22 of /proc/PID/stat), plus a nonce.
// Contract:
// - the lock is written whole under a unique temp name and hard-linked into place: link() is atomic
//   and fails if the lock exists, so no reader ever sees a half-written lock and of two fresh takers
//   exactly one links;
// - acquiring fails with LockedError while the holder is alive: its PID exists, is no zombie, and
//   started at the recorded time. A PID the kernel reused for another process (the Tahoe node
//   included) does not count: liveness is the recorded process itself, never a command-line pattern;
// - a lock whose holder is gone is taken over atomically, whatever the number of takers: removing a
//   stale lock needs the exclusive right to break *that* lock, a marker file `<lock>.break-<digest of
//   the stale lock's bytes>` created with link(). Only the marker's creator removes the stale lock
//   (after re-reading that it is still those bytes: while the marker exists nobody else can remove
//   it, and its dead holder never will), then races for the link like a fresh taker and removes the
//   marker. So a lock is only ever removed by its holder or by the one breaker of its dead holder,
//   never a live lock by a taker. A marker left by a breaker that died is itself broken the same way
//   (its name then says whose break it breaks), so a crash at any point never blocks forever;
// - release removes the file only if it is still ours (same bytes).
// The process table is injectable (`ProcessProbe`) so the unit table needs no real dead processes.
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LockedError } from '../core/errors.ts';

export interface Lock {
  release(): void;
  /** true while the lock file still names this holder (a check before a step that must be exclusive) */
  held(): boolean;
}

export interface LockHolder {
  pid: number;
  /** /proc/PID/stat field 22 (starttime, clock ticks after boot), as a decimal string; absent in a
      lock written by an older sysback (then the PID alone decides, as it did then) */
  startTime?: string;
  /** wall time the lock was taken, for messages only (never used to decide anything) */
  started: string;
  nonce: string;
}

/** What the lock needs to know about processes; the real one reads /proc. */
export interface ProcessProbe {
  /** the start time (stat field 22) of a living, non-zombie process, or undefined */
  startTimeOf(pid: number): string | undefined;
  selfPid: number;
}

/** Field 22 of /proc/PID/stat, or undefined when the process is gone or a zombie. */
export function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may hold spaces or ")": fields 3.. follow the last ")"
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return rest[19]; // rest[0] is field 3, so field 22 is rest[19]
}

export const procProbe: ProcessProbe = { startTimeOf: procStartTime, selfPid: process.pid };

function readBytes(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The holder a lock's bytes name, or undefined when they name none (garbage, an old format). */
export function parseHolder(bytes: string): LockHolder | undefined {
  try {
    const body = JSON.parse(bytes) as Partial<LockHolder>;
    if (typeof body.pid !== 'number' || !Number.isInteger(body.pid) || body.pid <= 0) return undefined;
    return {
      pid: body.pid,
      ...(typeof body.startTime === 'string' ? { startTime: body.startTime } : {}),
      started: String(body.started ?? '?'),
      nonce: String(body.nonce ?? ''),
    };
  } catch {
    return undefined;
  }
}

/** True when the process the lock names is the very process that took it and it still runs. */
export function holderAlive(holder: LockHolder, probe: ProcessProbe = procProbe): boolean {
  const now = probe.startTimeOf(holder.pid);
  if (holder.startTime === undefined) return now !== undefined; // an older sysback's lock
  return now !== undefined && now === holder.startTime;
}

function digest(bytes: string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

export interface AcquireOptions {
  onStale?: (message: string) => void;
  probe?: ProcessProbe;
  /** wall time written in the lock for messages (the caller's clock); never used to decide */
  now?: () => Date;
}

/** Writes `bytes` whole under a temp name and links it to `file`; false when `file` exists. */
function linkExclusive(file: string, bytes: string): boolean {
  const temp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  writeFileSync(temp, bytes, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    rmSync(temp, { force: true });
  }
}

type Break = 'removed' | 'gone' | 'busy';

/**
 * Removes `file` if and only if it still holds `staleBytes` (whose holder is dead), with the
 * exclusive right to do so. 'busy': a live process is breaking it right now.
 */
function breakStale(file: string, staleBytes: string, me: string, probe: ProcessProbe, depth = 0): Break {
  if (depth > 8) return 'busy';
  const marker = `${file}.break-${digest(staleBytes)}`;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (linkExclusive(marker, me)) {
      try {
        // the marker is ours: nobody else may remove `file` while it holds the stale bytes
        const now = readBytes(file);
        if (now !== staleBytes) return 'gone';
        rmSync(file);
        return 'removed';
      } finally {
        rmSync(marker, { force: true });
      }
    }
    const markerBytes = readBytes(marker);
    if (markerBytes === undefined) continue; // its breaker just finished: try again
    const breaker = parseHolder(markerBytes);
    if (breaker && holderAlive(breaker, probe)) return 'busy';
    // the breaker died holding the marker: break the marker the same way, then retry
    if (breakStale(marker, markerBytes, me, probe, depth + 1) === 'busy') return 'busy';
  }
  return 'busy';
}

export function acquireLock(file: string, onStaleOrOptions: ((message: string) => void) | AcquireOptions = {}): Lock {
  const options: AcquireOptions = typeof onStaleOrOptions === 'function' ? { onStale: onStaleOrOptions } : onStaleOrOptions;
  const probe = options.probe ?? procProbe;
  const onStale = options.onStale ?? (() => {});
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const startTime = probe.startTimeOf(probe.selfPid);
  if (startTime === undefined) throw new Error(`acquireLock: cannot read the start time of this process (pid ${probe.selfPid})`);
  const holder: LockHolder & { startTime: string } = {
    pid: probe.selfPid,
    startTime,
    started: (options.now?.() ?? new Date()).toISOString(),
    nonce: randomBytes(8).toString('hex'),
  };
  const me = JSON.stringify(holder) + '\n';

  for (let attempt = 0; attempt < 5; attempt++) {
    if (linkExclusive(file, me)) return ownedLock(file, me);
    const bytes = readBytes(file);
    if (bytes === undefined) continue; // released meanwhile: race for it again
    const current = parseHolder(bytes);
    if (current && holderAlive(current, probe)) {
      throw new LockedError(`another backup is running (pid ${current.pid}, since ${current.started})`);
    }
    const outcome = breakStale(file, bytes, me, probe);
    if (outcome === 'busy') throw new LockedError('another backup is taking over a stale lock right now');
    if (outcome === 'removed') {
      onStale(`took over a stale backup lock${current ? ` left by pid ${current.pid} (${current.started})` : ' (unreadable)'}`);
    }
  }
  throw new LockedError(`could not take the backup lock ${file}`);
}

function ownedLock(file: string, me: string): Lock {
  const held = () => {
    try {
      return readBytes(file) === me;
    } catch {
      return false;
    }
  };
  return {
    held,
    release() {
      if (held()) rmSync(file, { force: true });
    },
  };
}
