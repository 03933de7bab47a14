// Where the router keeps what it knows of its own identity directory (the directory in the public
// area holding identity.asc, that its alias names). Contract (docs/security.md, "What a thief
// holds"): once a flow succeeded, the disk holds only the directory's READ cap (the private node's
// alias file, entry `sysback-public`: what lease renewal and the alias check need); the WRITE cap
// lives only inside the encrypted identity. While a flow has not succeeded, the write cap it made
// is kept in a pending file beside the alias file (the node directory is never backed up), so a
// rerun reuses the directory instead of making another; the flow's success removes it.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdirAwayFrom } from '../../backup/placement.ts';
import { ALIAS_PUBLIC, nodeDir, ownNodeId, readAliases, writeAlias } from '../../grid/device-nodes.ts';
import type { DeviceContext } from '../../grid/device.ts';
import { identityDirOf, type IdentityDir } from '../../grid/public-area.ts';
import type { TahoeClient } from '../../grid/tahoe-client.ts';
import type { Context } from '../../core/context.ts';

const WRITE_CAP = /^URI:DIR2:/;

function pendingFile(ctx: Pick<Context, 'path'>): string {
  return path.join(nodeDir(ctx, 'private'), 'private', 'identity-dir.pending');
}

/** The identity directory's write cap an unfinished flow made (or an older sysback left in the alias file). */
export function pendingIdentityDir(ctx: Pick<Context, 'path'>): string | undefined {
  const file = pendingFile(ctx);
  if (existsSync(file)) {
    const cap = readFileSync(file, 'utf8').trim();
    if (WRITE_CAP.test(cap)) return cap;
  }
  const legacy = readAliases(ctx)[ALIAS_PUBLIC];
  return legacy && WRITE_CAP.test(legacy) ? legacy : undefined;
}

/** Keeps `writeCap` until the flow succeeds (0600, in the private node's directory). */
export function savePendingIdentityDir(ctx: Pick<Context, 'path'>, writeCap: string): void {
  writeFileSync(pendingFile(ctx), `${writeCap}\n`, { mode: 0o600 });
}

/** The flow succeeded: the alias file names the directory by its read cap, no write cap stays on disk. */
export function settleIdentityDir(ctx: Pick<Context, 'path'>, readCap: string): void {
  writeAlias(ctx, ALIAS_PUBLIC, readCap);
  rmSync(pendingFile(ctx), { force: true });
}

/** A pending directory that cannot be used (its placement leans on this router): the rerun makes another. */
export function forgetPendingIdentityDir(ctx: Pick<Context, 'path'>): void {
  rmSync(pendingFile(ctx), { force: true });
}

/**
 * A fresh identity directory ("new" d, recovery g), its shares kept off this router's own storage
 * server where the grid allows it (backup/placement.ts `mkdirAwayFrom`), so that a recovery can read
 * it from any shares.needed of the other servers.
 */
export async function makeFreshIdentityDir(ctx: DeviceContext, api: TahoeClient): Promise<IdentityDir> {
  const made = await mkdirAwayFrom(api, ownNodeId(ctx, 'private'), ctx.device.config().grid.shares.total);
  if (made.tries > 1 || made.ownShares > 0) {
    ctx.log.info(`  identity directory: ${made.tries} made, the one kept has ${made.ownShares} share(s) on this router's own storage server`);
  }
  return identityDirOf(api, made.writeCap);
}
