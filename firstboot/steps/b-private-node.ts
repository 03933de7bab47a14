// The "new" flow's step b) (the seed: "Configure a new Private Tahoe node and start it", once Tor is
// ready): the private node made with the tahoe CLI and started, shares.happy servers awaited, the
// private area's directory made once (kept in the node's alias file, so a rerun reuses it), and for
// the mount transport the node's SFTP frontend rooted at that directory (Tahoe reads its SFTP
// accounts only at start: the node restarts once when it is added). Making a new directory right
// after the node connected can fail for the moment (HTTP 500/410 while servers are still being
// reached); a new, unlinked directory is safe to make again, so it is tried a few times.
import { ALIAS_PRIVATE, readAliases, writeAlias } from '../../grid/device-nodes.ts';
import type { DeviceContext } from '../../grid/device.ts';
import { isPassingGridError, type TahoeClient } from '../../grid/tahoe-client.ts';
import { waitForTor } from '../../grid/tor-ready.ts';

/** The area's directory, made once and kept in the private node's alias file. */
export async function ensureArea(ctx: DeviceContext, api: TahoeClient, name: string): Promise<string> {
  const existing = readAliases(ctx)[name];
  if (existing) return existing;
  const cap = await mkdirRetried(ctx, api);
  writeAlias(ctx, name, cap);
  return cap;
}

const MKDIR_TRIES = 4;

async function mkdirRetried(ctx: DeviceContext, api: TahoeClient): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.mkdir();
    } catch (error) {
      if (!isPassingGridError(error) || attempt >= MKDIR_TRIES) throw error;
      ctx.log.info(`  making the private area's directory failed for the moment (${error.message}); again (try ${attempt + 1} of ${MKDIR_TRIES})`);
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

export async function startPrivateNode(ctx: DeviceContext, nickname: string): Promise<void> {
  const { device } = ctx;
  const config = device.config();
  if (config.grid.listen === 'tor') await waitForTor(ctx, config);
  await device.nodes.ensure('private', nickname);
  let api = await device.nodes.start('private');
  await device.nodes.waitForHappy(api);
  const privateCap = await ensureArea(ctx, api, ALIAS_PRIVATE);
  if (config.transport === 'mount' && (await device.nodes.enableSftp('private', privateCap))) {
    await device.nodes.stop('private');
    api = await device.nodes.start('private');
    await device.nodes.waitForHappy(api);
  }
}
