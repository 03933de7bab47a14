// Test support (not a test): a router booted with systemd-nspawn from the shared test image. Each router
// is an overlayfs (lower: the image's tree, never written; upper: the router's own directory) mounted in a
// private mount namespace that dies with nspawn, so nothing stays mounted on the host. The console is a
// real pty (`script` bridges it to pipes), as a person at the console would have. The container has no
// network (--private-network), so its tor could not reach anything even if it were not masked.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../../core/context.ts';
import { childrenOf, commOf } from '../../core/processes.ts';
import type { PipedProcess, RunResult } from '../../core/runner.ts';
import { nspawnArgv } from '../../builder/boot-image.ts';
import { BootConsole } from '../support/boot-console.ts';

const MOUNT = [
  'set -e',
  'lower=$1; r=$2; shift 2',
  'mkdir -p "$r/upper" "$r/work" "$r/merged"',
  'mount -t overlay router -o "lowerdir=$lower,upperdir=$r/upper,workdir=$r/work" "$r/merged"',
  'exec "$@"',
].join('\n');

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export class NspawnBoot {
  readonly console: BootConsole;
  private exited = false;
  readonly done: Promise<RunResult>;

  constructor(private readonly ctx: Context, private readonly proc: PipedProcess) {
    this.console = new BootConsole((text) => proc.stdin?.write(text));
    proc.stdout?.on('data', (chunk: Buffer) => this.console.push(chunk));
    this.done = proc.done.finally(() => {
      this.exited = true;
    });
    this.done.catch(() => {});
  }

  /** the systemd-nspawn process (script → nspawn) */
  nspawnPid(): number | undefined {
    const queue = this.proc.pid ? [this.proc.pid] : [];
    while (queue.length) {
      const pid = queue.shift()!;
      if (commOf(pid) === 'systemd-nspawn') return pid;
      queue.push(...childrenOf(pid));
    }
    return undefined;
  }

  /** the container's PID 1 (systemd), as seen from the host */
  containerInit(): number | undefined {
    const nspawn = this.nspawnPid();
    return nspawn === undefined ? undefined : childrenOf(nspawn).find((pid) => commOf(pid) === 'systemd');
  }

  /** Runs a command inside the running container (all its namespaces and root). */
  async exec(argv: string[]): Promise<RunResult> {
    const pid = this.containerInit();
    if (pid === undefined) throw new Error('the container is not running');
    return this.ctx.runner.run(['nsenter', '-t', String(pid), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--', ...argv], { reject: false, timeoutMs: 60_000 });
  }

  /** Stops the container the way a power button would (SIGTERM to nspawn = orderly poweroff), then by force. */
  async stop(graceMs = 60_000): Promise<void> {
    const nspawn = this.nspawnPid();
    if (nspawn !== undefined && !this.exited) process.kill(nspawn, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (!this.exited && Date.now() < deadline) await sleep(200);
    if (!this.exited) {
      const again = this.nspawnPid();
      if (again !== undefined) process.kill(again, 'SIGKILL');
      this.proc.kill('SIGKILL');
      await this.done.catch(() => {});
    }
  }

  /** Pulls the plug: nspawn is killed, nothing in the container gets to finish. */
  async pullPlug(): Promise<void> {
    const nspawn = this.nspawnPid();
    if (nspawn !== undefined) process.kill(nspawn, 'SIGKILL');
    await this.done.catch(() => {});
    this.proc.kill('SIGKILL');
  }
}

/** Boots the router whose writable layer is `routerDir` from the image tree `tree`. */
export function bootRouter(ctx: Context, tree: string, routerDir: string, initArgs: string[] = []): NspawnBoot {
  mkdirSync(routerDir, { recursive: true });
  const merged = path.join(routerDir, 'merged');
  // the container has no uplink: waiting for one would only add the wait-online timeout to every boot
  const nspawn = nspawnArgv({ tree: merged, persist: true, initArgs: ['systemd.mask=systemd-networkd-wait-online.service', ...initArgs] });
  const inner = ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', MOUNT, 'router', tree, routerDir, ...nspawn];
  const proc = ctx.runner.pipe(['script', '-qfec', inner.map(shellQuote).join(' '), '/dev/null'], { env: { SHELL: '/bin/sh', TERM: 'vt100' }, reject: false });
  return new NspawnBoot(ctx, proc);
}

export function upperHas(routerDir: string, devicePath: string): boolean {
  try {
    const dir = path.join(routerDir, 'upper', path.dirname(devicePath));
    return readdirSync(dir).includes(path.basename(devicePath));
  } catch {
    return false;
  }
}
