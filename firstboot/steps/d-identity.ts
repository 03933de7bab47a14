// The "new" flow's step d) (the seed: "Create encrypted id file on the Public area"): the alias
// (refused when another router holds it) and the password (twice, checked by the password policy),
// the identity built from the private node's keys and the private area's cap, encrypted (Argon2id)
// and published in this router's own public directory, linked under the alias (grid/public-area.ts).
// A rerun reuses the router's own directory (its write cap is pending until the flow succeeds:
// steps/identity-dir.ts; the write cap then lives only inside the encrypted identity) and its alias.
// A rerun on a router that finished "new" before (configure run again, e.g. after switching the
// transport) holds only the read cap of the directory it published (the alias file's entry): an
// alias naming that directory is its own, so the rerun resumes: a fresh directory with the identity
// encrypted anew, and the alias moved from the old directory to it (never from anyone else's).
// Published means recoverable without this router's own storage server (backup/placement.ts), as a
// backup is: checked before anything is asked, repaired once while the flow still holds the write
// cap, else the alias unlinked, the directory let go and exit 11; the rerun starts over.
import type { Prompter } from '../../core/prompter.ts';
import { askNewPassword } from '../../core/prompter-new-password.ts';
import { assertIdentityServers, settleIdentityPlacement } from '../../backup/placement.ts';
import { ALIAS_PRIVATE, ALIAS_PUBLIC, nodeDir, ownNodeId, readAliases, readNodeKeys } from '../../grid/device-nodes.ts';
import type { DeviceContext } from '../../grid/device.ts';
import { buildIdentity, encryptIdentity } from '../../grid/identity.ts';
import { checkAlias, checkPassword } from '../../grid/password-policy.ts';
import { AliasTakenError, aliasState, identityDirOf, publishIdentity, publishRecoveredIdentity } from '../../grid/public-area.ts';
import type { TahoeClient } from '../../grid/tahoe-client.ts';
import { forgetPendingIdentityDir, makeFreshIdentityDir, pendingIdentityDir, savePendingIdentityDir } from './identity-dir.ts';

export interface PublishedIdentity {
  alias: string;
  /** the read cap of the router's own directory: what the recovery card prints */
  readCap: string;
}

export async function publishNewIdentity(ctx: DeviceContext, prompter: Prompter, publicApi: TahoeClient): Promise<PublishedIdentity> {
  const config = ctx.device.config();
  const ownServer = ownNodeId(ctx, 'private');
  // nothing is asked or written unless servers other than this router can hold the identity
  await assertIdentityServers(publicApi, ownServer, config.grid.shares.needed);
  const ownWriteCap = pendingIdentityDir(ctx);
  const own = ownWriteCap ? await identityDirOf(publicApi, ownWriteCap) : undefined;
  // the directory an earlier, finished "new" published (only its read cap is on disk)
  const published = publishedReadCap(ctx, own?.readCap);
  const ours = async (alias: string) => (published !== undefined && (await aliasState(publicApi, config.grid.publicDirectory, alias, published)) === 'ours');
  const alias = await prompter.line('Alias for this router (others see it in the public list)', {
    key: 'alias',
    validate: async (typed) => {
      const problem = checkAlias(typed);
      if (problem) return problem;
      const taken = (await aliasState(publicApi, config.grid.publicDirectory, typed, own?.readCap)) === 'taken' && !(await ours(typed));
      return taken ? `the alias "${typed}" is already taken; choose another` : undefined;
    },
  });
  const password = await askNewPassword(prompter, { validate: (typed) => checkPassword(typed, { alias, gridName: config.grid.name }) });
  const dir = own ?? (await makeFreshIdentityDir(ctx, publicApi));
  savePendingIdentityDir(ctx, dir.writeCap);
  const keys = readNodeKeys(nodeDir(ctx, 'private'));
  const identity = buildIdentity(
    {
      alias,
      grid: { introducers: config.grid.introducers, shares: config.grid.shares },
      private: { dircap: readAliases(ctx)[ALIAS_PRIVATE]!, convergence: keys.convergence, nodeKeys: keys.nodeKeys },
      public: { dircap: dir.writeCap },
    },
    ctx.clock.now(),
  );
  prompter.say('Encrypting the identity file (Argon2id, this takes a few seconds)...');
  const armored = await encryptIdentity(identity, password, { ...ctx.device.identityEncryption, gridName: config.grid.name });
  const retry = { onRetry: (message: string) => ctx.log.info(message) };
  let result: { readCap: string };
  if (published !== undefined && (await ours(alias))) {
    // the alias still names the directory this router published before: move it to the new one
    const moved = await publishRecoveredIdentity(publicApi, config.grid.publicDirectory, alias, armored, { newDirWriteCap: dir.writeCap, oldDirReadCap: published }, retry);
    if (moved.alias.outcome === 'taken') throw new AliasTakenError(alias);
    result = moved;
  } else {
    result = await publishIdentity(publicApi, config.grid.publicDirectory, alias, armored, dir.writeCap, retry);
  }
  // a recovery starts from this directory: it must survive the loss of this router (exit 11 if not)
  // when not even a repair helps, the alias and the directory are let go, so the rerun starts over
  // with a fresh directory (Tahoe keeps a mutable directory's shares where they are)
  await settleIdentityPlacement(ctx.log, publicApi, ownServer, dir.writeCap, async () => {
    if ((await aliasState(publicApi, config.grid.publicDirectory, alias, result.readCap)) === 'ours') await publicApi.unlink(config.grid.publicDirectory, alias);
    forgetPendingIdentityDir(ctx);
  });
  return { alias, readCap: result.readCap };
}

/** The read cap of the identity directory a finished flow published (the alias file's entry), when it is not `pending`'s. */
function publishedReadCap(ctx: DeviceContext, pending: string | undefined): string | undefined {
  const entry = readAliases(ctx)[ALIAS_PUBLIC];
  return entry && READ_CAP.test(entry) && entry !== pending ? entry : undefined;
}

const READ_CAP = /^URI:DIR2(-MDMF)?-RO:/;
