// A router for unit tests: a temp directory as its root (device config, files.txt, state, crontab,
// node directories: the same files the real flows read and write) and a Device over the in-memory
// grid of grid/memory-grid.ts: fake nodes (a node directory with a convergence secret and key files,
// started and stopped by a flag, its own storage server when it offers storage) and the web-API
// transport over the memory grid's client (whatever transport the config names). No root, no
// program, no network: a flow runs in milliseconds. Every step event is collected in `events`.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { answersScript, type Answers } from '../../core/config/answers.ts';
import { createContext, type Clock } from '../../core/context.ts';
import { deviceConfigFromGrid, readDeviceConfig, writeDeviceConfig } from '../../core/config/device-config.ts';
import type { GridConfig } from '../../core/config/grid-config.ts';
import { DEVICE, type Area } from '../../core/device-paths.ts';
import { NotConfiguredError } from '../../core/errors.ts';
import { createMemoryLog } from '../../core/log.ts';
import type { Prompter } from '../../core/prompter.ts';
import { createScriptedPrompter } from '../../core/prompter-scripted.ts';
import { configuredState, writeState } from '../../core/state.ts';
import type { StepEvent } from '../../core/steps.ts';
import { ALIAS_PRIVATE, nodeDir, writeAlias } from '../../grid/device-nodes.ts';
import { withDevice, type Device, type DeviceContext } from '../../grid/device.ts';
import { MemoryGrid, type MemoryTahoeClient } from '../../grid/memory-grid.ts';
import { createWebApiTransport } from '../../grid/webapi-transport.ts';

/** A grid.json for a memory grid: fURLs that parse, and the shared public directory made on it. */
export async function memoryGridConfig(grid: MemoryGrid): Promise<GridConfig> {
  const publicDirectory = await grid.client({ name: 'operator' }).mkdir();
  return {
    format: 'sysback-grid/1',
    name: 'memorygrid',
    introducers: [
      { name: 'intro-1', furl: 'pb://aaaabbbbccccdddd@tcp:127.0.0.1:41001/introducer' },
      { name: 'intro-2', furl: 'pb://eeeeffffgggghhhh@tcp:127.0.0.1:41002/introducer' },
    ],
    publicDirectory,
    shares: { ...grid.encoding },
    listen: 'tcp',
    transport: 'webapi',
  };
}

/** A clock the test moves: generations are named by the second, so each backup gets its own. */
export function steppingClock(start = Date.parse('2026-11-27T22:00:00Z')): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => new Date(now),
    advance(ms) {
      now += ms;
    },
  };
}

export interface MemoryRouterOptions {
  /** the router's private node offers storage (a server of its own on the grid, `${name}-storage`) */
  storage?: boolean;
  retention?: number;
  /** how long waitForHappy waits on this grid (default 50 ms: a unit test never waits) */
  serverWaitMs?: number;
  /** the files.txt lines (default: /etc/myapp and /var/spool/cron) */
  files?: string[];
  /**
   * the device config's tahoe.serverWaitSeconds: how long a recovery's patient read keeps trying a
   * read that fails for the moment (recovery/patient-reads.ts); default 2, so a unit test's grid
   * that stays broken gives up in seconds
   */
  serverWaitSeconds?: number;
}

export interface MemoryRouter {
  name: string;
  root: string;
  ctx: DeviceContext;
  device: Device;
  clock: Clock & { advance(ms: number): void };
  log: ReturnType<typeof createMemoryLog>;
  events: StepEvent[];
  /** the node client of an area (started or not) */
  node(area: Area): MemoryTahoeClient;
  /** the id of the router's own storage server, when it offers storage */
  storageServer: string | undefined;
  path(devicePath: string): string;
  write(devicePath: string, content: string | Buffer, mode?: number): void;
  read(devicePath: string): string;
  exists(devicePath: string): boolean;
  destroy(): Promise<void>;
}

