// Owns how a booted image reaches a local grid (DESIGN §6, §7): which host loopback ports it needs
// (the grid's Tahoe nodes, from local-grid.json) and, over the private Tor network, the relay proxy
// (builder/relay-proxy.ts) that the image's tor reaches at GUEST:socks5Proxy's port; and, for
// systemd-nspawn, a network namespace of ours in which GUEST:P leads to the host's 127.0.0.1:P (or,
// for the proxy, to the port the proxy listens on). The namespace is held by one small shell started
// with `unshare --net`; in it `socat` listens per port and hands each connection over a unix socket (a
// file, so it crosses namespaces) to a host-side `socat` that connects to 127.0.0.1 only. Nothing in
// the namespace has a route anywhere else: the container sees its own loopback and these listeners,
// nothing more. Contract: every process is started in its own session and stopped by its process
// group id; the socket directory is removed. qemu needs none of this (guestfwd does the same).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../core/context.ts';
import { SysbackError, UserError } from '../core/errors.ts';
import { isOurProcess } from '../core/processes.ts';
import { GUEST_ADDRESS, gridNodePorts, loadLocalGrid } from '../grid/local-grid.ts';

export interface GridReach {
  /** ports reached at GUEST:P (Tahoe nodes of a TCP grid) */
  guestPorts: number[];
  /**
   * over the private Tor network: the image's tor makes its OR connections through a SOCKS5 proxy at
   * GUEST:guestPort (grid.json tor.testNetwork.socks5Proxy), which lets them through to 127.0.0.1 on
   * the network's `relayPorts` only (its relays announce 127.0.0.1, which a guest cannot reach itself)
   */
  torProxy?: { guestPort: number; relayPorts: number[] };
  guestAddress: string;
}

/** A listener in the namespace at GUEST:port, leading to the host's 127.0.0.1:hostPort. */
export interface Forward {
  port: number;
  hostPort: number;
}

/** The tor network's authority and relay ports, from its network.json (OR and Dir ports). */
export function torNetworkPorts(networkDir: string): number[] {
  const file = path.join(networkDir, 'network.json');
  if (!existsSync(file)) return [];
  const nodes = JSON.parse(readFileSync(file, 'utf8')) as Array<{ role: string; orPort?: number; dirPort?: number }>;
  return nodes.filter((n) => n.role !== 'client').flatMap((n) => [n.orPort, n.dirPort].filter((p): p is number => typeof p === 'number'));
}

/** What a booted image needs to reach the grid in `gridDir`. */
export function gridReach(gridDir: string): GridReach {
  const local = loadLocalGrid(gridDir);
  if (!local.torNetwork) return { guestPorts: gridNodePorts(local), guestAddress: local.guestAddress ?? GUEST_ADDRESS };
  const grid = JSON.parse(readFileSync(path.join(gridDir, 'grid.json'), 'utf8')) as { tor?: { testNetwork?: { socks5Proxy?: string } } };
  const proxy = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(grid.tor?.testNetwork?.socks5Proxy ?? '');
  if (!proxy) {
    throw new UserError(`the grid in ${gridDir} runs on a private Tor network but its grid.json names no tor.testNetwork.socks5Proxy, so a booted image cannot reach its relays`, 'make the grid again with sysback grid init --private-tor');
  }
  return { guestPorts: [], torProxy: { guestPort: checkPort(Number(proxy[2])), relayPorts: torNetworkPorts(local.torNetwork) }, guestAddress: proxy[1]! };
}

/** `port` when it is one (1-65535), else a UserError: nothing else reaches a socat or qemu argument. */
export function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`not a port: ${port}`);
  return port;
}

