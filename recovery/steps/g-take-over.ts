// The "recover" flow's step g) (the seed: "Reboot"), which sysback opens by making the restored
// router the one writer of everything it uses (docs/security.md, "the stolen-router threat model"):
// a FRESH identity directory (the stolen router holds the old one's write cap), its write cap put
// only inside the identity, which is re-encrypted with the same password, now naming the new private
// directory (step e) and the fresh identity directory, published there, and the alias moved from the
// old directory to the fresh one; like a backup, the fresh directory and its identity file must be
// recoverable without this router's own storage server (exit 11 otherwise, a rerun resumes). An alias someone else holds now (vandalism) is reported, and the
// recovery completes anyway: the new recovery card, printed on a console and saved 0600, is the way
// in. Then the periodic backup's cron line (replaced in place: a restored crontab that already has it
// stays byte-equal), the state (last, so an interrupted recovery asks again; a rerun reuses the
// fresh directory it made), no identity write cap left on disk, the answers' secret removed, reboot.
import { writeFileAtomic } from '../../core/atomic-write.ts';
import { removeAnswersSecret } from '../../core/config/answers.ts';
import { readDeviceConfig } from '../../core/config/device-config.ts';
import { DEVICE } from '../../core/device-paths.ts';
import type { Prompter } from '../../core/prompter.ts';
import { configuredState, digestCap, writeState } from '../../core/state.ts';
import { ARCHIVES_DIR, type Generation } from '../../backup/manifest.ts';
import { assertIdentityServers, settleIdentityPlacement } from '../../backup/placement.ts';
import { showCardAtNextLogin } from '../../firstboot/card-at-login.ts';
import { installCronEntry } from '../../firstboot/cron-entry.ts';
import type { FlowOptions } from '../../firstboot/flows.ts';
import { rebootStep } from '../../firstboot/reboot.ts';
import { makeFreshIdentityDir, pendingIdentityDir, savePendingIdentityDir, settleIdentityDir } from '../../firstboot/steps/identity-dir.ts';
import type { DeviceContext } from '../../grid/device.ts';
import { ownNodeId } from '../../grid/device-nodes.ts';
import { encryptIdentity, type Identity } from '../../grid/identity.ts';
import { identityDirOf, publishRecoveredIdentity, recoveryCard } from '../../grid/public-area.ts';
import type { TahoeClient } from '../../grid/tahoe-client.ts';
import type { PrivateArea } from './e-private-area.ts';

export async function takeOverAndReboot(
  ctx: DeviceContext,
  prompter: Prompter,
  opened: { identity: Identity; password: string },
  publicApi: TahoeClient,
  area: PrivateArea,
  generation: Generation,
  options: Pick<FlowOptions, 'noReboot' | 'answers' | 'answersFile'>,
): Promise<void> {
  const { identity, password } = opened;
  const config = ctx.device.config();
  // after a web API restore the private node, with the recovered keys, has not run yet: it starts
  // now (its unit enabled on a booted router), beside the re-publishing below (Argon2id, the public
  // node's writes), and must be up before the state is written
  const privateNode = area.privateNodeStarted ? undefined : ctx.device.nodes.start('private');
  privateNode?.catch(() => undefined); // awaited before the state
  await assertIdentityServers(publicApi, ownNodeId(ctx, 'private'), config.grid.shares.needed);
  const old = await identityDirOf(publicApi, identity.public.dircap);
  const pending = pendingIdentityDir(ctx);
  const fresh = pending && pending !== identity.public.dircap ? await identityDirOf(publicApi, pending) : await makeFreshIdentityDir(ctx, publicApi);
  savePendingIdentityDir(ctx, fresh.writeCap);
  const republished: Identity = {
    ...identity,
    created: ctx.clock.now().toISOString(),
    private: { ...identity.private, dircap: area.newCap },
    public: { ...identity.public, dircap: fresh.writeCap },
  };
  const armored = await encryptIdentity(republished, password, { ...ctx.device.identityEncryption, gridName: config.grid.name, reusedPassword: true });
  const published = await publishRecoveredIdentity(
    publicApi,
    config.grid.publicDirectory,
    identity.alias,
    armored,
    { newDirWriteCap: fresh.writeCap, oldDirReadCap: old.readCap },
    { onRetry: (message) => ctx.log.info(message) },
  );
  // the next recovery starts from the fresh directory: it must survive the loss of this router
  await settleIdentityPlacement(ctx.log, publicApi, ownNodeId(ctx, 'private'), fresh.writeCap);
  if (published.alias.message) {
    ctx.log.warn(published.alias.message);
    prompter.say(published.alias.message);
  }

  const card = recoveryCard(identity.alias, published.readCap);
  await writeFileAtomic(ctx.path(DEVICE.recoveryCard), card, { mode: 0o600 });
  if (prompter.kind === 'console') {
    prompter.say('This router has a new identity directory: the old recovery card no longer opens it. The NEW card:');
    prompter.say(card);
    prompter.say(`This card is also saved in ${DEVICE.recoveryCard}. Keep a copy away from the router; destroy the old one.`);
    await showCardAtNextLogin(ctx, prompter);
  } else {
    // a headless boot's transcript goes to the journal, which must never hold a cap
    prompter.say(`A NEW recovery card is saved in ${DEVICE.recoveryCard} (not shown here: logs keep no caps); the old one no longer works. Print it.`);
  }

  await installCronEntry(ctx, readDeviceConfig(ctx).backup.intervalHours);

  await privateNode;
  const latest = await area.api.info(area.newCap, `${ARCHIVES_DIR}/${generation.name}`);
  await writeState(
    ctx,
    configuredState({
      mode: 'recover',
      alias: identity.alias,
      now: ctx.clock.now(),
      recovered: { generation: generation.name, time: ctx.clock.now().toISOString().replace(/\.\d+Z$/, 'Z') },
      ...(generation.sha256 && latest
        ? { lastGoodBackup: { time: generation.created.replace(/\.\d+Z$/, 'Z'), sha256: generation.sha256, size: generation.size, capDigest: digestCap(latest.readCap), generation: generation.name } }
        : {}),
    }),
  );
  settleIdentityDir(ctx, published.readCap);
  await writeFileAtomic(ctx.path(`${DEVICE.stateDir}/recovered-from.txt`), `${identity.alias} ${generation.name}\n`, { mode: 0o600 });
  for (const line of await removeAnswersSecret(ctx, options.answersFile, options.answers)) ctx.log.info(line);
  await rebootStep(options.noReboot)(ctx, `the router "${identity.alias}" is recovered`);
}
