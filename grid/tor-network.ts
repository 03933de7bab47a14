// Owns a private Tor network on 127.0.0.1 for tests and demos (DESIGN §6, notes/tor-testnet.md):
// our own directory authorities and relays, plus client tors whose control and SOCKS ports Tahoe
// nodes use. Contract (DESIGN §7, hard): every torrc has `TestingTorNetwork 1`, DirAuthority lines
// pointing at loopback only, explicit non-default ports, `OutboundBindAddress 127.0.0.1`; so no tor
// started here can reach the public Tor network. Every tor is started in its own session and stopped
// by its PID. tor comes from the host or from the target root filesystem (grid/sysroot.ts).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GridUnreachableError, SysbackError } from '../core/errors.ts';
import { freePorts } from '../core/ports.ts';
import { isOurProcess, stopProcess } from '../core/processes.ts';
import type { Runner } from '../core/runner.ts';
import { sysrootArgv } from './sysroot.ts';
import { bootstrapProgress, torControl } from './tor-control.ts';

export interface TorNode {
  name: string;
  role: 'authority' | 'relay' | 'client';
  dir: string;
  controlPort: number;
  orPort?: number;
  dirPort?: number;
  socksPort?: number;
  fingerprint?: string;
  v3ident?: string;
  pid?: number;
}

export interface TorNetwork {
  dir: string;
  nodes: TorNode[];
  /** client tors, for Tahoe nodes: control port as Tahoe wants it, bare SOCKS port */
  clients: Array<{ name: string; controlPort: string; socksPort: number }>;
  stop(): Promise<void>;
}

/** Runs a tor tool from the host or from `rootfs` (binding `dir` at its own path). */
export function torArgv(rootfs: string | undefined, dir: string, slot: string, argv: readonly string[]): string[] {
  const withEnv = ['env', 'MALLOC_ARENA_MAX=1', ...argv];
  return rootfs ? sysrootArgv({ rootfs, scratch: path.join(dir, '.sysroot', slot), binds: [dir] }, withEnv) : withEnv;
}

/** The torrc of a node (pure). */
export function torrc(node: TorNode, authorities: readonly TorNode[], files: { geoip: string; bandwidth: string }): string {
  const lines = [
    '# sysback private test network: never the public Tor network',
    'TestingTorNetwork 1',
    ...authorities.map((a) => `DirAuthority ${a.name} orport=${a.orPort} v3ident=${a.v3ident} 127.0.0.1:${a.dirPort} ${a.fingerprint}`),
    `DataDirectory ${node.dir}`,
    `Nickname ${node.name}`,
    `PidFile ${node.dir}/tor.pid`,
    `Log notice file ${node.dir}/notice.log`,
    'RunAsDaemon 0',
    `ControlPort 127.0.0.1:${node.controlPort}`,
    'SafeLogging 0',
    'ShutdownWaitLength 0',
    'ConnLimit 60',
    'OutboundBindAddress 127.0.0.1',
    'PathsNeededToBuildCircuits 0.67',
    'TestingDirAuthVoteHSDir *',
    'TestingDirAuthVoteGuard *',
    'V3AuthNIntervalsValid 2',
    `GeoIPFile ${files.geoip}`,
    `GeoIPv6File ${files.geoip}`,
  ];
  if (node.role === 'client') {
    // a bare port: foolscap only reads SocksPort entries whose first word is a number
    lines.push(`SocksPort ${node.socksPort}`);
  } else {
    lines.push(
      `ORPort 127.0.0.1:${node.orPort}`,
      'Address 127.0.0.1',
      'SocksPort 0',
      'AssumeReachable 1',
      'ExitRelay 0',
      'ExitPolicy reject *:*',
      'ContactInfo sysback@test.invalid',
    );
  }
  if (node.role === 'authority') {
    lines.push(
      `DirPort 127.0.0.1:${node.dirPort}`,
      'AuthoritativeDirectory 1',
      'V3AuthoritativeDirectory 1',
      'V3AuthVotingInterval 10',
      'V3AuthVoteDelay 2',
      'V3AuthDistDelay 2',
      'TestingV3AuthInitialVotingInterval 10',
      'TestingV3AuthInitialVoteDelay 2',
      'TestingV3AuthInitialDistDelay 2',
      'AuthDirVoteStableGuaranteeMinUptime 0',
      'AuthDirVoteStableGuaranteeMTBF 0',
      `V3BandwidthsFile ${files.bandwidth}`,
    );
  }
  for (const line of lines) {
    if (/^DirAuthority /.test(line) && !/ 127\.0\.0\.1:\d+ /.test(line)) throw new SysbackError('refusing a DirAuthority off loopback');
  }
  return `${lines.join('\n')}\n`;
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(500);
  }
  throw new GridUnreachableError(`the private Tor network: ${what} not ready within ${Math.round(timeoutMs / 1000)} s`, 'see the notice.log files in the tor directory');
}

