// The `mount` transport (DESIGN §4.2, the seed's way): the area is mounted from the node's Tahoe SFTP
// frontend with sshfs, the file is copied in with rsync, the area is unmounted, and the result is
// checked through the web API. It keeps the Transport contract of grid/transport.ts.
//
// What Tahoe 1.20's SFTP server (allmydata/frontends/sftpd.py) supports, and the choices that follow:
// - The SFTP root is the account's root cap (the area's directory). `/uri/CAP` paths exist in the
//   protocol but sshfs cannot stat `/uri` ("Operation not permitted"), so this transport reaches only
//   the directory its account is rooted at: `dirCap` must be that `rootCap`.
// - Every file written is an immutable file, uploaded when its handle is closed; a file opened with
//   O_CREAT is linked at once as an empty placeholder. Changing a size (ftruncate, `rsync --inplace` on
//   an existing file) is FX_OP_UNSUPPORTED, and clearing the owner-write bit sets `no-write`. So rsync
//   runs in its default mode (write `.NAME.XXXXXX`, then rename: Tahoe offers
//   posix-rename@openssh.com, which sshfs uses, so the rename replaces an existing file), with
//   `--whole-file` (no delta reads of the old file), `--mkpath` (parents become Tahoe directories)
//   and `--times` only (no -p/-o/-g: Tahoe keeps no owners, and a read-only mode would make the next
//   backup's link `no-write`). rsync runs with its cwd inside the mount and relative area paths, so
//   a mount that vanishes mid-copy fails the copy instead of filling the bare mount point.
// - Each SFTP operation changes a mutable directory on the grid, so small files cost seconds; a
//   50 MB file took 9 s here against 1.7 s for the webapi transport (quiet machine).
// - Upload errors may not reach the SFTP client (Tahoe ticket #1059) and the commit happens after
//   close, so the mount's listing is never trusted: after unmounting, the web API is polled (bounded)
//   until `name` holds a newly linked file of the expected size, and its cap is returned from there.
// - A `{file}` source is rsynced directly. A Readable source is first written to a temp file (the
//   seed's way: the archive is a file before it is copied), which is removed afterwards.
// - download mounts the area and rsyncs the file out into a temp file beside `localFile`, renamed over
//   it when complete (the seed's way in recovery; the web API is used only to see that it exists).
// Cleanup: the mount is undone in every exit path (try/finally, plus SIGINT/SIGTERM/SIGHUP handlers
// installed while mounted): rsync's whole process group is stopped first (it runs under setsid),
// then the area is unmounted, then rsync placeholders an interrupted copy left are unlinked through
// the web API. Only a SIGKILL of the caller can leave a mount; the next mount clears a stale one.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SysbackError, UserError, VerifyError, EXIT } from '../core/errors.ts';
import type { PipedProcess, Runner } from '../core/runner.ts';
import { mountSshfs, type SshfsMount } from './sshfs.ts';
import type { Transport, TransferProgress } from './transport.ts';
import { localSourceSize, splitTargetName, tempBeside } from './webapi-transport.ts';
import { TahoeHttpError, type TahoeWebApi } from './webapi.ts';

