// Owns creating, starting and stopping Tahoe-LAFS nodes with the `tahoe` CLI (DESIGN §4.1): the grid's
// introducers and storage nodes, the device's private and public nodes, test clients. Contract: node
// directories are made by `tahoe create-*` with flags wherever a flag exists; the few settings without
// one (several introducers, [tor] control.port for a client, reserved_space) are edited afterwards; a
// started node is stopped by its PID only; a node never relies on Tor's default ports.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GridUnreachableError, SysbackError, EXIT } from '../core/errors.ts';
import { isAlive, isOurProcess, stopProcess } from '../core/processes.ts';
import type { Runner } from '../core/runner.ts';
import type { Shares } from '../core/config/grid-config.ts';
import { editCfg, writeIntroducers } from './tahoe-cfg.ts';
import type { TahoeProgram } from './tahoe-program.ts';

export type NodeRole = 'introducer' | 'storage' | 'client';

export type Listen =
  | { kind: 'tcp'; port: number }
  | { kind: 'tor' }
  | { kind: 'none' };

export interface TorSettings {
  /** e.g. tcp:127.0.0.1:9051 — always explicit (DESIGN §7) */
  controlPort: string;
  socksPort: number;
}

export interface NodeSpec {
  dir: string;
  role: NodeRole;
  nickname: string;
  listen: Listen;
  /** web API port on 127.0.0.1 (introducers may have none) */
  webPort?: number;
  shares?: Shares;
  introducers?: ReadonlyArray<{ name: string; furl: string }>;
  /** Tor for outbound connections (and onion listening when listen is tor) */
  tor?: TorSettings;
  reservedSpace?: string;
  /** false: a node that listens but offers no storage ([storage] enabled = false) */
  storage?: boolean;
  /**
   * Speak only Foolscap to storage servers (`[client] force_foolscap`), and as a storage server
   * announce no HTTP storage (`[storage] force_foolscap`). Tahoe 1.20's HTTP storage client gives a
   * server 5 s to connect and answer its version, and retries every second; over Tor on a slow CPU
   * (an onion rendezvous, then TLS, in Python) that never fits, and each cancelled try starts the next:
   * a router under qemu saw none of the grid's servers after a restart while its Foolscap introducer
   * connections, with no such bound, were up. See protocolEdits.
   */
  foolscapOnly?: boolean;
}

/** The tahoe.cfg settings `foolscapOnly` stands for (pure); empty when it is not set. */
export function protocolEdits(spec: Pick<NodeSpec, 'foolscapOnly' | 'role' | 'storage'>): Array<[string, string, string]> {
  if (!spec.foolscapOnly) return [];
  const edits: Array<[string, string, string]> = [['client', 'force_foolscap', 'true']];
  if (spec.role === 'storage' && spec.storage !== false) edits.push(['storage', 'force_foolscap', 'true']);
  return edits;
}

function listenFlags(spec: NodeSpec): string[] {
  switch (spec.listen.kind) {
    case 'tcp':
      return [`--port=tcp:${spec.listen.port}:interface=127.0.0.1`, `--location=tcp:127.0.0.1:${spec.listen.port}`];
    case 'tor':
      if (!spec.tor) throw new SysbackError(`node ${spec.nickname}: listening on Tor needs tor settings`);
      return ['--listen=tor', '--hide-ip', `--tor-control-port=${spec.tor.controlPort}`];
    case 'none':
      return spec.tor ? ['--hide-ip'] : [];
  }
}

/** The `tahoe create-*` argv for a node (pure). */
export function createArgs(spec: NodeSpec): string[] {
  const shares = spec.shares
    ? [`--shares-needed=${spec.shares.needed}`, `--shares-happy=${spec.shares.happy}`, `--shares-total=${spec.shares.total}`]
    : [];
  const web = spec.webPort ? [`--webport=tcp:${spec.webPort}:interface=127.0.0.1`] : [];
  switch (spec.role) {
    case 'introducer':
      return ['create-introducer', ...listenFlags(spec), spec.dir];
    case 'storage':
      return ['create-node', `--nickname=${spec.nickname}`, ...listenFlags(spec), ...web, ...shares, spec.dir];
    case 'client':
      if (spec.listen.kind !== 'none') throw new SysbackError(`client node ${spec.nickname} must not listen`);
      return ['create-client', `--nickname=${spec.nickname}`, ...listenFlags(spec), ...web, ...shares, spec.dir];
  }
}