/**
 * Creates and starts a private Tor network in `dir`: `authorities` + `relays` (5 or more in all, see
 * the notes) then `clients` client tors once the consensus lists every relay.
 */
export async function startTorNetwork(
  runner: Runner,
  dir: string,
  options: { rootfs?: string; authorities?: number; relays?: number; clients?: number; timeoutMs?: number } = {},
): Promise<TorNetwork> {
  const authorities = options.authorities ?? 3;
  const relayCount = options.relays ?? 2;
  const clientCount = options.clients ?? 1;
  const timeoutMs = options.timeoutMs ?? 180_000;
  if (authorities + relayCount < 5) throw new SysbackError('a private Tor network needs at least 5 relays counting authorities (onion services fail with fewer)');
  mkdirSync(dir, { recursive: true });
  const geoip = path.join(dir, 'empty-geoip');
  writeFileSync(geoip, '');
  const ports = await freePorts(authorities * 3 + relayCount * 2 + clientCount * 2);
  const take = () => ports.shift()!;
  const nodes: TorNode[] = [];
  for (let i = 1; i <= authorities; i++) nodes.push({ name: `auth${i}`, role: 'authority', dir: path.join(dir, `auth${i}`), controlPort: take(), orPort: take(), dirPort: take() });
  for (let i = 1; i <= relayCount; i++) nodes.push({ name: `relay${i}`, role: 'relay', dir: path.join(dir, `relay${i}`), controlPort: take(), orPort: take() });
  for (let i = 1; i <= clientCount; i++) nodes.push({ name: `client${i}`, role: 'client', dir: path.join(dir, `client${i}`), controlPort: take(), socksPort: take() });

  const started: TorNode[] = [];
  const stop = async () => {
    for (const node of [...started].reverse()) if (node.pid) await stopProcess(node.pid, `${node.dir}/torrc`, 5000);
  };
  try {
    for (const node of nodes) mkdirSync(path.join(node.dir, 'keys'), { recursive: true, mode: 0o700 });
    for (const node of nodes.filter((n) => n.role === 'authority')) {
      await runner.run(
        torArgv(options.rootfs, dir, `gencert-${node.name}`, [
          'tor-gencert', '--create-identity-key', '--passphrase-fd', '0', '-m', '12', '-a', `127.0.0.1:${node.dirPort}`,
          '-i', `${node.dir}/keys/authority_identity_key`, '-s', `${node.dir}/keys/authority_signing_key`, '-c', `${node.dir}/keys/authority_certificate`,
        ]),
        { input: '\n' },
      );
      node.v3ident = /^fingerprint (\w+)/m.exec(readFileSync(`${node.dir}/keys/authority_certificate`, 'utf8'))?.[1];
    }
    for (const node of nodes.filter((n) => n.role !== 'client')) {
      writeFileSync(path.join(node.dir, 'none'), '');
      const { stdout } = await runner.run(
        torArgv(options.rootfs, dir, `fp-${node.name}`, ['tor', '--ignore-missing-torrc', '-f', `${node.dir}/none`, '--DataDirectory', node.dir, '--ORPort', '1', '--list-fingerprint']),
      );
      const last = stdout.trim().split('\n').pop() ?? '';
      node.fingerprint = last.split(/\s+/).slice(1).join('');
      if (!/^[0-9A-F]{40}$/.test(node.fingerprint)) throw new SysbackError(`tor gave no fingerprint for ${node.name}: ${last}`);
    }
    const relays = nodes.filter((n) => n.role !== 'client');
    const bandwidth = path.join(dir, 'bandwidth');
    writeFileSync(bandwidth, `${Math.floor(Date.now() / 1000)}\n${relays.map((r) => `node_id=$${r.fingerprint} bw=1000`).join('\n')}\n`);
    const auths = nodes.filter((n) => n.role === 'authority');
    for (const node of nodes) writeFileSync(path.join(node.dir, 'torrc'), torrc(node, auths, { geoip, bandwidth }));

    await launchInPhases(runner, dir, nodes, options.rootfs, timeoutMs, started);
    writeFileSync(path.join(dir, 'network.json'), JSON.stringify(nodes, null, 2) + '\n');
    return networkOf(dir, nodes, stop);
  } catch (error) {
    await stop();
    throw error;
  }
}

