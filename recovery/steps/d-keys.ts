// The "recover" flow's step d) (the seed: "decrypt the selected file and get the required keys to
// access Tahoe Private area"): the decrypted identity's convergence secret goes into a freshly created
// private node, before its first start; reading the old private area needs only its dircap. The node
// keeps the fresh node keys `tahoe create-node` made (server id, TLS certificate, lease secret, onion
// key) and never takes the lost node's, even when an older identity carries them: the thief holding
// the lost router holds those keys too, and a node that took them announced the lost node's server id
// with an announcement count starting at 1 again, below the lost node's, so the grid ignored its
// storage (found by backup-storage-down.test.ts, "recovered-storage-ignored"). Same convergence
// secret, so an unchanged archive uploads to the same cap. A private node already on this hardware
// with another convergence secret (another router, or a half-made "new") is stopped and moved aside,
// never deleted; a rerun finds its own node and keeps it.
// The fresh node's directory may be made ahead (prepareBlankPrivateNode, while step a) starts the
// public node: `tahoe create-node` costs a Python start-up): only where no private node exists, and
// never started before the keys are in; d) then puts the keys and the alias (its nickname) in. A
// recovery that ends before d) removes the directory it prepared (discardBlankPrivateNode).
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { nodeDir, writeNodeKeys } from '../../grid/device-nodes.ts';
import type { DeviceContext } from '../../grid/device.ts';
import type { Identity } from '../../grid/identity.ts';
import { editCfg } from '../../grid/tahoe-cfg.ts';

/** The nickname of a private node made before the identity was opened; replaced by the alias in d). */
const BLANK_NICKNAME = 'recovering-private';

/** A private node directory made ahead of step d), without keys, never started. */
export interface BlankPrivateNode {
  ready: Promise<void>;
}

/** Starts making the private node's directory now, unless one exists; undefined when there is nothing to prepare. */
export function prepareBlankPrivateNode(ctx: DeviceContext): BlankPrivateNode | undefined {
  if (existsSync(path.join(nodeDir(ctx, 'private'), 'tahoe.cfg'))) return undefined;
  const ready = ctx.device.nodes.ensure('private', BLANK_NICKNAME).then(() => undefined);
  ready.catch(() => undefined); // awaited by d), or by discardBlankPrivateNode
  return { ready };
}

/** Removes a prepared private node that d) never used (the recovery ended before it). */
export async function discardBlankPrivateNode(ctx: DeviceContext, blank: BlankPrivateNode | undefined): Promise<void> {
  if (!blank) return;
  await blank.ready.catch(() => undefined);
  rmSync(nodeDir(ctx, 'private'), { recursive: true, force: true });
}

export async function installRecoveredKeys(ctx: DeviceContext, identity: Identity, blank?: BlankPrivateNode): Promise<void> {
  const { device } = ctx;
  const dir = nodeDir(ctx, 'private');
  if (blank) {
    // made by this run, never started: only the keys and the name are missing
    await blank.ready;
    writeNodeKeys(dir, { convergence: identity.private.convergence });
    editCfg(dir, [['node', 'nickname', identity.alias]]);
    return;
  }
  const convergenceFile = path.join(dir, 'private', 'convergence');
  const existing = existsSync(convergenceFile) ? readFileSync(convergenceFile, 'utf8').trim() : undefined;
  if (existing !== undefined && existing !== identity.private.convergence) {
    await device.nodes.stop('private');
    const aside = `${dir}.replaced-${ctx.clock.now().toISOString().replace(/[-:.]/g, '')}`;
    renameSync(dir, aside);
    ctx.log.info(`the previous private node was moved to ${aside}`);
  }
  if ((await device.nodes.ensure('private', identity.alias)) === 'created') {
    writeNodeKeys(dir, { convergence: identity.private.convergence });
  }
}