/** The sibling directory a node is created in before it takes its place, named by the creating process. */
function creatingDir(dir: string, pid: number): string {
  return `${dir}.creating-${pid}`;
}

/**
 * Removes what earlier, cut-short creations of the node at `dir` left: a `<dir>.creating-PID` whose
 * process is gone, and `dir` itself when it holds no tahoe.cfg (the layout before creations were
 * staged). A creation whose process still runs is left alone.
 */
export function clearCutShortCreations(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  const prefix = `${path.basename(dir)}.creating-`;
  let siblings: string[];
  try {
    siblings = readdirSync(path.dirname(dir));
  } catch {
    return;
  }
  for (const name of siblings) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) continue;
    rmSync(path.join(path.dirname(dir), name), { recursive: true, force: true });
  }
}

/**
 * Creates a node so that `spec.dir` appears only whole: `tahoe create-*` and the edits run in a sibling
 * `<dir>.creating-PID`, which is renamed into place at the end. A sysback killed mid-creation leaves
 * no half node at `spec.dir`, and a `tahoe create-*` it left running writes into its own sibling, not
 * into the directory the next run creates (a fault found by the campaign: kill-sysback-recover).
 */
export async function createNode(runner: Runner, tahoe: TahoeProgram, spec: NodeSpec): Promise<void> {
  if (existsSync(path.join(spec.dir, 'tahoe.cfg'))) {
    throw new SysbackError(`a Tahoe node already exists in ${spec.dir}`, { hint: 'remove it or pick another directory' });
  }
  clearCutShortCreations(spec.dir);
  const staged = creatingDir(spec.dir, process.pid);
  try {
    await createIn({ ...spec, dir: staged }, runner, tahoe, path.basename(spec.dir));
    renameSync(staged, spec.dir);
  } finally {
    rmSync(staged, { recursive: true, force: true });
  }
}

async function createIn(spec: NodeSpec, runner: Runner, tahoe: TahoeProgram, label: string): Promise<void> {
  // Over Tor, create-* talks to tor's control port (ADD_ONION); txtorcon sometimes trips over a
  // circuit event it has not seen yet (KeyError in torstate). That is transient: retry once, fresh.
  const attempts = spec.listen.kind === 'tor' ? 2 : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      await runner.run(tahoe.argv(createArgs(spec), `create-${label}`), {
        hint: `tahoe could not create the ${spec.role} node ${spec.nickname}`,
      });
      break;
    } catch (error) {
      if (attempt >= attempts) throw error;
      rmSync(spec.dir, { recursive: true, force: true });
    }
  }
  const edits: Array<[string, string, string]> = [];
  if (spec.webPort && spec.role === 'introducer') edits.push(['node', 'web.port', `tcp:${spec.webPort}:interface=127.0.0.1`]);
  if (spec.reservedSpace && spec.role === 'storage') edits.push(['storage', 'reserved_space', spec.reservedSpace]);
  if (spec.storage === false && spec.role === 'storage') edits.push(['storage', 'enabled', 'false']);
  if (spec.tor) {
    // create-client has no --tor-control-port, and without it Tahoe would fall back to 9050/9150,
    // which may be someone else's tor (DESIGN §6, notes/tor-testnet.md §7).
    edits.push(['tor', 'control.port', spec.tor.controlPort]);
  }
  edits.push(...protocolEdits(spec));
  if (edits.length) editCfg(spec.dir, edits);
  if (spec.introducers?.length) writeIntroducers(spec.dir, spec.introducers);
}


/** Where a node's PID and log live (beside the node dir, not in it, so the node dir stays Tahoe's). */
export function runFiles(dir: string): { pidFile: string; logFile: string } {
  return { pidFile: `${dir}.pid`, logFile: `${dir}.log` };
}