/** The namespace holder's shell script (pure): loopback up, GUEST on lo, one listener per port. */
export function holderScript(guestAddress: string, ports: readonly number[], socketDir: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(guestAddress)) throw new UserError(`not an IPv4 address: ${guestAddress}`);
  const listen = (port: number) =>
    `socat TCP-LISTEN:${checkPort(port)},bind=${guestAddress},fork,reuseaddr UNIX-CONNECT:${socketDir}/${port}.sock &`;
  return [
    'set -e',
    'ip link set lo up',
    `ip addr add ${guestAddress}/32 dev lo`,
    ...ports.map(listen),
    // the holder stays as long as its listeners; the namespace is /proc/THIS/ns/net
    'wait',
  ].join('\n');
}

export interface Namespace {
  /** for systemd-nspawn --network-namespace-path= */
  path: string;
  stop(): Promise<void>;
}

function signalGroup(pid: number, marker: string, signal: NodeJS.Signals): void {
  if (!isOurProcess(pid, marker)) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

async function stopGroup(pid: number, marker: string): Promise<void> {
  if (!isOurProcess(pid, marker)) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && isOurProcess(pid, marker); i++) await sleep(100);
  if (isOurProcess(pid, marker)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Starts the namespace and the host-side forwarders; `stop()` ends both and removes the sockets. */
export async function startGridNamespace(ctx: Context, guestAddress: string, forwards: readonly Forward[]): Promise<Namespace> {
  const run = mkdtempSync(path.join(os.tmpdir(), 'sysback-reach-'));
  const sockets = path.join(run, 's');
  mkdirSync(sockets, { mode: 0o700 });
  const marker = `sysback-reach ${run}`;
  const started: Array<{ pid: number; marker: string }> = [];
  // a process that exits without its cleanup (an uncaught error) still ends ours: synchronously, on
  // exit. Signals are the caller's (bootImage runs under core/signal-cleanup.ts and calls stop()).
  const onExit = () => {
    for (const p of started) signalGroup(p.pid, p.marker, 'SIGTERM');
    rmSync(run, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  const stop = async () => {
    for (const p of [...started].reverse()) await stopGroup(p.pid, p.marker);
    rmSync(run, { recursive: true, force: true });
    process.off('exit', onExit);
  };
  try {
    for (const { port, hostPort } of forwards) {
      const pid = ctx.runner.start(['socat', `UNIX-LISTEN:${sockets}/${checkPort(port)}.sock,fork,mode=600`, `TCP:127.0.0.1:${checkPort(hostPort)}`], { logFile: path.join(run, `host-${port}.log`) });
      started.push({ pid, marker: `${sockets}/${port}.sock` });
    }
    // `sh -c SCRIPT NAME`: NAME (the marker) shows in /proc/PID/cmdline, so we stop only our holder
    const holder = ctx.runner.start(['unshare', '--net', 'sh', '-c', holderScript(guestAddress, forwards.map((f) => f.port), sockets), marker], { logFile: path.join(run, 'holder.log') });
    started.push({ pid: holder, marker });
    const nsPath = `/proc/${holder}/ns/net`;
    // ready once every listener is bound inside the namespace
    const deadline = Date.now() + 10_000;
    for (;;) {
      // /proc/PID/cmdline is empty for a moment while unshare execs the shell: look twice before
      // calling the holder dead (CI run 9 failed a boot on that moment, with an empty holder log)
      if (!isOurProcess(holder, marker) && (await sleep(200), !isOurProcess(holder, marker))) {
        throw new SysbackError(`the grid namespace did not start: ${readFileSync(path.join(run, 'holder.log'), 'utf8').trim().slice(-500)}`);
      }
      const result = await ctx.runner.run(['nsenter', `--net=${nsPath}`, 'ss', '-Hltn'], { reject: false });
      const listening = (result.stdout.match(/LISTEN/g) ?? []).length;
      if (result.exitCode === 0 && listening >= forwards.length) break;
      if (Date.now() > deadline) throw new SysbackError(`the grid namespace listens on ${listening} of ${forwards.length} ports after 10 s`);
      await sleep(100);
    }
    return { path: nsPath, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