/** Fake nodes: directories the flows can read keys from, a flag for running, a client per start. */
function memoryDevice(ctxRoot: { path(p: string): string; log: { info(m: string): void } }, grid: MemoryGrid, name: string, options: MemoryRouterOptions) {
  const storageServer = options.storage ? `${name}-storage` : undefined;
  const clients = new Map<Area, MemoryTahoeClient>();
  const clientFor = (area: Area): MemoryTahoeClient => {
    let client = clients.get(area);
    if (!client) {
      const dir = nodeDir(ctxRoot, area);
      const convergenceFile = path.join(dir, 'private', 'convergence');
      const convergence = existsSync(convergenceFile) ? readFileSync(convergenceFile, 'utf8').trim() : 'none';
      client = grid.client({ name: `${name}-${area}`, convergence, ...(area === 'private' && storageServer ? { ownServer: storageServer } : {}) });
      client.stop();
      clients.set(area, client);
    }
    return client;
  };
  const device: Device = {
    config: () => readDeviceConfig(ctxRoot),
    client: (area) => clientFor(area),
    nodes: {
      async ensure(area, nickname) {
        const dir = nodeDir(ctxRoot, area);
        if (existsSync(path.join(dir, 'tahoe.cfg'))) return 'existing';
        mkdirSync(path.join(dir, 'private'), { recursive: true, mode: 0o700 });
        writeFileSync(path.join(dir, 'tahoe.cfg'), `[node]\nnickname = ${nickname}\n`);
        // Tahoe's convergence secret: 26 base32 characters
        const secret = Array.from(randomBytes(26), (b) => 'abcdefghijklmnopqrstuvwxyz234567'[b & 31]).join('');
        writeFileSync(path.join(dir, 'private', 'convergence'), `${secret}\n`, { mode: 0o600 });
        writeFileSync(path.join(dir, 'private', 'node.pem'), `memory node key ${randomBytes(8).toString('hex')}\n`, { mode: 0o600 });
        // Tahoe's node.pubkey (`pub-` + the id the welcome page and check results name the server by)
        writeFileSync(path.join(dir, 'node.pubkey'), `pub-${area === 'private' && storageServer ? storageServer : `${name}-${area}`}\n`);
        return 'created';
      },
      async start(area) {
        if (!existsSync(path.join(nodeDir(ctxRoot, area), 'tahoe.cfg'))) {
          throw new NotConfiguredError(`the ${area} Tahoe node does not exist yet`, 'run sysback firstboot first');
        }
        // a start reads the node directory again (recovered keys change the convergence secret)
        const previous = clients.get(area);
        previous?.stop();
        clients.delete(area);
        const client = clientFor(area);
        client.start();
        return client;
      },
      async stop(area) {
        const client = clients.get(area);
        const was = client?.up ?? false;
        client?.stop();
        return was;
      },
      running: async (area) => clients.get(area)?.up ?? false,
      // as the real one (grid/device-nodes.ts waitForHappy): happy, and `needed` other than the router's own
      waitForHappy: (api) => {
        const { happy, needed } = grid.encoding;
        return api.waitForServers(happy, options.serverWaitMs ?? 50, (connected, others) => ctxRoot.log.info(`  storage servers connected: ${connected} of the ${happy} needed, ${others} other than this router`), { ownId: storageServer, needed });
      },
      enableSftp: async () => false,
    },
    transport: (_kind, area) => createWebApiTransport(clientFor(area)),
    // Argon2id at its cheapest: the parameters travel in the packet, so decryption is as cheap
    identityEncryption: { insecureArgon2ForTests: { passes: 1, parallelism: 1, memoryExponent: 10 } },
  };
  return { device, clientFor, storageServer };
}

const DEFAULT_FILES = ['/etc/myapp', '/var/spool/cron'];

