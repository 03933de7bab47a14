// The ONE contract suite of grid/transport.ts (DESIGN §4.2, the restic model): the same cases run
// against both transports on the real shared grid. A dedicated client node (its own web and SFTP
// ports) serves both, with the SFTP frontend rooted at a private directory made for this file; the
// mount transport mounts it at DEVICE.mount('private') under a per-file root. After every case no
// mount remains under that root and no sshfs process mentions it. The last cases stop the node.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEVICE, underRoot } from '../../core/device-paths.ts';
import { GridUnreachableError, SysbackError, UserError } from '../../core/errors.ts';
import { createLog } from '../../core/log.ts';
import { freePorts } from '../../core/ports.ts';
import { isOurProcess } from '../../core/processes.ts';
import { createRunner, type Runner } from '../../core/runner.ts';
import { loadLocalGrid } from '../../grid/local-grid.ts';
import { createMountTransport } from '../../grid/mount-transport.ts';
import { enableSftpFrontend, type SftpFrontend } from '../../grid/sftp-frontend.ts';
import { createNode, startNode, stopNode } from '../../grid/tahoe-node.ts';
import { hostTahoe, sysrootTahoe } from '../../grid/tahoe-program.ts';
import type { Transport, TransportKind } from '../../grid/transport.ts';
import { createWebApiTransport } from '../../grid/webapi-transport.ts';
import { TahoeWebApi } from '../../grid/webapi.ts';
import { mountsUnder, processesMentioning } from '../support/leaks.ts';
import { sharedGrid, type TestGrid } from '../support/shared-grid.ts';
import { isRoot } from '../support/target.ts';

const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-transport-'));
const deviceRoot = path.join(parent, 'root');
const mountPoint = underRoot(deviceRoot, DEVICE.mount('private'));
const nodeDir = path.join(parent, 'node');
const work = path.join(parent, 'work');
const runner: Runner = createRunner(createLog({ level: 'warn' }));

let grid: TestGrid | undefined;
let api: TahoeWebApi;
let area: string;
let frontend: SftpFrontend;
const missingPrograms: string[] = [];

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function makeTransport(kind: TransportKind, overrides: { api?: TahoeWebApi; sftpPort?: number; keyFile?: string; knownHostsFile?: string } = {}): Transport {
  const useApi = overrides.api ?? api;
  if (kind === 'webapi') return createWebApiTransport(useApi);
  return createMountTransport({
    api: useApi,
    runner,
    sftpPort: overrides.sftpPort ?? frontend.port,
    user: frontend.user,
    keyFile: overrides.keyFile ?? frontend.keyFile,
    knownHostsFile: overrides.knownHostsFile ?? frontend.knownHostsFile,
    mountPoint,
    rootCap: area,
    spoolDir: work,
  });
}

test.before(async () => {
  if (!isRoot()) return;
  for (const program of ['sshfs', 'rsync', 'fusermount3', 'ssh-keygen']) {
    if (!(await runner.which(program))) missingPrograms.push(program);
  }
  grid = await sharedGrid();
  const local = loadLocalGrid(grid.dir);
  const tahoe = local.tahoe === 'host' ? hostTahoe() : sysrootTahoe(local.tahoe, path.join(parent, '.sysroot'), [parent]);
  const [webPort, sftpPort] = await freePorts(2);
  await createNode(runner, tahoe, {
    dir: nodeDir,
    role: 'client',
    nickname: 'transport-client',
    listen: { kind: 'none' },
    webPort,
    shares: grid.grid.shares,
    introducers: grid.grid.introducers,
  });
  area = await grid.api.mkdir();
  mkdirSync(work, { recursive: true });
  if (missingPrograms.length === 0) {
    frontend = await enableSftpFrontend(runner, nodeDir, { port: sftpPort!, user: 'sysback', rootCap: area });
  }
  await startNode(runner, tahoe, nodeDir);
  api = new TahoeWebApi(webPort!);
  await api.waitUntilUp(60_000);
  await api.waitForServers(grid.grid.shares.happy, 90_000);
});

test.after.always(async () => {
  await stopNode(nodeDir).catch(() => undefined);
  await grid?.release();
  // a failed case must not leave a mount behind: undo it before removing the tree
  for (const mount of mountsUnder(parent)) await runner.run(['fusermount3', '-u', '-z', mount], { reject: false });
  rmSync(parent, { recursive: true, force: true });
});

if (!isRoot()) test('transport contract tests need root (sysroot namespaces, FUSE): skipped', (t) => t.pass());

const KINDS: TransportKind[] = ['webapi', 'mount'];

