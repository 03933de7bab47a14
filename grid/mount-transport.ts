// The `mount` transport (DESIGN §4.2, the seed's way): the area is mounted from the node's Tahoe SFTP
// frontend with sshfs (grid/sshfs.ts), the file is copied in with rsync (grid/rsync.ts), the area is
// unmounted, and the result is checked through the web API (grid/sftp-settle.ts). It keeps the
// Transport contract of grid/transport.ts; this module only composes those parts.
//
// - The SFTP root is the account's root cap (the area's directory). `/uri/CAP` paths exist in the
//   protocol but sshfs cannot stat `/uri` ("Operation not permitted"), so this transport reaches only
//   the directory its account is rooted at: `dirCap` must be that `rootCap`.
// - Upload: what the grid shows at `name` is read before the copy, the area is mounted (at the same
//   time), rsync copies, the area is unmounted, then the web API is polled at short intervals until
//   `name` holds a newly linked file of the expected size; its cap is returned from there. A name
//   that does not exist yet (each generation's) is written in place (grid/rsync.ts `newFile`), and
//   unlinked again when the copy fails. A `{file}`
//   source is rsynced directly; a Readable source is first written to a temp file (the seed's way:
//   the archive is a file before it is copied), removed afterwards.
// - Download mounts the area and rsyncs the file out into a temp file beside `localFile`, renamed over
//   it when complete (the seed's way in recovery; the web API is used only to see that it exists).
// - Progress: the caller's callback gets cumulative bytes; the person sees plain progress lines
//   (core/progress.ts) through `say` (flows pass their log), and timings of mount, copy, unmount and
//   settle go to the debug log.
// Cleanup: the mount is undone in every exit path (core/signal-cleanup.ts: try/finally, plus
// SIGINT/SIGTERM/SIGHUP handlers while mounted): rsync's whole process group is stopped first, then
// the area is unmounted, then rsync placeholders an interrupted copy left are unlinked through the
// web API. Only a SIGKILL of the caller can leave a mount; the next mount clears a stale one.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SysbackError, UserError, EXIT } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import { createProgress, waitWithProgress, type Say } from '../core/progress.ts';
import type { Runner } from '../core/runner.ts';
import { withCleanup } from '../core/signal-cleanup.ts';
import { copyIntoMount, copyOutOfMount, type RsyncCopy } from './rsync.ts';
import { areaEntry, removeNewFile, removeRsyncTemps, waitForNewLink } from './sftp-settle.ts';
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
  /** timings of mount, copy, unmount and settle go to its debug level; progress lines to its info */
  log?: Log;
  /** where progress lines go (default: the log's info, else stderr) */
  say?: Say;
}

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2);

export function createMountTransport(options: MountTransportOptions): Transport {
  const { api, runner, mountPoint } = options;
  const debug = (message: string) => options.log?.debug(`mount transport: ${message}`);
  const say: Say | undefined = options.say ?? (options.log ? (line) => options.log!.info(line) : undefined);
  let current: SshfsMount | undefined;
  // the rsync copying right now, stopped first when a signal or a failure ends the mount
  let copying: RsyncCopy | undefined;

  const checkArea = (dirCap: string) => {
    if (dirCap !== options.rootCap) {
      throw new UserError(
        'the mount transport reaches only the area its SFTP account is rooted at',
        're-enable the SFTP frontend with this directory as the account root, or use the webapi transport',
      );
    }
  };

  const unmount = async () => {
    const mount = current;
    current = undefined;
    if (!mount) return;
    const started = performance.now();
    await mount.unmount();
    debug(`unmounted in ${seconds(started)} s`);
  };

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
      if (copy) await copy.stop();
      await unmount();
      if (!succeeded) await afterFailure?.();
    };
    return withCleanup(cleanup, async () => {
      const started = performance.now();
      current = await mountSshfs(runner, {
        port: options.sftpPort,
        user: options.user,
        keyFile: options.keyFile,
        knownHostsFile: options.knownHostsFile,
        mountPoint,
      });
      debug(`sshfs mounted in ${seconds(started)} s`);
      const result = await fn(mountPoint);
      succeeded = true;
      return result;
    });
  };

  /** Runs one rsync copy to its end, reporting bytes to the caller and to the person. */
  const copy = async (start: (onBytes: (bytes: number) => void) => RsyncCopy, label: string, total: number | undefined, progress: TransferProgress | undefined) => {
    const shown = createProgress({ label, total, say });
    let child: RsyncCopy | undefined;
    try {
      child = start((bytes) => {
        shown.update(bytes);
        progress?.(bytes, total);
      });
      copying = child;
      const result = await child.done;
      shown.done();
      debug(`rsync copied ${result.bytes} bytes in ${result.seconds.toFixed(2)} s`);
    } catch (error) {
      shown.abort();
      throw error;
    } finally {
      if (copying === child) copying = undefined;
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
        // what the grid shows now, read while the area is being mounted (before rsync renames over it)
        const beforeRead = areaEntry(api, dirCap, name);
        beforeRead.catch(() => undefined);
        let before: Awaited<typeof beforeRead>;
        // set once the grid was seen to hold nothing at `name`, right before the in-place copy starts
        let inPlace = false;
        await mounted(
          async (mnt) => {
            before = await beforeRead;
            // --mkpath creates the parent directories (Tahoe SFTP mkdir makes real Tahoe directories)
            inPlace = before === undefined;
            await copy((onBytes) => copyIntoMount(runner, { mountPoint: mnt, localFile: file, areaPath: name, newFile: inPlace, onBytes }), `copying ${name} into the area`, size, progress);
          },
          async () => {
            await removeRsyncTemps(api, dirCap, name);
            // a new name was written in place: what a failed copy left there is only ours
            if (inPlace) await removeNewFile(api, dirCap, name);
          },
        );
        const started = performance.now();
        const cap = await waitWithProgress(`waiting for the grid to show ${name}`, () =>
          waitForNewLink(api, dirCap, name, size, before, { timeoutMs: options.settleTimeoutMs }),
        { say });
        debug(`the web API showed the new file ${seconds(started)} s after the unmount`);
        progress?.(size, size);
        return cap;
      } finally {
        if (spool) rmSync(spool, { recursive: true, force: true });
      }
    },

    async download(dirCap, name, localFile, progress) {
      splitTargetName(name);
      checkArea(dirCap);
      const entry = await areaEntry(api, dirCap, name);
      if (!entry) throw new TahoeHttpError('download', 404, `no file ${name} in the area`);
      const temp = tempBeside(localFile);
      try {
        await mounted((mnt) =>
          copy((onBytes) => copyOutOfMount(runner, { mountPoint: mnt, areaPath: name, localFile: temp, onBytes }), `copying ${name} out of the area`, entry.size, progress),
        );
        await rename(temp, localFile);
      } catch (error) {
        rmSync(temp, { force: true });
        if (error instanceof SysbackError) throw error;
        throw new SysbackError(`downloading ${name} through the sshfs mount failed: ${(error as Error).message}`, { exitCode: EXIT.command });
      }
    },

    async close() {
      await unmount();
    },
  };
}