export interface MountTransportOptions {
  api: TahoeWebApi;
  runner: Runner;
  sftpPort: number;
  user: string;
  /** the SFTP client private key */
  keyFile: string;
  /** known_hosts with the frontend's host key (grid/sftp-frontend.ts writes one); else accept-new */
  knownHostsFile?: string;
  /** where the area is mounted: DEVICE.mount(area) under the root on a device */
  mountPoint: string;
  /** the directory cap the SFTP account is rooted at (the area's directory) */
  rootCap: string;
  /** where a Readable source is spooled before rsync (default: the system temp dir) */
  spoolDir?: string;
  /** bound for the web API to show the written file after unmounting (default 120 s) */
  settleTimeoutMs?: number;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function groupAlive(pgid: number): boolean {
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

/** Stops an rsync started under setsid and every process of its group: TERM, then KILL. */
async function stopCopy(copy: PipedProcess): Promise<void> {
  const pgid = copy.pid;
  if (pgid) {
    signalGroup(pgid, 'SIGTERM');
    for (let i = 0; i < 30 && groupAlive(pgid); i++) await sleep(100);
    if (groupAlive(pgid)) signalGroup(pgid, 'SIGKILL');
    for (let i = 0; i < 100 && groupAlive(pgid); i++) await sleep(100);
  } else {
    copy.kill('SIGKILL');
  }
  await copy.done.catch(() => undefined);
}

/**
 * Runs `fn` with `cleanup` guaranteed: after `fn` settles, and also when SIGINT/SIGTERM/SIGHUP arrives
 * meanwhile. Our handler stays installed until the cleanup is done (so signal-exit, which execa uses,
 * sees another listener and does not kill the process first), then the signal is raised again for
 * whoever else handles it, or for the default action.
 */
export async function withCleanup<T>(cleanup: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  let cleaned: Promise<void> | undefined;
  const once = () => (cleaned ??= cleanup());
  const remove = () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
  let raised = false;
  function handler(signal: NodeJS.Signals) {
    if (raised) return;
    raised = true;
    void once()
      .catch(() => undefined)
      .finally(() => {
        remove();
        process.kill(process.pid, signal);
      });
  }
  for (const s of SIGNALS) process.on(s, handler);
  try {
    return await fn();
  } finally {
    // on a signal, the handler removes itself once the cleanup is done
    if (!raised) remove();
    await once();
  }
}

/** Cumulative bytes from rsync's `--info=progress2` output (lines separated by \r or \n). */
export function parseRsyncProgress(text: string): number | undefined {
  let last: number | undefined;
  for (const match of text.matchAll(/(?:^|[\r\n])\s*([\d,]+)\s+\d+%/g)) last = Number(match[1]!.replace(/,/g, ''));
  return last;
}

/** rsync's temp name for `base` is `.BASE.XXXXXX` (six random characters). */
export function isRsyncTemp(entry: string, base: string): boolean {
  return entry.startsWith(`.${base}.`) && entry.length === base.length + 8;
}

interface Entry {
  cap: string;
  size: number | undefined;
  linkmotime: number | undefined;
}

async function entryAt(api: TahoeWebApi, dirCap: string, name: string): Promise<Entry | undefined> {
  const info = await api.info(dirCap, name);
  if (!Array.isArray(info) || info[0] !== 'filenode') return undefined;
  const data = info[1] ?? {};
  // the parent's link metadata tells a newly linked file from the old one, even for identical bytes
  const { parent, base } = splitTargetName(name);
  const parentInfo = await api.info(dirCap, parent);
  const child = parentInfo?.[1]?.children?.[base]?.[1];
  return {
    cap: String(data.rw_uri ?? data.ro_uri ?? ''),
    size: typeof data.size === 'number' ? data.size : undefined,
    linkmotime: child?.metadata?.tahoe?.linkmotime,
  };
}

export function createMountTransport(options: MountTransportOptions): Transport {
  const { api, runner, mountPoint } = options;
  let current: SshfsMount | undefined;

  const checkArea = (dirCap: string) => {
    if (dirCap !== options.rootCap) {
      throw new UserError(
        'the mount transport reaches only the area its SFTP account is rooted at',
        're-enable the SFTP frontend with this directory as the account root, or use the webapi transport',
      );
    }
  };

  // the rsync copying right now, stopped first when a signal or a failure ends the mount
  let copying: PipedProcess | undefined;

  /**
   * Runs `fn` with the area mounted at `mountPoint`, unmounting in every exit path. `afterFailure`
   * runs (after unmounting) when `fn` fails or a signal interrupts it.
   */
  const mounted = async <T>(fn: (mnt: string) => Promise<T>, afterFailure?: () => Promise<void>): Promise<T> => {
    // a node that is down is a GridUnreachableError before anything is mounted
    await api.welcome();
    let succeeded = false;
    const cleanup = async () => {
      const copy = copying;
      copying = undefined;
      if (copy) await stopCopy(copy);
      const mount = current;
      current = undefined;
      await mount?.unmount();
      if (!succeeded) await afterFailure?.();
    };
    return withCleanup(cleanup, async () => {
      current = await mountSshfs(runner, {
        port: options.sftpPort,
        user: options.user,
        keyFile: options.keyFile,
        knownHostsFile: options.knownHostsFile,
        mountPoint,
      });
      const result = await fn(mountPoint);
      succeeded = true;
      return result;
    });
  };

  /**
   * rsync runs with its working directory inside the mount and names the area's side relatively, so
   * if the mount vanished mid-copy it fails (ENOTCONN) instead of writing into the bare mount point.
   */
  const rsync = async (mnt: string, from: string, to: string, progress: TransferProgress | undefined, total: number | undefined) => {
    // setsid: rsync forks a receiver and a generator; its own process group lets all three be
    // stopped together (by the PID we started) before the unmount, which they would keep busy
    const child = runner.pipe(['setsid', 'rsync', '--times', '--whole-file', '--mkpath', '--info=progress2', '--outbuf=L', from, to], {
      cwd: mnt,
      hint: 'rsync could not copy the file through the sshfs mount',
    });
    copying = child;
    child.stdin?.end();
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      const done = parseRsyncProgress(text);
      if (done !== undefined) progress?.(done, total);
    });
    try {
      await child.done;
    } finally {
      if (copying === child) copying = undefined;
    }
  };