function available(t: ExecutionContext, kind: TransportKind): boolean {
  if (kind === 'mount' && missingPrograms.length > 0) {
    t.log(`skipped: the mount transport needs ${missingPrograms.join(', ')} on this host (npx tsx scripts/host-tools.ts)`);
    t.pass();
    return false;
  }
  return true;
}

function assertNothingLeft(t: ExecutionContext) {
  t.deepEqual(mountsUnder(deviceRoot), [], 'no mount remains under the device root');
  t.deepEqual(processesMentioning(mountPoint), [], 'no sshfs process remains');
}

async function remoteEntries(dirCap: string, name?: string): Promise<string[]> {
  return (await api.list(dirCap, name)).map((e) => e.name);
}

function contract(title: string, body: (t: ExecutionContext, kind: TransportKind, transport: Transport) => Promise<void>) {
  for (const kind of KINDS) {
    const run = isRoot() ? test.serial : test.skip;
    run(`${kind}: ${title}`, async (t) => {
      if (!available(t, kind)) return;
      const transport = makeTransport(kind);
      try {
        await body(t, kind, transport);
      } finally {
        await transport.close();
        await transport.close(); // may be called more than once
      }
      assertNothingLeft(t);
    });
  }
}

contract('a 5 MB file uploads byte-identical and the returned cap is the one the web API lists', async (t, kind, transport) => {
  const data = randomBytes(5 * 1024 * 1024);
  const file = path.join(work, `five-${kind}.bin`);
  writeFileSync(file, data);
  const seen: number[] = [];
  const cap = await transport.upload({ file }, area, `five-${kind}.bin`, (done) => seen.push(done));
  t.regex(cap, /^URI:CHK:/);
  const info = await api.info(area, `five-${kind}.bin`);
  t.is(info[1].ro_uri, cap);
  t.is(info[1].size, data.length);
  t.is((await api.digest(cap)).sha256, sha256(data));
  t.is(seen.at(-1), data.length, 'progress ends at the total');
  t.true(seen.every((v, i) => i === 0 || v >= seen[i - 1]!), 'progress is cumulative');
});

contract('a Readable source uploads byte-identical', async (t, kind, transport) => {
  const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
  const cap = await transport.upload(Readable.from(chunks), area, `stream-${kind}.bin`);
  t.is((await api.digest(cap)).sha256, sha256(Buffer.concat(chunks)));
  t.is((await api.info(area, `stream-${kind}.bin`))[1].ro_uri, cap);
  t.deepEqual(readdirSync(work).filter((n) => n.startsWith('sysback-spool-')), [], 'no spool file is left');
});

contract('a nested name creates its parent directories', async (t, kind, transport) => {
  const data = randomBytes(10_000);
  const file = path.join(work, 'nested.bin');
  writeFileSync(file, data);
  const name = `archives-${kind}/2026/SysBackup-20261127T220000Z.tar.gz`;
  const cap = await transport.upload({ file }, area, name);
  t.deepEqual(await remoteEntries(area, `archives-${kind}`), ['2026']);
  t.deepEqual(await remoteEntries(area, `archives-${kind}/2026`), ['SysBackup-20261127T220000Z.tar.gz']);
  t.true((await api.getBytes(cap)).equals(data));
});

contract('download returns the bytes uploaded, replacing the local file atomically', async (t, kind, transport) => {
  const data = randomBytes(2 * 1024 * 1024 + 17);
  const file = path.join(work, `round-${kind}.bin`);
  writeFileSync(file, data);
  await transport.upload({ file }, area, `round-${kind}.bin`);
  const target = path.join(work, `back-${kind}`, 'round.bin');
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, 'old contents');
  const seen: number[] = [];
  await transport.download(area, `round-${kind}.bin`, target, (done) => seen.push(done));
  t.true(readFileSync(target).equals(data));
  t.deepEqual(readdirSync(path.dirname(target)), ['round.bin'], 'no temp file is left beside it');
  t.true(seen.length > 0 && seen.at(-1) === data.length, 'progress reached the total');
});

contract('download of a name that does not exist fails clearly and leaves the local file alone', async (t, kind, transport) => {
  const target = path.join(work, `keep-${kind}.bin`);
  writeFileSync(target, 'keep me');
  const error = await t.throwsAsync(transport.download(area, `absent-${kind}.bin`, target));
  t.true(error instanceof SysbackError, String(error));
  t.regex(error!.message, /404|no file/);
  t.is(readFileSync(target, 'utf8'), 'keep me');
});

