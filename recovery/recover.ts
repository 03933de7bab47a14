// The "recover" flow: the seed's recover script, in the seed's order (DESIGN §2 journey 6):
//   a) public node up, aliases listed   b) the person picks theirs (or types a recovery card's read cap)
//   c) password (bounded retries)   d) decrypt: the private node's keys are back   e) private node
//   started with them, the private area reachable   f) generation chosen, free space checked, extracted
//   to the root safely (recovery/safe-extract.ts)   g) a fresh private directory with the old
//   generations linked in, identity re-published (one writer per mutable directory)   h) reboot.
// Contract: nothing under the root changes before the password is accepted and the archive verified;
// the old router's directory is never written; the state is written last, so an interrupted recovery
// asks again and a rerun resumes (the fresh directory made by an earlier attempt is reused).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Context } from '../core/context.ts';
import { readDeviceConfig, validateDeviceConfig, writeDeviceConfig, type DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE } from '../core/device-paths.ts';
import { CorruptError, EXIT, NoSpaceError, SysbackError, UnknownAliasError, UserError, WrongPasswordError } from '../core/errors.ts';
import type { Prompter } from '../core/prompter.ts';
import { configuredState, digestCap, writeState } from '../core/state.ts';
import { ARCHIVES_DIR, LATEST_NAME, MANIFEST_NAME, parseManifest, type Generation, type Manifest } from '../backup/manifest.ts';
import { openTransport } from '../backup/open-transport.ts';
import { installCronEntry } from '../firstboot/cron-entry.ts';
import { ensurePrivateSftp, step } from '../firstboot/configure.ts';
import { provideFlows, type FlowOptions } from '../firstboot/flows.ts';
import { rebootStep } from '../firstboot/reboot.ts';
import { waitForTor } from '../firstboot/tor-ready.ts';
import {
  ALIAS_PRIVATE,
  ALIAS_PUBLIC,
  ensureDeviceNode,
  nodeDir,
  readAliases,
  startDeviceNode,
  stopDeviceNode,
  waitForHappy,
  writeAlias,
  writeNodeKeys,
} from '../grid/device-nodes.ts';
import { decryptIdentity, encryptIdentity, type Identity } from '../grid/identity.ts';
import { fetchIdentity, fetchIdentityByCard, listAliases, publishIdentity } from '../grid/public-area.ts';
import type { TahoeWebApi } from '../grid/webapi.ts';
import { restoreArchive, type RestoreResult } from './safe-extract.ts';
import { describePlan } from './restore-plan.ts';

export const PASSWORD_ATTEMPTS = 3;
const CARD = /^URI:DIR2-RO:/;

export interface RecoverOptions extends FlowOptions {
  /** list what the restore would change and stop before writing anything under the root */
  dryRun?: boolean;
}

/** b) + c) + d): the identity of the router to recover, and the password that opened it. */
async function chooseIdentity(ctx: Context, prompter: Prompter, publicApi: TahoeWebApi, config: DeviceConfig, options: FlowOptions) {
  let armored: string;
  const card = options.answers?.recoveryCard;
  if (card) {
    armored = await fetchIdentityByCard(publicApi, card);
  } else {
    const aliases = await listAliases(publicApi, config.grid.publicDirectory);
    prompter.say(`${aliases.length} routers have published an identity on this grid.`);
    const chosen = await prompter.pick('Which router is yours? Type part of its alias (or paste your recovery card read cap)', aliases, {
      key: 'alias',
      accept: (typed) => CARD.test(typed.replace(/\s+/g, '')),
      // no published alias matched what was typed (or what the answers file says): exit 13, not 2
      onExhausted: (reason) =>
        options.answers?.alias
          ? new UnknownAliasError(options.answers.alias)
          : new SysbackError(`no published alias was chosen: ${reason}`, {
              hint: 'check the spelling, or type the read cap printed on your recovery card',
              exitCode: EXIT.unknownAlias,
            }),
    });
    armored = CARD.test(chosen.replace(/\s+/g, '')) ? await fetchIdentityByCard(publicApi, chosen) : await fetchIdentity(publicApi, config.grid.publicDirectory, chosen);
  }
  let identity: Identity | undefined;
  let password = '';
  let tries = 0;
  await prompter.secret('Password', {
    key: 'password',
    attempts: PASSWORD_ATTEMPTS,
    validate: async (typed) => {
      tries += 1;
      try {
        identity = await decryptIdentity(armored, typed);
        password = typed;
        return undefined;
      } catch (error) {
        if (error instanceof WrongPasswordError) return 'wrong password';
        throw error;
      }
    },
    // an answers file gives one password: say how many were really tried
    onExhausted: () => new WrongPasswordError(`wrong password, ${tries} ${tries === 1 ? 'time' : 'times'}; nothing was changed`),
  });
  return { identity: identity!, password };
}

