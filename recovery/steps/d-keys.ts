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
import { existsSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { nodeDir, writeNodeKeys } from '../../grid/device-nodes.ts';
import type { DeviceContext } from '../../grid/device.ts';
import type { Identity } from '../../grid/identity.ts';

export async function installRecoveredKeys(ctx: DeviceContext, identity: Identity): Promise<void> {
  const { device } = ctx;
  const dir = nodeDir(ctx, 'private');
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