/** The marker that identifies our tahoe process for a node dir in /proc/PID/cmdline. */
function marker(dir: string): string {
  return `tahoe run --allow-stdin-close ${dir}`;
}

export function runningPid(dir: string): number | undefined {
  const { pidFile } = runFiles(dir);
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isOurProcess(pid, marker(dir)) ? pid : undefined;
}

/**
 * Starts `tahoe run` for a node in its own session and records the PID. Returns the PID; does not
 * wait for readiness (see waitForIntroducerFurl / TahoeWebApi.waitUntilUp).
 */
/**
 * Removes Tahoe's own pidfile (`running.process`, "PID start-time") when it names no live `tahoe run`
 * of this node. Tahoe 1.19 refuses to start while *any* process has that PID (psutil, start time not
 * compared): after a SIGKILL the dead node may still be an unreaped zombie, and after a power cut the
 * PID is often taken by another process of the next boot, so the node would never start again.
 * Returns whether a stale file was removed.
 */
export function clearStaleRunningProcess(dir: string): boolean {
  const file = path.join(dir, 'running.process');
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  const pid = Number(content.trim().split(/\s+/)[0]);
  if (Number.isInteger(pid) && pid > 0 && isOurProcess(pid, marker(dir))) return false;
  rmSync(file, { force: true });
  return true;
}

export async function startNode(runner: Runner, tahoe: TahoeProgram, dir: string): Promise<number> {
  const existing = runningPid(dir);
  if (existing) return existing;
  clearStaleRunningProcess(dir);
  const { pidFile, logFile } = runFiles(dir);
  // `--allow-stdin-close`: a plain `tahoe run` exits when its stdin closes.
  const pid = runner.start(tahoe.argv(['run', '--allow-stdin-close', dir], `run-${path.basename(dir)}`), { logFile });
  writeFileSync(pidFile, `${pid}\n`);
  // a node that dies at once (bad config, port taken) is reported now, with its log's last lines
  await sleep(300);
  for (let i = 0; i < 20 && !isOurProcess(pid, 'tahoe'); i++) await sleep(100);
  if (!isOurProcess(pid, marker(dir))) {
    throw new SysbackError(`the Tahoe node in ${dir} exited at once: ${lastLines(logFile)}`, {
      hint: `see ${logFile}`,
      exitCode: EXIT.command,
    });
  }
  return pid;
}

/**
 * Waits until a node started with startNode answers (`isUp`), failing at once with its log's last
 * lines when its process exits first (Tahoe refuses some starts only after its imports, seconds in).
 */
export async function waitUntilAnswering(dir: string, isUp: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isUp())) {
    if (runningPid(dir) === undefined) {
      const { logFile } = runFiles(dir);
      throw new SysbackError(`the Tahoe node in ${dir} exited while starting: ${lastLines(logFile)}`, { hint: `see ${logFile}`, exitCode: EXIT.command });
    }
    if (Date.now() > deadline) {
      throw new GridUnreachableError(`the Tahoe node in ${dir} did not start answering within ${Math.round(timeoutMs / 1000)} s`);
    }
    await sleep(250);
  }
}

export async function stopNode(dir: string): Promise<boolean> {
  const { pidFile } = runFiles(dir);
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const stopped = Number.isInteger(pid) && pid > 0 ? await stopProcess(pid, marker(dir)) : false;
  rmSync(pidFile, { force: true });
  return stopped;
}

export function lastLines(file: string, count = 3): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-count).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Waits for a started introducer to write its fURL; bounded. */
export async function waitForIntroducerFurl(dir: string, timeoutMs: number): Promise<string> {
  const file = path.join(dir, 'private', 'introducer.furl');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const furl = readFileSync(file, 'utf8').trim();
      if (furl) return furl;
    }
    if (!runningPid(dir)) {
      throw new GridUnreachableError(`the introducer in ${dir} stopped: ${lastLines(runFiles(dir).logFile)}`);
    }
    await sleep(200);
  }
  throw new GridUnreachableError(`the introducer in ${dir} wrote no fURL within ${Math.round(timeoutMs / 1000)} s`);
}
