// One real local grid shared by every test file that can share it (DESIGN §6: "share one grid across
// the tests that can share it"). `npm test` (scripts/test.ts) starts it once and passes its directory
// in SYSBACK_TEST_GRID; a test file run on its own (npx ava FILE) starts a private one and stops it
// when the file is done. Tests that stop nodes make their own grid instead.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContext } from '../../core/context.ts';
import { createLog } from '../../core/log.ts';
import type { GridConfig } from '../../core/config/grid-config.ts';
import { gatewayApi, initGrid, readGridJson, stopGrid } from '../../grid/local-grid.ts';
import type { TahoeWebApi } from '../../grid/webapi.ts';
import { targetRootfs } from './target.ts';

export interface TestGrid {
  dir: string;
  grid: GridConfig;
  api: TahoeWebApi;
  /** stops and removes the grid when this process made it; a no-op for the shared one */
  release(): Promise<void>;
}

/**
 * `onDir`: told the grid's directory before any node starts, so that a caller stopped by a signal
 * meanwhile can stop what was started (`stopPartialGrid`).
 */
export async function makeGrid(options: { storage?: number; prefix?: string; onDir?: (dir: string) => void } = {}): Promise<TestGrid> {
  process.env.SYSBACK_ROOTFS ??= await targetRootfs();
  const parent = mkdtempSync(path.join(os.tmpdir(), options.prefix ?? 'sysback-grid-'));
  const dir = path.join(parent, 'grid');
  options.onDir?.(dir);
  const ctx = createContext({ log: createLog({ level: 'warn' }) });
  try {
    const { grid } = await initGrid(ctx, dir, {
      storage: options.storage ?? 3,
      introducers: 2,
      listen: 'tcp',
      transport: 'webapi',
      name: 'test',
      timeoutMs: 120_000,
      targetRootfs: () => targetRootfs(),
    });
    return {
      dir,
      grid,
      api: gatewayApi(dir),
      async release() {
        await stopGrid(dir).catch(() => {});
        rmSync(parent, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(parent, { recursive: true, force: true });
    throw error;
  }
}

/** Stops the nodes a makeGrid interrupted by a signal had started (by their PID files) and removes its directory. */
export async function stopPartialGrid(dir: string): Promise<void> {
  await stopGrid(dir).catch(() => {});
  rmSync(path.dirname(dir), { recursive: true, force: true });
}

export async function sharedGrid(): Promise<TestGrid> {
  const dir = process.env.SYSBACK_TEST_GRID;
  if (dir) return { dir, grid: readGridJson(dir), api: gatewayApi(dir), release: async () => {} };
  return makeGrid({ prefix: 'sysback-private-grid-' });
}
