// Owns mounting a Tahoe SFTP frontend with sshfs and unmounting it (DESIGN §4.2, the `mount`
// transport). sshfs runs in the foreground (`-f`) as our child, so its PID is known and it can be
// stopped by PID; the mount is ready when it appears in /proc/self/mountinfo. ssh is pinned down:
// no user or system ssh config (`-F /dev/null`), only the given key, public-key authentication only,
// never a prompt (BatchMode), and the host key checked against a known_hosts file we wrote from the
// node's host public key (or accepted on first use when none is given).
// Contract: `mountSshfs` returns only once the mount is there and a listing through it was answered
// (sshfs may mount before its session is up), and on failure leaves no mount and no
// sshfs process; `unmount()` tries `fusermount3 -u`, then `fusermount -u`, then a lazy `-z` unmount as
// the last resort, then stops sshfs by PID; it may be called more than once.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { GridUnreachableError, SysbackError, UserError, EXIT } from '../core/errors.ts';
import { stopProcess } from '../core/processes.ts';
import type { Runner } from '../core/runner.ts';

export interface SshfsOptions {
  port: number;
  user: string;
  /** the client private key */
  keyFile: string;
  /** known_hosts naming the frontend's host key; without it the key is accepted on first use */
  knownHostsFile?: string;
  mountPoint: string;
  /** bound for the mount to appear */
  timeoutMs?: number;
}

export interface SshfsMount {
  readonly mountPoint: string;
  readonly pid: number | undefined;
  unmount(): Promise<void>;
}

/** The mount point's line fields in /proc/self/mountinfo, or undefined when nothing is mounted there. */
export function mountAt(mountPoint: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): { fsType: string } | undefined {
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    // mountinfo escapes blanks and backslashes in paths as octal
    const point = (fields[4] ?? '').replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (point === mountPoint && dash > 0) return { fsType: fields[dash + 1] ?? '' };
  }
  return undefined;
}

/** The sshfs argv (pure). */
export function sshfsArgv(options: SshfsOptions): string[] {
  const hostKeys = options.knownHostsFile
    ? [`UserKnownHostsFile=${options.knownHostsFile}`, 'GlobalKnownHostsFile=/dev/null', 'StrictHostKeyChecking=yes']
    : ['StrictHostKeyChecking=accept-new'];
  const opts = [
    `port=${options.port}`,
    `IdentityFile=${options.keyFile}`,
    'IdentitiesOnly=yes',
    'PreferredAuthentications=publickey',
    'PasswordAuthentication=no',
    'BatchMode=yes',
    'ConnectTimeout=10',
    'ServerAliveInterval=15',
    ...hostKeys,
    // Tahoe is the only truth: no attribute or directory caching that could hide what it did
    'cache=no',
  ];
  return ['sshfs', '-f', '-F', '/dev/null', '-o', opts.join(','), `${options.user}@127.0.0.1:/`, options.mountPoint];
}

async function unmountOnce(runner: Runner, mountPoint: string): Promise<void> {
  for (const argv of [
    ['fusermount3', '-u', mountPoint],
    ['fusermount', '-u', mountPoint],
    ['fusermount3', '-u', '-z', mountPoint],
    ['fusermount', '-u', '-z', mountPoint],
    ['umount', '-l', mountPoint],
  ]) {
    if (!mountAt(mountPoint)) return;
    await runner.run(argv, { reject: false, timeoutMs: 20_000 }).catch(() => undefined);
  }
}

/** Unmounts whatever is mounted at `mountPoint` (a leftover of a crash), if it is a FUSE mount. */
export async function clearStaleMount(runner: Runner, mountPoint: string): Promise<void> {
  const found = mountAt(mountPoint);
  if (!found) return;
  if (!found.fsType.startsWith('fuse')) {
    throw new UserError(`${mountPoint} already has a ${found.fsType} file system mounted on it`, 'unmount it first');
  }
  await unmountOnce(runner, mountPoint);
}

