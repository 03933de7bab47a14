// Filling a simulated router's disk for the fault campaign: the router's own layer is a small tmpfs
// (RouterOptions.diskMiB), and a filler file inside it takes all but LEAVE bytes of what is free.
// Contract: `fill` never throws for a full disk (it stops at ENOSPC); `unfill` removes the filler.
import { closeSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import type { SimulatedRouter } from './router.ts';

const FILLER = '/var/tmp/faults-filler';

export function freeBytes(router: SimulatedRouter): number {
  const fs = statfsSync(router.dir);
  return fs.bavail * fs.bsize;
}

/** Grows the filler until at most LEAVE bytes are free; returns the bytes free afterwards. */
export function fill(router: SimulatedRouter, leave: number): number {
  const fd = openSync(router.path(FILLER), 'a');
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  try {
    for (let free = freeBytes(router); free > leave; free = freeBytes(router)) {
      writeSync(fd, chunk, 0, Math.min(chunk.length, free - leave));
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return freeBytes(router);
}

export function unfill(router: SimulatedRouter): void {
  rmSync(router.path(FILLER), { force: true });
}