  /** Unlinks rsync temp entries an interrupted copy left beside `name` (Tahoe links them at open). */
  const removeTemps = async (dirCap: string, name: string) => {
    const { parent, base } = splitTargetName(name);
    try {
      for (const entry of await api.list(dirCap, parent)) {
        if (isRsyncTemp(entry.name, base)) await api.unlink(dirCap, parent ? `${parent}/${entry.name}` : entry.name);
      }
    } catch {
      // best effort: the directory may not exist, or the node may be gone
    }
  };

  const waitForLink = async (dirCap: string, name: string, size: number, before: Entry | undefined): Promise<string> => {
    const timeoutMs = options.settleTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await entryAt(api, dirCap, name);
      const isNew = now && (!before || now.cap !== before.cap || now.linkmotime !== before.linkmotime);
      if (now && isNew && now.size === size) return now.cap;
      if (Date.now() > deadline) {
        throw new VerifyError(
          `after the SFTP copy, the grid did not show ${name} with ${size} bytes within ${Math.round(timeoutMs / 1000)} s` +
            (now ? ` (it shows ${now.size ?? '?'} bytes${isNew ? '' : ', the previous file'})` : ' (it shows nothing)'),
        );
      }
      await sleep(250);
    }
  };

  return {
    kind: 'mount',

    async upload(source, dirCap, name, progress) {
      splitTargetName(name);
      checkArea(dirCap);
      let spool: string | undefined;
      try {
        let file: string;
        if (source instanceof Readable) {
          spool = mkdtempSync(path.join(options.spoolDir ?? os.tmpdir(), 'sysback-spool-'));
          file = path.join(spool, path.basename(name));
          await pipeline(source, createWriteStream(file, { mode: 0o600 }));
        } else {
          file = source.file;
        }
        const size = localSourceSize(file);
        const before = await entryAt(api, dirCap, name);
        await mounted(
          // --mkpath creates the parent directories (Tahoe SFTP mkdir makes real Tahoe directories)
          (mnt) => rsync(mnt, file, `./${name}`, progress, size),
          () => removeTemps(dirCap, name),
        );
        const cap = await waitForLink(dirCap, name, size, before);
        progress?.(size, size);
        return cap;
      } finally {
        if (spool) rmSync(spool, { recursive: true, force: true });
      }
    },

    async download(dirCap, name, localFile, progress) {
      splitTargetName(name);
      checkArea(dirCap);
      const entry = await entryAt(api, dirCap, name);
      if (!entry) throw new TahoeHttpError('download', 404, `no file ${name} in the area`);
      const temp = tempBeside(localFile);
      try {
        await mounted(async (mnt) => {
          await rsync(mnt, `./${name}`, temp, progress, entry.size);
        });
        await rename(temp, localFile);
      } catch (error) {
        rmSync(temp, { force: true });
        if (error instanceof SysbackError) throw error;
        throw new SysbackError(`downloading ${name} through the sshfs mount failed: ${(error as Error).message}`, { exitCode: EXIT.command });
      }
    },

    async close() {
      const mount = current;
      current = undefined;
      await mount?.unmount();
    },
  };
}