export async function mountSshfs(runner: Runner, options: SshfsOptions): Promise<SshfsMount> {
  await clearStaleMount(runner, options.mountPoint);
  mkdirSync(options.mountPoint, { recursive: true });
  const present = readdirSync(options.mountPoint);
  if (present.length > 0) {
    const some = present.slice(0, 3).join(', ') + (present.length > 3 ? ', ...' : '');
    throw new UserError(`the mount point ${options.mountPoint} is not empty (${some})`, 'move its contents away; sysback mounts the area there');
  }
  const argv = sshfsArgv(options);
  const child = runner.pipe(argv, { hint: 'is the Tahoe node running with its SFTP frontend enabled?' });
  child.stdin?.end();
  const pid = child.pid;
  let exited: { error?: unknown } | undefined;
  child.done.then(
    () => (exited = {}),
    (error: unknown) => (exited = { error }),
  );
  let done = false;
  const mount: SshfsMount = {
    mountPoint: options.mountPoint,
    pid,
    async unmount() {
      if (done) return;
      done = true;
      await unmountOnce(runner, options.mountPoint);
      // sshfs exits once unmounted; if it does not, stop it by PID
      for (let i = 0; i < 250 && !exited; i++) await sleep(20);
      if (!exited && pid) await stopProcess(pid, options.mountPoint, 5_000);
      await child.done.catch(() => undefined);
    },
  };

  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const failed = async (cause: string): Promise<never> => {
    // give sshfs a moment to exit and say why (ssh's own message is the best explanation)
    for (let i = 0; i < 30 && !exited; i++) await sleep(100);
    await mount.unmount();
    const detail = exited?.error instanceof SysbackError ? exited.error.message : cause;
    // ssh's own words decide: an answer that refuses us is not an unreachable node
    if (/Permission denied/i.test(detail)) {
      throw new SysbackError(`the Tahoe SFTP frontend refused the key for ${options.user}: ${detail}`, {
        hint: 'the SFTP account does not list this key: enable the SFTP frontend again (it rewrites the accounts file) and restart the node',
        exitCode: EXIT.command,
      });
    }
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(detail)) {
      throw new SysbackError(`the Tahoe SFTP frontend on 127.0.0.1:${options.port} showed a host key the known_hosts file does not list`, {
        hint: `check that port ${options.port} is this device's own Tahoe node, then rewrite ${options.knownHostsFile ?? 'known_hosts'}`,
        exitCode: EXIT.command,
      });
    }
    if (/Connection refused|Connection reset|Connection closed|timed out|not connected/i.test(detail)) {
      throw new GridUnreachableError(`the Tahoe SFTP frontend on 127.0.0.1:${options.port} does not answer (${detail})`);
    }
    throw new SysbackError(`mounting the Tahoe area with sshfs failed: ${detail}`, {
      hint: 'check the SFTP account, its key and the known_hosts file',
      exitCode: EXIT.command,
    });
  };
  while (!mountAt(options.mountPoint)) {
    if (exited) return failed('sshfs exited');
    if (Date.now() > deadline) {
      await mount.unmount();
      throw new GridUnreachableError(`sshfs did not mount 127.0.0.1:${options.port} within ${Math.round(timeoutMs / 1000)} s`);
    }
    await sleep(50);
  }
  // sshfs 3.7 may mount before its SFTP session is up and then die (measured: 7 of 10 mounts to a
  // closed port appeared first). Only a listing answered through the mount proves the session.
  // the bound's timer is cancelled once the listing answers: a pending timer would keep the process
  // alive for the rest of the bound after the backup was done (measured: 21-28 s per mount run)
  const bound = new AbortController();
  try {
    await Promise.race([
      readdir(options.mountPoint),
      sleep(Math.max(deadline - Date.now(), 1_000), undefined, { signal: bound.signal }).then(() =>
        Promise.reject(new Error('the first listing timed out')),
      ),
    ]);
  } catch (error) {
    return failed(`the mount does not answer: ${(error as Error).message}`);
  } finally {
    bound.abort();
  }
  if (exited || !mountAt(options.mountPoint)) return failed('sshfs exited');
  return mount;
}
