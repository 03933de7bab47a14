// Owns "two backups never overlap": an exclusive lock file (/var/lib/sysback/backup.lock) holding the
// owner's PID. Contract: acquiring fails with LockedError while the owner is alive; a lock left by a
// crashed or killed run (its PID gone, or now some other program) is taken over with a warning, so
// it never blocks forever; release removes it only if it is still ours.
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LockedError } from '../core/errors.ts';
import { commandLineOf } from '../core/processes.ts';

export interface Lock {
  release(): void;
}

interface LockBody {
  pid: number;
  started: string;
}

function ownerAlive(body: LockBody): boolean {
  const cmdline = commandLineOf(body.pid);
  // the owner must still be a sysback process (node running the bundle, or tsx in tests)
  return cmdline !== undefined && /sysback|node|tsx/.test(cmdline);
}

export function acquireLock(file: string, onStale: (message: string) => void = () => {}): Lock {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const body: LockBody = { pid: process.pid, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // written whole under a temp name, then hard-linked into place: link() is atomic and fails if
      // the lock exists, so no reader ever sees a half-written lock
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(body) + '\n', { mode: 0o600 });
      try {
        linkSync(temp, file);
      } finally {
        rmSync(temp, { force: true });
      }
      return {
        release() {
          try {
            const current = JSON.parse(readFileSync(file, 'utf8')) as LockBody;
            if (current.pid === process.pid) rmSync(file, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: LockBody | undefined;
    try {
      holder = JSON.parse(readFileSync(file, 'utf8')) as LockBody;
    } catch {
      holder = undefined; // unreadable or half-written: a crash during acquire
    }
    if (holder && holder.pid !== process.pid && ownerAlive(holder)) {
      throw new LockedError(`another backup is running (pid ${holder.pid}, since ${holder.started})`);
    }
    onStale(`removing a stale backup lock${holder ? ` left by pid ${holder.pid} (${holder.started})` : ''}`);
    rmSync(file, { force: true });
  }
  throw new LockedError(`could not take the backup lock ${file}`);
}