contract('uploading again to the same name replaces the file', async (t, kind, transport) => {
  const first = randomBytes(300_000);
  const second = randomBytes(200_000);
  const file = path.join(work, `over-${kind}.bin`);
  writeFileSync(file, first);
  const cap1 = await transport.upload({ file }, area, `over-${kind}.bin`);
  writeFileSync(file, second);
  const cap2 = await transport.upload({ file }, area, `over-${kind}.bin`);
  t.not(cap1, cap2);
  t.true((await api.getBytes(area, `over-${kind}.bin`)).equals(second));
  // the same bytes again: convergent encryption gives the same cap, and it is still returned
  const cap3 = await transport.upload({ file }, area, `over-${kind}.bin`);
  t.is(cap3, cap2);
  t.deepEqual((await remoteEntries(area)).filter((n) => n.startsWith(`.over-${kind}`)), [], 'no rsync temp entry is left');
});

contract('a Readable source that fails midway fails the upload with its own error and links nothing', async (t, kind, transport) => {
  async function* failing() {
    yield randomBytes(256 * 1024);
    yield randomBytes(256 * 1024);
    throw new Error('archive stream broke');
  }
  const error = await t.throwsAsync(transport.upload(Readable.from(failing()), area, `broken-${kind}.bin`));
  t.is(error!.message, 'archive stream broke');
  t.is(await api.info(area, `broken-${kind}.bin`), undefined);
  t.deepEqual((await remoteEntries(area)).filter((n) => n.includes(`broken-${kind}`)), []);
  t.deepEqual(readdirSync(work).filter((n) => n.startsWith('sysback-spool-')), [], 'no spool file is left');
});

contract('uploading a missing local file fails with a clear error and leaves nothing', async (t, kind, transport) => {
  const before = await remoteEntries(area);
  const error = await t.throwsAsync(transport.upload({ file: path.join(work, 'no-such-file.tar.gz') }, area, `missing-${kind}.tar.gz`));
  t.true(error instanceof UserError, String(error));
  t.regex(error!.message, /no-such-file\.tar\.gz.*does not exist/);
  t.deepEqual(await remoteEntries(area), before);
});

contract('a name that would leave the area is refused before anything is written', async (t, kind, transport) => {
  const file = path.join(work, 'escape.bin');
  writeFileSync(file, 'x');
  for (const name of ['../escape.bin', '/abs.bin', 'a//b.bin', 'a/./b.bin', '']) {
    const error = await t.throwsAsync(transport.upload({ file }, area, name), undefined, name);
    t.true(error instanceof UserError, `${kind} ${name}: ${String(error)}`);
  }
});

const mountOnly = isRoot() ? test.serial : test.skip;

mountOnly('mount: an SFTP frontend that does not answer gives GridUnreachableError and no mount', async (t) => {
  if (!available(t, 'mount')) return;
  const [deadPort] = await freePorts(1);
  const transport = makeTransport('mount', { sftpPort: deadPort });
  const file = path.join(work, 'nosftp.bin');
  writeFileSync(file, 'x');
  const error = await t.throwsAsync(transport.upload({ file }, area, 'nosftp.bin'));
  t.true(error instanceof GridUnreachableError, String(error));
  await transport.close();
  assertNothingLeft(t);
  t.false((await remoteEntries(area)).includes('nosftp.bin'));
});

mountOnly('mount: a key the SFTP account does not list is refused with a clear error and no mount', async (t) => {
  if (!available(t, 'mount')) return;
  const stranger = path.join(work, 'stranger-key');
  await runner.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
  const file = path.join(work, 'stranger.bin');
  writeFileSync(file, 'x');
  const error = await t.throwsAsync(makeTransport('mount', { keyFile: stranger }).upload({ file }, area, 'stranger.bin'));
  t.true(error instanceof SysbackError && !(error instanceof GridUnreachableError), String(error));
  t.regex(error!.message, /Permission denied|sshfs/);
  t.regex((error as SysbackError).hint ?? '', /SFTP account does not list this key/);
  assertNothingLeft(t);
  t.false((await remoteEntries(area)).includes('stranger.bin'));
});

