// The "new" flow: the seed's configuration script, in the seed's order (DESIGN §2 journey 4):
//   a) cron runs the periodic backup      b) private Tahoe node configured and started (once Tor is
//   ready)   c) public node configured and started   d) alias + password, encrypted identity file
//   published in the public area   e) first backup, verified   f) the recovery card   g) reboot.
// Contract: the state file is written only when every step succeeded, so an interrupted first boot
// asks again; a rerun resumes safely (nodes, areas and the alias made by an earlier attempt are
// reused, never duplicated; the cron line is replaced, not added); a failure says which step failed.
import { existsSync } from 'node:fs';
import os from 'node:os';
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Context } from '../core/context.ts';
import { readDeviceConfig, type DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE } from '../core/device-paths.ts';
import { SysbackError } from '../core/errors.ts';
import { askNewPassword, type Prompter } from '../core/prompter.ts';
import { configuredState, writeState } from '../core/state.ts';
import { runBackup } from '../backup/run-backup.ts';
import { SFTP_USER } from '../backup/open-transport.ts';
import {
  ALIAS_PRIVATE,
  ALIAS_PUBLIC,
  ensureDeviceNode,
  nodeDir,
  readAliases,
  readNodeKeys,
  startDeviceNode,
  stopDeviceNode,
  waitForHappy,
  writeAlias,
} from '../grid/device-nodes.ts';
import { buildIdentity, encryptIdentity } from '../grid/identity.ts';
import { checkAlias, checkPassword } from '../grid/password-policy.ts';
import { aliasState, identityDirOf, makeIdentityDir, publishIdentity, recoveryCard } from '../grid/public-area.ts';
import { enableSftpFrontend, sftpFiles } from '../grid/sftp-frontend.ts';
import type { TahoeWebApi } from '../grid/webapi.ts';
import { installCronEntry } from './cron-entry.ts';
import { provideFlows, type FlowOptions } from './flows.ts';
import { rebootStep } from './reboot.ts';
import { waitForTor } from './tor-ready.ts';

/** Runs one named step; a failure names the step and says a rerun resumes. */
export async function step<T>(ctx: Context, label: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await ctx.log.step(label, fn);
  } catch (error) {
    if (error instanceof SysbackError) {
      throw new SysbackError(`step "${label}" failed: ${error.message}`, {
        hint: `${error.hint ? `${error.hint}; ` : ''}nothing is lost: run sysback firstboot again to resume`,
        exitCode: error.exitCode,
        cause: error,
      });
    }
    throw error;
  }
}

/** Makes sure the area has its directory (made once, kept in the private node's alias file). */
async function ensureArea(ctx: Context, api: TahoeWebApi, name: string): Promise<string> {
  const existing = readAliases(ctx)[name];
  if (existing) return existing;
  const cap = await api.mkdir();
  writeAlias(ctx, name, cap);
  return cap;
}

/** The private node's SFTP frontend, rooted at the private area, for the mount transport. */
export async function ensurePrivateSftp(ctx: Context, config: DeviceConfig, privateCap: string): Promise<boolean> {
  const dir = nodeDir(ctx, 'private');
  if (existsSync(sftpFiles(dir).clientKey)) return false;
  await enableSftpFrontend(ctx.runner, dir, { port: config.tahoe.sftpPorts.private, user: SFTP_USER, rootCap: privateCap });
  return true;
}

export async function runConfigure(ctx: Context, prompter: Prompter, options: FlowOptions): Promise<void> {
  const config = readDeviceConfig(ctx);
  const nickname = os.hostname();

  await step(ctx, 'a) periodic backup in cron', () => installCronEntry(ctx, config.backup.intervalHours));

  await step(ctx, 'b) private Tahoe node', async () => {
    if (config.grid.listen === 'tor') await waitForTor(ctx, config);
    await ensureDeviceNode(ctx, config, 'private', nickname);
    let api = await startDeviceNode(ctx, config, 'private');
    await waitForHappy(ctx, config, api);
    const privateCap = await ensureArea(ctx, api, ALIAS_PRIVATE);
    if (config.transport === 'mount' && (await ensurePrivateSftp(ctx, config, privateCap))) {
      // Tahoe reads its SFTP accounts only at start
      await stopDeviceNode(ctx, 'private');
      api = await startDeviceNode(ctx, config, 'private');
      await waitForHappy(ctx, config, api);
    }
  });

  const publicApi = await step(ctx, 'c) public Tahoe node', async () => {
    await ensureDeviceNode(ctx, config, 'public', `${nickname}-public`);
    const api = await startDeviceNode(ctx, config, 'public');
    await waitForHappy(ctx, config, api);
    return api;
  });

  const { alias, readCap } = await step(ctx, 'd) identity file in the public area', async () => {
    const own = readAliases(ctx)[ALIAS_PUBLIC] ? await identityDirOf(publicApi, readAliases(ctx)[ALIAS_PUBLIC]!) : undefined;
    const alias = await prompter.line('Alias for this router (others see it in the public list)', {
      key: 'alias',
      validate: async (typed) => {
        const problem = checkAlias(typed);
        if (problem) return problem;
        const taken = await aliasState(publicApi, config.grid.publicDirectory, typed, own?.readCap);
        return taken === 'taken' ? `the alias "${typed}" is already taken; choose another` : undefined;
      },
    });
    const password = await askNewPassword(prompter, { validate: (typed) => checkPassword(typed, { alias }) });
    const dir = own ?? (await makeIdentityDir(publicApi));
    writeAlias(ctx, ALIAS_PUBLIC, dir.writeCap);
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
    const armored = await encryptIdentity(identity, password);
    const published = await publishIdentity(publicApi, config.grid.publicDirectory, alias, armored, dir.writeCap);
    return { alias, readCap: published.readCap };
  });

  const backup = await step(ctx, 'e) first backup, verified', () => runBackup(ctx, { skipLeases: true }));

  await step(ctx, 'f) recovery card', async () => {
    const card = recoveryCard(alias, readCap);
    await writeFileAtomic(ctx.path(DEVICE.recoveryCard), card, { mode: 0o600 });
    if (prompter.kind === 'console') {
      prompter.say(card);
      prompter.say(`This card is also saved in ${DEVICE.recoveryCard}. Keep a copy away from the router.`);
    } else {
      // a headless boot's transcript goes to the journal, which must never hold a cap
      prompter.say(`The recovery card is saved in ${DEVICE.recoveryCard} (not shown here: logs keep no caps). Print it.`);
    }
  });

  await writeState(ctx, configuredState({ mode: 'new', alias, now: ctx.clock.now(), lastGoodBackup: backup.latest }));
  await step(ctx, 'g) reboot', () => rebootStep(options.noReboot)(ctx, 'the router is configured'));
}

provideFlows({ configure: runConfigure });