/** A fresh router on `grid`, its device config made from `gridConfig`. */
export async function memoryRouter(grid: MemoryGrid, gridConfig: GridConfig, name: string, options: MemoryRouterOptions = {}): Promise<MemoryRouter> {
  const root = await mkdtemp(path.join(os.tmpdir(), `sysback-mem-${name}-`));
  const clock = steppingClock();
  const log = createMemoryLog('info');
  const events: StepEvent[] = [];
  const base = createContext({ root, log, clock, env: {} });
  base.events.listen((event) => events.push(event));
  await writeDeviceConfig(base, deviceConfigFromGrid(gridConfig, { backup: { intervalHours: 240, retention: options.retention ?? 5 }, tahoe: { serverWaitSeconds: options.serverWaitSeconds ?? 2 } }));
  const files = base.path(DEVICE.filesList);
  mkdirSync(path.dirname(files), { recursive: true });
  writeFileSync(files, `${(options.files ?? DEFAULT_FILES).join('\n')}\n`);
  const { device, clientFor, storageServer } = memoryDevice(base, grid, name, options);
  const ctx = withDevice(base, device);
  const router: MemoryRouter = {
    name,
    root,
    ctx,
    device,
    clock,
    log,
    events,
    node: clientFor,
    storageServer,
    path: (p) => base.path(p),
    write(p, content, mode) {
      const file = base.path(p);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content, mode !== undefined ? { mode } : {});
    },
    read: (p) => readFileSync(base.path(p), 'utf8'),
    exists: (p) => existsSync(base.path(p)),
    async destroy() {
      for (const area of ['private', 'public'] as const) clientFor(area).stop();
      await rm(root, { recursive: true, force: true });
    },
  };
  return router;
}

/** A router that is configured without running "new": its private node started, its private area made, its state written. */
export async function configuredMemoryRouter(grid: MemoryGrid, gridConfig: GridConfig, name: string, options: MemoryRouterOptions = {}): Promise<MemoryRouter & { privateCap: string }> {
  const router = await memoryRouter(grid, gridConfig, name, options);
  await router.device.nodes.ensure('private', name);
  const api = await router.device.nodes.start('private');
  const privateCap = await api.mkdir();
  writeAlias(router.ctx, ALIAS_PRIVATE, privateCap);
  await writeState(router.ctx, configuredState({ mode: 'new', alias: name, now: router.clock.now() }));
  return Object.assign(router, { privateCap });
}

/** The scripted prompter an answers file makes, its transcript kept in `lines`. */
export function scriptedPrompter(answers: Answers & { password: string }): { prompter: Prompter; transcript: string[] } {
  const transcript: string[] = [];
  const prompter = createScriptedPrompter(answersScript(answers, answers.password), { output: { write: (text: string) => transcript.push(text) }, origin: 'the test answers' });
  return { prompter, transcript };
}

/** The same answers, as if a person typed them on the console: the flows show the card to this kind only. */
export function consoleLikePrompter(answers: Answers & { password: string }): { prompter: Prompter; said: string[] } {
  const said: string[] = [];
  const { prompter } = scriptedPrompter(answers);
  const onConsole: Prompter = {
    kind: 'console',
    interactive: true,
    // what an answers file cannot say, the person answers: Enter where there is a default (no SSH
    // key, the newest generation); two different root passwords, so the password stays unchanged
    // (chpasswd cannot run in a test root)
    line: (q, o) => (o?.default !== undefined ? Promise.resolve(o.default) : prompter.line(q, o)),
    secret: (q, o) => (o?.key?.startsWith('rootPassword') ? Promise.resolve(o.key) : prompter.secret(q, o)),
    choice: (q, o, a) => prompter.choice(q, o, a),
    confirm: (q, o) => prompter.confirm(q, o),
    pick: (q, i, o) => prompter.pick(q, i, o),
    say: (text) => void said.push(text),
  };
  return { prompter: onConsole, said };
}

/** Every file under `dir` whose bytes contain `needle`, as paths relative to `dir`. */
export function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (readFileSync(file).includes(needle)) found.push(path.relative(dir, file));
  }
  return found;
}
