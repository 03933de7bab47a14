// Owns the router's two Tahoe nodes (DESIGN §4.1): the private node (client for the private area and
// storage server offering space to the grid) and the public node (client only: publish and list
// identity files). Contract: nodes are made with the tahoe CLI from the device config, idempotently
// (an existing node keeps its keys; only its introducer list is refreshed); they run under systemd
// (sysback-tahoe@AREA.service) on a booted device, or directly by PID where no systemd runs (a
// chroot, a test, `--root` on a laptop); nothing is uploaded before shares.happy servers are connected.
// The private node's `private/aliases` (Tahoe's own alias file, mode 0600) keeps the area caps, so
// `tahoe ls sysback-private:` works by hand and no cap sits in sysback's own state.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import type { DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE, type Area } from '../core/device-paths.ts';
import { CorruptError, NotConfiguredError } from '../core/errors.ts';
import { waitWithProgress } from '../core/progress.ts';
import { editCfg, writeIntroducers } from './tahoe-cfg.ts';
import { createNode, protocolEdits, runningPid, startNode, stopNode, waitUntilAnswering, type NodeSpec } from './tahoe-node.ts';
import { hostTahoe } from './tahoe-program.ts';
import type { TahoeClient } from './tahoe-client.ts';
import { TahoeWebApi } from './webapi.ts';

export const AREAS: readonly Area[] = ['private', 'public'];

export function nodeDir(ctx: Pick<Context, 'path'>, area: Area): string {
  return ctx.path(DEVICE.tahoe(area));
}

export function nodeApi(config: DeviceConfig, area: Area): TahoeWebApi {
  return new TahoeWebApi(config.tahoe.webPorts[area]);
}

/** The node spec for an area (pure). */
export function deviceNodeSpec(dir: string, config: DeviceConfig, area: Area, nickname: string): NodeSpec {
  const grid = config.grid;
  const tor = grid.tor ? { controlPort: grid.tor.controlPort, socksPort: grid.tor.socksPort } : undefined;
  const base = {
    dir,
    nickname,
    webPort: config.tahoe.webPorts[area],
    shares: grid.shares,
    introducers: grid.introducers,
    // over Tor the router speaks Foolscap to storage servers: Tahoe's HTTP storage client does not
    // connect over Tor on a slow CPU (grid/tahoe-node.ts NodeSpec.foolscapOnly)
    ...(tor ? { tor, foolscapOnly: true } : {}),
  };
  if (area === 'public') return { ...base, role: 'client', listen: { kind: 'none' } };
  return {
    ...base,
    role: 'storage',
    listen: grid.listen === 'tor' ? { kind: 'tor' } : { kind: 'tcp', port: config.tahoe.tubPort },
    reservedSpace: config.tahoe.reservedSpace,
    ...(config.tahoe.offerStorage ? {} : { storage: false }),
  };
}

/** Creates the area's node unless it exists; refreshes its introducers either way. */
export async function ensureDeviceNode(ctx: Context, config: DeviceConfig, area: Area, nickname: string): Promise<'created' | 'existing'> {
  const dir = nodeDir(ctx, area);
  if (existsSync(path.join(dir, 'tahoe.cfg'))) {
    writeIntroducers(dir, config.grid.introducers);
    // a node an older sysback made gets the storage protocol settings too (nothing else changes)
    const edits = protocolEdits(deviceNodeSpec(dir, config, area, nickname));
    if (edits.length) editCfg(dir, edits);
    return 'existing';
  }
  mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  await createNode(ctx.runner, hostTahoe(), deviceNodeSpec(dir, config, area, nickname));
  return 'created';
}

/** True on a booted device whose systemd runs the nodes. */
function systemdManaged(ctx: Context): boolean {
  return ctx.root === '/' && existsSync('/run/systemd/system') && existsSync('/etc/systemd/system/sysback-tahoe@.service');
}

export async function startDeviceNode(ctx: Context, config: DeviceConfig, area: Area): Promise<TahoeWebApi> {
  const dir = nodeDir(ctx, area);
  if (!existsSync(path.join(dir, 'tahoe.cfg'))) {
    throw new NotConfiguredError(`the ${area} Tahoe node does not exist yet`, 'run sysback firstboot first');
  }
  const api = nodeApi(config, area);
  if (systemdManaged(ctx)) {
    await ctx.runner.run(['systemctl', 'enable', '--now', `sysback-tahoe@${area}.service`]);
    await api.waitUntilUp(60_000);
  } else {
    await startNode(ctx.runner, hostTahoe(), dir);
    await waitUntilAnswering(dir, () => api.isUp(), 60_000);
  }
  return api;
}

export async function stopDeviceNode(ctx: Context, area: Area): Promise<boolean> {
  if (systemdManaged(ctx)) {
    await ctx.runner.run(['systemctl', 'stop', `sysback-tahoe@${area}.service`], { reject: false });
    return true;
  }
  return stopNode(nodeDir(ctx, area));
}