mountOnly('mount: an impostor host key on the SFTP port is refused before anything is sent', async (t) => {
  if (!available(t, 'mount')) return;
  const impostor = path.join(work, 'impostor-host-key');
  await runner.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', impostor]);
  const knownHosts = path.join(work, 'impostor-known-hosts');
  const impostorKey = readFileSync(`${impostor}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(knownHosts, `[127.0.0.1]:${frontend.port} ${impostorKey}\n`);
  const file = path.join(work, 'impostor.bin');
  writeFileSync(file, 'x');
  const error = await t.throwsAsync(makeTransport('mount', { knownHostsFile: knownHosts }).upload({ file }, area, 'impostor.bin'));
  t.true(error instanceof SysbackError && !(error instanceof GridUnreachableError), String(error));
  t.regex(error!.message, /host key the known_hosts file does not list/);
  assertNothingLeft(t);
  t.false((await remoteEntries(area)).includes('impostor.bin'));
});

mountOnly('mount: a directory other than the SFTP root is refused with a hint', async (t) => {
  if (!available(t, 'mount')) return;
  const other = await api.mkdir();
  const file = path.join(work, 'other.bin');
  writeFileSync(file, 'x');
  const error = await t.throwsAsync(makeTransport('mount').upload({ file }, other, 'x.bin'));
  t.true(error instanceof UserError);
  t.regex(error!.message, /only the area its SFTP account is rooted at/);
  t.false(error!.message.includes('URI:'), 'no cap in the message');
  assertNothingLeft(t);
});

// A caller killed with SIGTERM in the middle of a mount upload: its handlers stop rsync, unmount and
// unlink rsync's placeholder before it dies. The caller is a real separate node process.
const CALLER = `
import { createReadStream } from 'node:fs';
import { createLog } from ${JSON.stringify(path.resolve('core/log.ts'))};
import { createRunner } from ${JSON.stringify(path.resolve('core/runner.ts'))};
import { createMountTransport } from ${JSON.stringify(path.resolve('grid/mount-transport.ts'))};
import { TahoeWebApi } from ${JSON.stringify(path.resolve('grid/webapi.ts'))};
const o = JSON.parse(process.env.SYSBACK_TEST_TRANSPORT);
const transport = createMountTransport({ ...o, api: new TahoeWebApi(o.webPort), runner: createRunner(createLog({ level: 'warn' })) });
await transport.upload({ file: o.file }, o.rootCap, 'sigterm/big.bin');
`;

mountOnly('mount: a caller killed with SIGTERM mid-upload leaves no mount, no sshfs, no rsync and no placeholder', async (t) => {
  if (!available(t, 'mount')) return;
  const file = path.join(work, 'big.bin');
  writeFileSync(file, randomBytes(50 * 1024 * 1024));
  const settings = {
    webPort: new URL(api.base).port,
    sftpPort: frontend.port,
    user: frontend.user,
    keyFile: frontend.keyFile,
    knownHostsFile: frontend.knownHostsFile,
    mountPoint,
    rootCap: area,
    file,
  };
  const pid = runner.start([process.execPath, '--import', 'tsx', '--input-type=module', '-e', CALLER], {
    logFile: path.join(parent, 'sigterm-caller.log'),
    env: { SYSBACK_TEST_TRANSPORT: JSON.stringify(settings) },
    cwd: process.cwd(),
  });
  const alive = () => isOurProcess(pid, '--input-type=module');
  // kill it once rsync is copying through the mount
  const deadline = Date.now() + 60_000;
  while (!processesMentioning(file).some((p) => p.cmdline.startsWith('rsync'))) {
    if (Date.now() > deadline || !alive()) break;
    await sleep(50);
  }
  t.true(mountsUnder(deviceRoot).length > 0, `the caller had mounted the area: ${readFileSync(path.join(parent, 'sigterm-caller.log'), 'utf8')}`);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300 && alive(); i++) await sleep(100);
  t.false(alive(), 'the caller exited after cleaning up');
  assertNothingLeft(t);
  t.deepEqual(processesMentioning(file), [], 'no rsync remains');
  const left = (await api.list(area, 'sigterm').catch(() => [])).map((e) => e.name);
  t.deepEqual(left.filter((n) => n !== 'big.bin'), [], 'no rsync placeholder is left in the area');
});

// Last: the node goes down for good.
for (const kind of KINDS) {
  const run = isRoot() ? test.serial : test.skip;
  run(`${kind}: a node that is down gives GridUnreachableError and leaves no mount`, async (t) => {
    if (!available(t, kind)) return;
    await stopNode(nodeDir);
    const transport = makeTransport(kind);
    const file = path.join(work, 'down.bin');
    writeFileSync(file, randomBytes(1000));
    const up = await t.throwsAsync(transport.upload({ file }, area, 'down.bin'));
    t.true(up instanceof GridUnreachableError, String(up));
    const target = path.join(work, `down-${kind}.bin`);
    const down = await t.throwsAsync(transport.download(area, 'five-webapi.bin', target));
    t.true(down instanceof GridUnreachableError, String(down));
    t.false(existsSync(target));
    await transport.close();
    assertNothingLeft(t);
  });
}