/** The manifest of the old private area; a damaged one falls back to the archives listing. */
async function readOldManifest(ctx: Context, api: TahoeWebApi, dirCap: string): Promise<Manifest | undefined> {
  try {
    return parseManifest((await api.getBytes(dirCap, MANIFEST_NAME)).toString('utf8'));
  } catch (error) {
    ctx.log.warn(`the backup manifest cannot be used (${(error as Error).message}); using the archives listing`);
    return undefined;
  }
}

/** f) which generation: the answers' `generation`, or the person's choice, latest by default. */
async function chooseGeneration(ctx: Context, prompter: Prompter, api: TahoeWebApi, dirCap: string, manifest: Manifest | undefined, options: FlowOptions): Promise<Generation> {
  let generations: Generation[] = manifest?.generations ?? [];
  if (!manifest) {
    // without a manifest the allowed list is this image's own files.txt
    const patterns = readFileSync(ctx.path(DEVICE.filesList), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const listed = await api.list(dirCap, ARCHIVES_DIR).catch(() => []);
    generations = listed
      .filter((e) => /^SysBackup-\d{8}T\d{6}Z\.tar\.gz$/.test(e.name))
      .map((e) => ({ name: e.name, created: '', sha256: '', size: e.size ?? 0, entries: 0, host: '?', sysbackVersion: '?', patterns }))
      .sort((a, b) => b.name.localeCompare(a.name));
  }
  if (generations.length === 0) throw new CorruptError('this router has no backup in its private area', 'nothing to restore: choose "new" instead');
  const latest = generations[0]!;
  const wanted = options.answers?.generation;
  if (prompter.kind === 'scripted' && (wanted === undefined || wanted === 'latest')) return latest;
  if (prompter.kind === 'scripted') {
    const found = generations.find((g) => g.name === wanted || g.name === `SysBackup-${wanted}.tar.gz` || g.created.startsWith(wanted!));
    if (!found) throw new UserError(`no generation "${wanted}" in this router's backups`, `choose one of: ${generations.map((g) => g.name).join(', ')}`);
    return found;
  }
  prompter.say('Backups of this router (newest first):');
  generations.forEach((g, i) => prompter.say(`  ${i + 1}. ${g.created || g.name}  ${g.size} bytes${g.entries ? `, ${g.entries} entries` : ''}`));
  const answer = await prompter.line('Restore which one? (number, Enter for 1 = the latest)', {
    key: 'generation',
    default: '1',
    validate: (typed) => (/^\d+$/.test(typed) && Number(typed) >= 1 && Number(typed) <= generations.length ? undefined : `type a number from 1 to ${generations.length}`),
  });
  return generations[Number(answer) - 1]!;
}

/** The device keeps its own tahoe ports (they belong to this image); everything else comes back. */
async function mergeRestoredConfig(ctx: Context, own: DeviceConfig): Promise<void> {
  let restored: unknown;
  try {
    restored = JSON.parse(readFileSync(ctx.path(DEVICE.config), 'utf8'));
  } catch {
    await writeDeviceConfig(ctx, own);
    return;
  }
  const merged = validateDeviceConfig({ ...(restored as object), tahoe: own.tahoe });
  await writeDeviceConfig(ctx, merged.ok ? merged.value : own);
  if (!merged.ok) ctx.log.warn('the restored device config was not valid; this image\'s own config is kept');
}

export async function runRecover(ctx: Context, prompter: Prompter, options: RecoverOptions): Promise<void> {
  const config = readDeviceConfig(ctx);

  const publicApi = await step(ctx, 'a) public node, aliases listed', async () => {
    if (config.grid.listen === 'tor') await waitForTor(ctx, config);
    await ensureDeviceNode(ctx, config, 'public', 'recovering-public');
    const api = await startDeviceNode(ctx, config, 'public');
    await waitForHappy(ctx, config, api);
    return api;
  });

  const { identity, password } = await step(ctx, 'b) c) d) identity chosen and decrypted', () => chooseIdentity(ctx, prompter, publicApi, config, options));
  prompter.say(`Identity of "${identity.alias}" opened.`);

  const { privateApi, oldCap, newCap } = await step(ctx, 'e) private node with the recovered keys', async () => {
    const dir = nodeDir(ctx, 'private');
    const existingConvergence = existsSync(path.join(dir, 'private', 'convergence')) ? readFileSync(path.join(dir, 'private', 'convergence'), 'utf8').trim() : undefined;
    if (existingConvergence !== undefined && existingConvergence !== identity.private.convergence) {
      // this hardware was another router (or a half-made "new"): keep its node aside, never delete it
      await stopDeviceNode(ctx, 'private');
      const aside = `${dir}.replaced-${ctx.clock.now().toISOString().replace(/[-:.]/g, '')}`;
      renameSync(dir, aside);
      ctx.log.info(`the previous private node was moved to ${aside}`);
    }
    if ((await ensureDeviceNode(ctx, config, 'private', identity.alias)) === 'created') {
      writeNodeKeys(dir, { nodeKeys: identity.private.nodeKeys ?? {}, convergence: identity.private.convergence });
    }
    let api = await startDeviceNode(ctx, config, 'private');
    await waitForHappy(ctx, config, api);
    const oldCap = identity.private.dircap;
    // g) happens here, before any write to the root: the device gets its OWN new private directory
    // and links the old generations into it by cap, so the old directory is only ever read, and
    // (for the mount transport) one SFTP account rooted at the new directory reads them back.
    let newCap = readAliases(ctx)[ALIAS_PRIVATE];
    if (!newCap || newCap === oldCap) {
      newCap = await api.mkdir();
      writeAlias(ctx, ALIAS_PRIVATE, newCap);
    }
    for (const name of [LATEST_NAME, MANIFEST_NAME]) {
      const info = await api.info(oldCap, name);
      if (info) await api.link(newCap, name, info[1].ro_uri ?? info[1].rw_uri);
    }
    const archives = await api.list(oldCap, ARCHIVES_DIR).catch(() => []);
    if (archives.length) {
      await api.mkdirIn(newCap, ARCHIVES_DIR).catch(() => undefined);
      for (const entry of archives) await api.link(newCap, `${ARCHIVES_DIR}/${entry.name}`, entry.readCap);
    }
    if (config.transport === 'mount' && (await ensurePrivateSftp(ctx, config, newCap))) {
      await stopDeviceNode(ctx, 'private');
      api = await startDeviceNode(ctx, config, 'private');
      await waitForHappy(ctx, config, api);
    }
    return { privateApi: api, oldCap, newCap };
  });

  const manifest = await readOldManifest(ctx, privateApi, oldCap);
  const generation = await chooseGeneration(ctx, prompter, privateApi, oldCap, manifest, options);
  prompter.say(`Restoring ${generation.name} (${generation.size} bytes).`);

  const restore: RestoreResult = await step(ctx, 'f) backup restored to the root', async () => {
    const workDir = ctx.path(`${DEVICE.stateDir}/restore`);
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const archive = path.join(workDir, generation.name);
    const fs = await statfs(workDir);
    if (fs.bavail * fs.bsize < generation.size + 1024 * 1024) {
      throw new NoSpaceError(`${generation.size} bytes are needed to download the backup, ${fs.bavail * fs.bsize} are free`);
    }
    const transport = openTransport(ctx, config, config.transport, 'private', newCap);
    try {
      await transport.download(newCap, `${ARCHIVES_DIR}/${generation.name}`, archive);
    } finally {
      await transport.close();
    }
    if (generation.sha256) {
      // streamed: a backup may be hundreds of MB and must not sit in memory
      const hash = createHash('sha256');
      await pipeline(createReadStream(archive), hash);
      const got = hash.digest('hex');
      if (got !== generation.sha256) throw new CorruptError(`the downloaded backup does not match its manifest (sha256 ${got.slice(0, 12)}…)`);
    }
    try {
      const result = await restoreArchive({ root: ctx.root, source: archive, allowed: generation.patterns, dryRun: Boolean(options.dryRun), log: ctx.log, runner: ctx.runner });
      if (options.dryRun) for (const line of describePlan(result.plan)) process.stdout.write(`${line}\n`);
      return result;
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });
  if (options.dryRun) {
    prompter.say('Dry run: nothing under the root was changed.');
    return;
  }
  await mergeRestoredConfig(ctx, config);
  prompter.say(`${restore.applied} files and directories restored.`);

  await step(ctx, 'g) identity re-published for the new private directory', async () => {
    const republished: Identity = { ...identity, created: ctx.clock.now().toISOString(), private: { ...identity.private, dircap: newCap } };
    const armored = await encryptIdentity(republished, password);
    writeAlias(ctx, ALIAS_PUBLIC, identity.public.dircap);
    await publishIdentity(publicApi, config.grid.publicDirectory, identity.alias, armored, identity.public.dircap);
    await installCronEntry(ctx, readDeviceConfig(ctx).backup.intervalHours);
  });

  const latest = await privateApi.info(newCap, `${ARCHIVES_DIR}/${generation.name}`);
  await writeState(
    ctx,
    configuredState({
      mode: 'recover',
      alias: identity.alias,
      now: ctx.clock.now(),
      recovered: { generation: generation.name, time: ctx.clock.now().toISOString().replace(/\.\d+Z$/, 'Z') },
      ...(generation.sha256 && latest
        ? { lastGoodBackup: { time: generation.created.replace(/\.\d+Z$/, 'Z'), sha256: generation.sha256, size: generation.size, capDigest: digestCap(latest[1].ro_uri), generation: generation.name } }
        : {}),
    }),
  );
  await writeFileAtomic(ctx.path(`${DEVICE.stateDir}/recovered-from.txt`), `${identity.alias} ${generation.name}\n`, { mode: 0o600 });
  await step(ctx, 'h) reboot', () => rebootStep(options.noReboot)(ctx, `the router "${identity.alias}" is recovered`));
}

provideFlows({ recover: runRecover });