export async function deviceNodeRunning(ctx: Context, area: Area): Promise<boolean> {
  if (systemdManaged(ctx)) {
    const result = await ctx.runner.run(['systemctl', 'is-active', '--quiet', `sysback-tahoe@${area}.service`], { reject: false });
    return result.exitCode === 0;
  }
  return runningPid(nodeDir(ctx, area)) !== undefined;
}

/**
 * Waits for shares.happy storage servers, and for shares.needed of them other than this router's own
 * (what a placement that survives the router's loss needs: over Tor the grid's servers appear one by
 * one, and the router's own server is often the first), logging how many are connected; bounded by
 * the config.
 */
export async function waitForHappy(ctx: Pick<Context, 'log' | 'path'>, config: DeviceConfig, api: TahoeClient): Promise<number> {
  const { happy, needed } = config.grid.shares;
  const seconds = config.tahoe.serverWaitSeconds;
  const ownId = ownNodeId(ctx, 'private');
  return waitWithProgress('storage servers connected', (report) =>
    api.waitForServers(happy, seconds * 1000, (connected, others) =>
      report(`${connected} of the ${happy} needed${connected !== others ? `, ${others} of them other than this router (${needed} needed)` : ''} (trying for up to ${seconds} s)`), { ownId, needed }),
  { say: (line) => ctx.log.info(`  ${line}`) });
}

/**
 * The node id of an area's node as the welcome page and check results name storage servers
 * (`v0-…`, Tahoe's `get_long_nodeid()`): its `node.pubkey` without the `pub-` prefix. Tahoe's
 * `my_nodeid` file holds the foolscap tub id, which names no server there; it is read only when no
 * `node.pubkey` exists (the unit tests' memory nodes). How a backup tells the router's own storage
 * server from the grid's. Undefined when the node has written neither yet.
 */
export function ownNodeId(ctx: Pick<Context, 'path'>, area: Area = 'private'): string | undefined {
  const dir = nodeDir(ctx, area);
  const pubkey = path.join(dir, 'node.pubkey');
  if (existsSync(pubkey)) {
    const id = readFileSync(pubkey, 'utf8').trim().replace(/^pub-/, '');
    if (id) return id;
  }
  const file = path.join(dir, 'my_nodeid');
  if (!existsSync(file)) return undefined;
  const id = readFileSync(file, 'utf8').trim();
  return id || undefined;
}

// ---- the area caps, in the private node's Tahoe alias file -------------------------------------

export const ALIAS_PRIVATE = 'sysback-private';
export const ALIAS_PUBLIC = 'sysback-public';

function aliasFile(ctx: Pick<Context, 'path'>): string {
  return path.join(nodeDir(ctx, 'private'), 'private', 'aliases');
}

export function readAliases(ctx: Pick<Context, 'path'>): Record<string, string> {
  const file = aliasFile(ctx);
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([^:#\s]+)\s*:\s*(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function writeAlias(ctx: Pick<Context, 'path'>, name: string, cap: string): void {
  const aliases = { ...readAliases(ctx), [name]: cap };
  const file = aliasFile(ctx);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, Object.entries(aliases).map(([k, v]) => `${k}: ${v}\n`).join(''), { mode: 0o600 });
  // rename keeps the file whole if we are interrupted
  renameSync(`${file}.tmp`, file);
}

export function privateAreaCap(ctx: Pick<Context, 'path'>): string {
  const cap = readAliases(ctx)[ALIAS_PRIVATE];
  if (!cap) throw new NotConfiguredError('this router has no private area yet', 'run sysback firstboot first');
  return cap;
}

// ---- node keys carried by the identity file ----------------------------------------------------

/** Files of a node's private/ directory that make it "the same node" again on new hardware. */
export const NODE_KEY_FILES = ['node.pem', 'node.privkey', 'secret', 'tor_onion.privkey'] as const;

/** The node's key files (base64 by file name) and its convergence secret. */
export function readNodeKeys(dir: string): { nodeKeys: Record<string, string>; convergence: string } {
  const nodeKeys: Record<string, string> = {};
  for (const name of NODE_KEY_FILES) {
    const file = path.join(dir, 'private', name);
    if (existsSync(file)) nodeKeys[name] = readFileSync(file).toString('base64');
  }
  const convergence = readFileSync(path.join(dir, 'private', 'convergence'), 'utf8').trim();
  return { nodeKeys, convergence };
}

/** Puts recovered keys into a freshly created node directory, before its first start. */
export function writeNodeKeys(dir: string, keys: { nodeKeys?: Record<string, string>; convergence: string }): void {
  for (const [name, b64] of Object.entries(keys.nodeKeys ?? {})) {
    if (!(NODE_KEY_FILES as readonly string[]).includes(name)) throw new CorruptError(`the identity carries an unexpected node key file ${name}`);
    writeFileSync(path.join(dir, 'private', name), Buffer.from(b64, 'base64'), { mode: 0o600 });
  }
  writeFileSync(path.join(dir, 'private', 'convergence'), `${keys.convergence}\n`, { mode: 0o600 });
}