function networkOf(dir: string, nodes: TorNode[], stop: () => Promise<void>): TorNetwork {
  const clients = nodes.filter((n) => n.role === 'client');
  return {
    dir,
    nodes,
    clients: clients.map((c) => ({ name: c.name, controlPort: `tcp:127.0.0.1:${c.controlPort}`, socksPort: c.socksPort! })),
    stop,
  };
}

/** Starts `nodes` in two phases: relays until every authority lists them all, then the clients. */
async function launchInPhases(runner: Runner, dir: string, nodes: TorNode[], rootfs: string | undefined, timeoutMs: number, started: TorNode[]): Promise<void> {
  const relays = nodes.filter((n) => n.role !== 'client');
  const auths = nodes.filter((n) => n.role === 'authority');
  const launch = (node: TorNode) => {
    node.pid = runner.start(torArgv(rootfs, dir, `run-${node.name}`, ['tor', '-f', `${node.dir}/torrc`]), { logFile: path.join(node.dir, 'stdout.log') });
    started.push(node);
  };
  // phase 1: authorities and relays, until every authority's consensus lists every relay
  relays.forEach(launch);
  await waitFor('consensus listing every relay', timeoutMs, async () => {
    for (const auth of auths) {
      const reply = await torControl(auth.controlPort, ['GETINFO ns/all']);
      if ((reply.match(/^r /gm) ?? []).length < relays.length) return false;
    }
    return true;
  });
  // phase 2: clients (started earlier they would fetch an empty first consensus and wait)
  const clients = nodes.filter((n) => n.role === 'client');
  clients.forEach(launch);
  await waitFor('client bootstrap', timeoutMs, async () => {
    for (const client of clients) {
      const reply = await torControl(client.controlPort, ['GETINFO status/bootstrap-phase']);
      if (bootstrapProgress(reply) !== 100) return false;
    }
    return true;
  });
}

function readNetwork(dir: string): TorNode[] {
  return JSON.parse(readFileSync(path.join(dir, 'network.json'), 'utf8')) as TorNode[];
}

/** The PID a node's tor wrote (PidFile), if that tor still runs. */
function runningTorPid(node: TorNode): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(node.dir, 'tor.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isOurProcess(pid, `${node.dir}/torrc`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts an existing network again (same keys, ports and torrcs); tors still running are kept. */
export async function resumeTorNetwork(runner: Runner, dir: string, options: { rootfs?: string; timeoutMs?: number } = {}): Promise<TorNetwork> {
  const nodes = readNetwork(dir);
  const stop = async () => {
    await stopTorNetwork(dir);
  };
  if (nodes.every((n) => runningTorPid(n) !== undefined)) return networkOf(dir, nodes, stop);
  await stopTorNetwork(dir);
  const started: TorNode[] = [];
  try {
    await launchInPhases(runner, dir, nodes, options.rootfs, options.timeoutMs ?? 180_000, started);
  } catch (error) {
    await stop();
    throw error;
  }
  return networkOf(dir, nodes, stop);
}

/** Stops every tor of the network in `dir` by the PID it wrote, clients first. */
export async function stopTorNetwork(dir: string): Promise<number> {
  if (!torNetworkExists(dir)) return 0;
  let stopped = 0;
  for (const node of readNetwork(dir).reverse()) {
    const pid = runningTorPid(node);
    if (pid && (await stopProcess(pid, `${node.dir}/torrc`, 5000))) stopped++;
  }
  return stopped;
}

/** The DirAuthority lines of the network in `dir`, for a device's torrc (loopback only). */
export function dirAuthorityLines(dir: string): string[] {
  return readNetwork(dir)
    .filter((n) => n.role === 'authority')
    .map((a) => `${a.name} orport=${a.orPort} v3ident=${a.v3ident} 127.0.0.1:${a.dirPort} ${a.fingerprint}`);
}

export function torNetworkExists(dir: string): boolean {
  return existsSync(path.join(dir, 'network.json'));
}
