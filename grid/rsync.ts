// Owns the rsync adapter of the `mount` transport (DESIGN §4.2, the seed's way): copying one file
// into, or out of, an area mounted with sshfs from Tahoe's SFTP frontend. Domain operations, not argv:
// `copyIntoMount` and `copyOutOfMount` start the copy and hand back a running `RsyncCopy` whose `done`
// settles with a typed result (or a CommandError from core/runner.ts, the one process gateway) and
// whose `stop()` ends rsync's whole process group.
// Contract, from what Tahoe 1.20's SFTP server supports:
// - every file written is an immutable file uploaded when its handle is closed, and changing a size
//   (ftruncate, `--inplace` on an existing file) is FX_OP_UNSUPPORTED; so rsync runs in its default
//   mode (write `.NAME.XXXXXX`, then rename over NAME: Tahoe offers posix-rename@openssh.com) when
//   NAME exists, and with `--inplace` when it does not (`newFile`: nothing to truncate or replace, so
//   the file is written once under its own name: no temp file, no rename waiting for Tahoe to upload
//   the temp file first; measured about half the copy's time; the caller unlinks NAME if the copy
//   fails); always `--whole-file` (no delta reads of the old file), `--mkpath` (parents become Tahoe
//   directories) and `--ignore-times`: rsync's quick check takes a file of the same size whose time
//   falls in the same second as the one in the area (Tahoe reports the link's time, rsync compares
//   whole seconds) for up to date and copies nothing, so an upload of same-sized bytes right after
//   the last would never be linked (CI: "did not show over-mount.bin … the previous file"); an
//   upload always writes, as the web API's does;
//   no -p/-o/-g (Tahoe keeps no owners, and a read-only mode would make the next backup's link
//   `no-write`), and no `--times` into the area: setting a time there is one more write of the
//   mutable directory (SFTP setstat is `set_metadata_for`), and the link's own `linkmotime` already
//   says when it was written; copies out of the area keep the times (`--times`, local and cheap);
// - rsync runs with its working directory inside the mount and names the area's side relatively, so a
//   mount that vanishes mid-copy fails the copy (ENOTCONN) instead of filling the bare mount point;
// - it runs under `setsid`, so rsync and the receiver and generator it forks form one process group
//   that `stop()` ends together (by the PID we started) before the mount is undone;
// - progress (`--info=progress2`) reaches `onBytes` as cumulative bytes.
import { stopProcessGroup } from '../core/process-group.ts';
import type { Runner } from '../core/runner.ts';

export interface RsyncResult {
  /** bytes rsync reported as transferred (its last progress figure; 0 when it reported none) */
  bytes: number;
  /** wall time of the copy */
  seconds: number;
}

export interface RsyncCopy {
  readonly pid: number | undefined;
  /** settles when rsync exits; rejects with CommandError when it fails */
  readonly done: Promise<RsyncResult>;
  /** stops rsync and every process of its group (TERM, then KILL), then waits for `done` to settle */
  stop(): Promise<void>;
}

export interface CopyIntoMountOptions {
  /** where the area is mounted */
  mountPoint: string;
  /** the local file to copy */
  localFile: string;
  /** its path in the area, relative (`archives/SysBackup-….tar.gz`); parents are made as needed */
  areaPath: string;
  /** nothing is at `areaPath` yet: written in place (`--inplace`), no temp file and rename */
  newFile?: boolean;
  onBytes?: (bytes: number) => void;
}

export interface CopyOutOfMountOptions {
  mountPoint: string;
  /** the file's path in the area, relative */
  areaPath: string;
  /** where the copy goes (absolute) */
  localFile: string;
  onBytes?: (bytes: number) => void;
}

/** The rsync argv (pure): `from` and `to` as rsync takes them, the area's side relative to the mount. */
export function rsyncArgv(from: string, to: string, options: { times: boolean; inplace?: boolean }): string[] {
  return ['setsid', 'rsync', ...(options.times ? ['--times'] : []), ...(options.inplace ? ['--inplace'] : []), '--ignore-times', '--whole-file', '--mkpath', '--info=progress2', '--outbuf=L', from, to];
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

function areaRelative(areaPath: string): string {
  if (areaPath.startsWith('/') || areaPath.split('/').includes('..')) throw new Error(`rsync: ${areaPath} is not a relative area path`);
  return `./${areaPath}`;
}

function startCopy(runner: Runner, mountPoint: string, argv: string[], onBytes?: (bytes: number) => void): RsyncCopy {
  const started = performance.now();
  const child = runner.pipe(argv, {
    cwd: mountPoint,
    hint: 'rsync could not copy the file through the sshfs mount',
  });
  child.stdin?.end();
  let bytes = 0;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    const done = parseRsyncProgress(text);
    if (done === undefined) return;
    bytes = done;
    onBytes?.(done);
  });
  const done = child.done.then(() => ({ bytes, seconds: (performance.now() - started) / 1000 }));
  // a failure is the caller's to see through `done`; this only keeps a stopped copy from being unhandled
  done.catch(() => undefined);
  return {
    pid: child.pid,
    done,
    async stop() {
      if (child.pid) await stopProcessGroup(child.pid);
      else child.kill('SIGKILL');
      await child.done.catch(() => undefined);
    },
  };
}

/** Copies a local file into the mounted area at `areaPath`. */
export function copyIntoMount(runner: Runner, options: CopyIntoMountOptions): RsyncCopy {
  return startCopy(runner, options.mountPoint, rsyncArgv(options.localFile, areaRelative(options.areaPath), { times: false, inplace: options.newFile === true }), options.onBytes);
}

/** Copies the file at `areaPath` of the mounted area to a local file. */
export function copyOutOfMount(runner: Runner, options: CopyOutOfMountOptions): RsyncCopy {
  return startCopy(runner, options.mountPoint, rsyncArgv(areaRelative(options.areaPath), options.localFile, { times: true }), options.onBytes);
}
