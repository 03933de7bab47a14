// Owns seeing, through the web API, what a write through Tahoe's SFTP frontend really did. Tahoe
// commits an SFTP write after the handle is closed, and upload errors may not reach the SFTP client
// (Tahoe ticket #1059), so the mount's own listing is never trusted (DESIGN §4.2).
// Contract:
// - `areaEntry` reads `name` from its parent directory's listing (one web API request): the file's
//   cap, size and link time; the link time tells a newly linked file from the previous one even when
//   the bytes (and so the cap) are the same;
// - `waitForNewLink` polls until `name` holds a file of `size` bytes that differs from `before`, and
//   returns its cap; it polls at short, growing intervals (50 ms up to 500 ms), so it costs about the
//   time the grid takes and never a fixed sleep; past its bound it throws VerifyError saying what the
//   grid shows;
// - `removeNewFile` unlinks what a failed in-place copy to a new name left there; best effort;
// - `removeRsyncTemps` unlinks the `.NAME.XXXXXX` placeholders an interrupted rsync left (Tahoe links
//   a file at open); best effort, never throws.
import { setTimeout as sleep } from 'node:timers/promises';
import { VerifyError } from '../core/errors.ts';
import { isRsyncTemp } from './rsync.ts';
import { splitTargetName } from './webapi-transport.ts';
import { TahoeHttpError, type TahoeWebApi } from './webapi.ts';

export interface AreaEntry {
  cap: string;
  size: number | undefined;
  /** Tahoe's `linkmotime` of the link in the parent directory */
  linkmotime: number | undefined;
}

/** `name` as its parent directory lists it, or undefined when there is no file there. */
export async function areaEntry(api: TahoeWebApi, dirCap: string, name: string): Promise<AreaEntry | undefined> {
  const { parent, base } = splitTargetName(name);
  let listing;
  try {
    listing = await api.list(dirCap, parent);
  } catch (error) {
    if (error instanceof TahoeHttpError && (error.status === 404 || error.status === 400)) return undefined;
    throw error;
  }
  const entry = listing.find((e) => e.name === base);
  if (!entry || entry.type !== 'filenode') return undefined;
  return { cap: entry.cap, size: entry.size, linkmotime: entry.mtime };
}

/** The poll intervals: 50 ms, growing by half each time, at most 500 ms (pure). */
export function nextPollMs(previousMs: number | undefined): number {
  return previousMs === undefined ? 50 : Math.min(500, Math.round(previousMs * 1.5));
}

export interface WaitForLinkOptions {
  /** bound (default 120 s) */
  timeoutMs?: number;
  /** called after each look that did not find it yet, with what the grid shows */
  onWaiting?: (shows: AreaEntry | undefined) => void;
}

export async function waitForNewLink(
  api: TahoeWebApi,
  dirCap: string,
  name: string,
  size: number,
  before: AreaEntry | undefined,
  options: WaitForLinkOptions = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = performance.now() + timeoutMs;
  let interval: number | undefined;
  for (;;) {
    const now = await areaEntry(api, dirCap, name);
    const isNew = now !== undefined && (!before || now.cap !== before.cap || now.linkmotime !== before.linkmotime);
    if (now && isNew && now.size === size) return now.cap;
    if (performance.now() > deadline) {
      throw new VerifyError(
        `after the SFTP copy, the grid did not show ${name} with ${size} bytes within ${Math.round(timeoutMs / 1000)} s` +
          (now ? ` (it shows ${now.size ?? '?'} bytes${isNew ? '' : ', the previous file'})` : ' (it shows nothing)'),
      );
    }
    options.onWaiting?.(now);
    interval = nextPollMs(interval);
    await sleep(interval);
  }
}

/** Unlinks `name`, which a failed in-place copy to a new name left (partial, or Tahoe's placeholder). Best effort. */
export async function removeNewFile(api: TahoeWebApi, dirCap: string, name: string): Promise<void> {
  await api.unlink(dirCap, name).catch(() => undefined);
}

/** Unlinks rsync temp entries an interrupted copy left beside `name`. */
export async function removeRsyncTemps(api: TahoeWebApi, dirCap: string, name: string): Promise<void> {
  const { parent, base } = splitTargetName(name);
  try {
    for (const entry of await api.list(dirCap, parent)) {
      if (isRsyncTemp(entry.name, base)) await api.unlink(dirCap, parent ? `${parent}/${entry.name}` : entry.name);
    }
  } catch {
    // best effort: the directory may not exist, or the node may be gone
  }
}
