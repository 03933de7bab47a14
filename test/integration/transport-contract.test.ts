// The ONE contract suite of grid/transport.ts (DESIGN §4.2, the restic model): the cases of
// test/support/transport-contract-cases.ts run against both transports on the real shared grid (and,
// in test/unit/grid/transport-contract.test.ts, against the in-memory grid), plus the mount-only cases below. A dedicated client node (its own web and SFTP
// ports) serves both, with the SFTP frontend rooted at a private directory made for this file; the
// mount transport mounts it at DEVICE.mount('private') under a per-file root. After every case no
// mount remains under that root and no sshfs process mentions it. The last cases stop the node.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
import { registerContractCases, registerNodeDownCases, type ContractEnvironment } from '../support/transport-contract-cases.ts';
import { hasProgram, testUnless } from '../support/skip.ts';
import { isRoot } from '../support/target.ts';

const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-transport-'));
const deviceRoot = path.join(parent, 'root');
const mountPoint = underRoot(deviceRoot, DEVICE.mount('private'));
const nodeDir = path.join(parent, 'node');
const work = path.join(parent, 'work');
const runner: Runner = createRunner(createLog({ level: 'warn' }));
// known before the tests are registered, so a missing program is a visible skip
const missingPrograms: string[] = [];
for (const program of ['sshfs', 'rsync', 'fusermount3', 'ssh-keygen']) {
  if (!hasProgram(program)) missingPrograms.push(program);
}
const NEEDS_ROOT = 'transport contract tests need root (sysroot namespaces, FUSE)';
/** The test function for a case over `kind`: skipped, with the reason, where it cannot run. */
function testFor(kind: TransportKind) {
  return testUnless(
    [!isRoot(), NEEDS_ROOT],
    [kind === 'mount' && missingPrograms.length > 0, `the mount transport needs ${missingPrograms.join(', ')} on this host (npx tsx scripts/host-tools.ts)`],
  ).serial;
}

let grid: TestGrid | undefined;
let api: TahoeWebApi;
let area: string;
let frontend: SftpFrontend;

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

const KINDS: TransportKind[] = ['webapi', 'mount'];

function assertNothingLeft(t: ExecutionContext) {
  t.deepEqual(mountsUnder(deviceRoot), [], 'no mount remains under the device root');
  t.deepEqual(processesMentioning(mountPoint), [], 'no sshfs process remains');
}

async function remoteEntries(dirCap: string, name?: string): Promise<string[]> {
  return (await api.list(dirCap, name)).map((e) => e.name);
}

const environment: ContractEnvironment = {
  kinds: KINDS,
  skipReason: (kind) =>
    !isRoot() ? NEEDS_ROOT : kind === 'mount' && missingPrograms.length > 0 ? `the mount transport needs ${missingPrograms.join(', ')} on this host (npx tsx scripts/host-tools.ts)` : undefined,
  api: () => api,
  area: () => area,
  work,
  transport: (kind) => makeTransport(kind),
  assertNothingLeft,
  stopNode: async () => {
    await stopNode(nodeDir);
  },
};

registerContractCases(test, environment);

const mountOnly = testFor('mount');

mountOnly('mount: an SFTP frontend that does not answer gives GridUnreachableError and no mount', async (t) => {
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
registerNodeDownCases(test, environment);
