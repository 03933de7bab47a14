// Bad input to the two flows on a real grid (issue 4, "Bad input"): each case gets a one-line error
// ("sysback: ..."), its documented exit code (core/errors.ts EXIT) and leaves the router it ran on
// unconfigured: no state file, no restored file. One configured router A serves every case; the
// recovering router B is reused from case to case (a failed recovery can simply be run again, which
// the last case proves by recovering B for real once the hostile archives are gone).
// Named fixtures: the hostile archives ("dot-dot escape", "absolute symlink escape", "device node")
// are built inline with GNU tar and planted as A's newest generation through the grid's gateway.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CRON_MARKER } from '../../firstboot/cron-entry.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { EXIT } from '../../core/errors.ts';
import { freePorts } from '../../core/ports.ts';
import type { RunResult } from '../../core/runner.ts';
import type { Manifest } from '../../backup/manifest.ts';
import { decryptIdentity } from '../../grid/identity.ts';
import { SimulatedRouter } from '../support/router.ts';
import { sharedGrid, type TestGrid } from '../support/shared-grid.ts';

const PASSWORD = 'plum-kettle-orbit-Saturn-91';
const STAMP = Date.now().toString(36);
const ALIAS = `bad-a-${STAMP}`;
const FILES_TXT = '/etc/hostname\n/etc/sysback\n/etc/myapp\n/var/spool/cron\n';
/** incompressible, so the archive is as large as the file (the full-disk case sizes a tmpfs by it) */
const BLOB_BYTES = 4 * 1024 * 1024;

let grid: TestGrid;
let a: SimulatedRouter;
let b: SimulatedRouter;
const others: SimulatedRouter[] = [];

async function router(name: string, options: { grid?: boolean } = {}): Promise<SimulatedRouter> {
  const r = await SimulatedRouter.create(name, options.grid === false ? {} : { grid: grid.grid, transport: 'webapi' });
  others.push(r);
  return r;
}

function answers(r: SimulatedRouter, body: Record<string, unknown>): void {
  r.write('/root/answers.json', JSON.stringify(body), 0o600);
}

function recover(r: SimulatedRouter, body: Record<string, unknown>, extra: string[] = []): Promise<RunResult> {
  answers(r, { mode: 'recover', ...body });
  return r.sysback(['recover', '--answers', '/root/answers.json', '--no-reboot', ...extra]);
}

/** The last "sysback: ..." line: the one-line error, with its hint on the line after it. */
function errorLine(run: RunResult): string {
  return run.stderr.split('\n').filter((l) => l.startsWith('sysback: ')).at(-1) ?? '';
}

/** The case failed as documented: its exit code, one error line with a hint, no stack, and nothing restored. */
function assertRefused(t: ExecutionContext, r: SimulatedRouter, run: RunResult, code: number, reason: RegExp): void {
  t.log(`exit ${run.exitCode}: ${errorLine(run)}`);
  t.is(run.exitCode, code, run.stderr);
  t.regex(errorLine(run), reason, run.stderr);
  t.regex(run.stderr, /^ {2}hint: /m, 'a hint follows the error');
  t.false(/^\s+at .*\(.*:\d+:\d+\)$/m.test(run.stderr), 'no stack trace');
  t.false(run.stderr.includes(PASSWORD), 'the password is never printed');
  t.false(r.exists(DEVICE.state), 'no state file');
  t.false(r.exists('/etc/myapp'), 'no restored file');
  t.false(r.exists(DEVICE.staging), 'no staging area left behind');
}

function privateCap(r: SimulatedRouter, name = 'sysback-private'): string {
  const cap = new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(r.read(`${DEVICE.tahoe('private')}/private/aliases`))?.[1];
  if (!cap) throw new Error(`the router has no ${name} alias`);
  return cap;
}

let aPrivate: string;
let aPublic: string;
let originalManifest: Buffer;
let originalLatest: string;

test.before(async () => {
  grid = await sharedGrid();
  a = await SimulatedRouter.create('bad-a', { grid: grid.grid, transport: 'webapi' });
  a.write('/etc/hostname', 'router-a\n');
  a.write(DEVICE.filesList, FILES_TXT);
  a.write('/etc/myapp/app.conf', 'listen = 8080\n');
  a.write('/etc/myapp/blob.bin', randomBytes(BLOB_BYTES));
  answers(a, { mode: 'new', alias: ALIAS, password: PASSWORD });
  const run = await a.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
  if (run.exitCode !== 0) throw new Error(`router A could not be configured: ${run.stderr}`);
  aPrivate = privateCap(a);
  // the router keeps only its identity directory's read cap; the write cap is inside the identity
  const aPublicRead = privateCap(a, 'sysback-public');
  if (!aPublicRead.startsWith('URI:DIR2-RO:')) throw new Error('router A keeps a write cap to its identity directory on disk');
  const linked = (await grid.api.info(grid.grid.publicDirectory, ALIAS))!;
  aPublic = (await decryptIdentity((await grid.api.getBytes(linked.readCap, 'identity.asc')).toString(), PASSWORD)).public.dircap;
  originalManifest = await grid.api.getBytes(aPrivate, 'manifest.json');
  originalLatest = (await grid.api.info(aPrivate, 'SysBackup.tar.gz'))!.readCap;
  b = await SimulatedRouter.create('bad-b', { grid: grid.grid, transport: 'webapi' });
});

test.after.always(async () => {
  for (const r of [b, a, ...others]) await r?.destroy().catch(() => {});
  await grid?.release();
});

test.serial('wrong password: refused, exit 12, nothing written', async (t) => {
  const run = await recover(b, { alias: ALIAS, password: 'plum-kettle-orbit-Saturn-92' });
  assertRefused(t, b, run, EXIT.wrongPassword, /wrong password, 1 time; nothing was changed/);
});

test.serial('unknown alias: exit 13 naming the alias, nothing written', async (t) => {
  const run = await recover(b, { alias: `nobody-${STAMP}`, password: PASSWORD });
  assertRefused(t, b, run, EXIT.unknownAlias, new RegExp(`no identity is published under the alias "nobody-${STAMP}"`));
});

test.serial('unknown recovery card (a read cap of a directory that holds no identity): exit 13', async (t) => {
  const empty = await grid.api.mkdir();
  const readCap = (await grid.api.info(empty))!.readCap;
  const run = await recover(b, { recoveryCard: readCap, password: PASSWORD });
  assertRefused(t, b, run, EXIT.unknownAlias, /no identity can be read at the recovery card/);
});

test.serial("identity file tampered (one character of A's identity.asc changed): exit 14, nothing written", async (t) => {
  const original = (await grid.api.getBytes(aPublic, 'identity.asc')).toString('utf8');
  const lines = original.split('\n');
  const middle = Math.floor(lines.length / 2);
  const line = lines[middle]!;
  lines[middle] = `${line.slice(0, 10)}${line[10] === 'A' ? 'B' : 'A'}${line.slice(11)}`;
  await grid.api.put(lines.join('\n'), { dirCap: aPublic, name: 'identity.asc' });
  try {
    const run = await recover(b, { alias: ALIAS, password: PASSWORD });
    assertRefused(t, b, run, EXIT.corrupt, /damaged|tampered/);
  } finally {
    await grid.api.put(original, { dirCap: aPublic, name: 'identity.asc' });
  }
});

test.serial('recover --dry-run lists what would change and writes nothing', async (t) => {
  const run = await recover(b, { alias: ALIAS, password: PASSWORD }, ['--dry-run']);
  t.is(run.exitCode, 0, run.stderr);
  t.regex(run.stdout, /^add\s+\/etc\/myapp\/app\.conf$/m);
  t.regex(run.stdout, /^add\s+\/etc\/myapp\/blob\.bin$/m);
  t.regex(run.stdout, /\d+ to add, \d+ to change, \d+ unchanged/);
  t.notRegex(run.stdout, /would reboot/);
  t.regex(run.stderr, /Dry run: nothing under the root was changed/);
  t.false(b.exists(DEVICE.state));
  t.false(b.exists('/etc/myapp'));
  t.false(b.exists(DEVICE.staging));
  t.false(b.exists(`${DEVICE.stateDir}/restore`), 'the downloaded archive is removed');
  t.false(b.exists(DEVICE.tahoe('private')), 'no private node made: the old directory was read through the public node');
});

// ---- hostile archives, planted as A's newest generation (someone holding A's private write cap) ----

type Fixture = (dir: string) => string[][];

/** Named fixtures: each lays its tree in `dir` and returns the GNU tar runs (argv after `tar`) that make out.tar. */
const HOSTILE: Record<string, { build: Fixture; reason: RegExp }> = {
  'dot-dot escape (etc/myapp/../../../root/escaped.txt)': {
    reason: /\.\./,
    build: (dir) => {
      mkdirSync(path.join(dir, 'etc/myapp'), { recursive: true });
      writeFileSync(path.join(dir, 'etc/myapp/app.conf'), 'listen = 6666\n');
      writeFileSync(path.join(dir, 'escaped.txt'), 'outside the root\n');
      return [['-c', '-P', '-f', 'out.tar', '-C', dir, '--transform', 's,^escaped\\.txt$,etc/myapp/../../../root/escaped.txt,', 'etc/myapp/app.conf', 'escaped.txt']];
    },
  },
  'absolute symlink escape (etc/myapp/keys -> /root/.ssh, then a file written through it)': {
    reason: /refusing archive entry/,
    build: (dir) => {
      mkdirSync(path.join(dir, 'one/etc/myapp'), { recursive: true });
      symlinkSync('/root/.ssh', path.join(dir, 'one/etc/myapp/keys'));
      mkdirSync(path.join(dir, 'two/etc/myapp/keys'), { recursive: true });
      writeFileSync(path.join(dir, 'two/etc/myapp/keys/authorized_keys'), 'ssh-ed25519 AAAA attacker\n');
      return [
        ['-c', '-f', 'out.tar', '-C', path.join(dir, 'one'), 'etc/myapp/keys'],
        ['-r', '-f', 'out.tar', '-C', path.join(dir, 'two'), 'etc/myapp/keys/authorized_keys'],
      ];
    },
  },
  'device node (etc/myapp/mem, a character device 1,1)': {
    reason: /device|type/,
    build: (dir) => {
      mkdirSync(path.join(dir, 'etc/myapp'), { recursive: true });
      writeFileSync(path.join(dir, 'etc/myapp/app.conf'), 'listen = 6666\n');
      execFileSync('mknod', [path.join(dir, 'etc/myapp/mem'), 'c', '1', '1']);
      return [['-c', '-f', 'out.tar', '-C', dir, 'etc/myapp/app.conf', 'etc/myapp/mem']];
    },
  },
};

/** Builds a fixture into a .tar.gz and plants it in A's private area as the newest generation. */
async function plant(fixture: Fixture, second: number): Promise<string> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'sysback-hostile-'));
  try {
    const tree = path.join(work, 'tree');
    mkdirSync(tree);
    for (const argv of fixture(tree)) execFileSync('tar', argv, { cwd: work, stdio: 'pipe' });
    execFileSync('gzip', ['-n', 'out.tar'], { cwd: work });
    const bytes = readFileSync(path.join(work, 'out.tar.gz'));
    const listing = execFileSync('tar', ['-tzvf', 'out.tar.gz'], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const name = `SysBackup-20991231T0000${String(second).padStart(2, '0')}Z.tar.gz`;
    const archives = (await grid.api.info(aPrivate, 'archives'))!.writeCap!;
    const cap = await grid.api.put(bytes, { dirCap: archives, name });
    await grid.api.link(aPrivate, 'SysBackup.tar.gz', cap);
    const manifest = JSON.parse(originalManifest.toString('utf8')) as Manifest;
    const latest = manifest.generations[0]!;
    manifest.generations.unshift({
      ...latest,
      name,
      created: `2099-12-31T00:00:${String(second).padStart(2, '0')}.000Z`,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      entries: listing.trim().split('\n').length,
    });
    await grid.api.put(JSON.stringify(manifest, null, 2), { dirCap: aPrivate, name: 'manifest.json' });
    return listing;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

let second = 0;
for (const [name, fixture] of Object.entries(HOSTILE)) {
  test.serial(`hostile archive refused, exit 15, nothing written: ${name}`, async (t) => {
    second += 1;
    const listing = await plant(fixture.build, second);
    t.log(listing.trim());
    const run = await recover(b, { alias: ALIAS, password: PASSWORD });
    assertRefused(t, b, run, EXIT.unsafeArchive, fixture.reason);
    t.false(b.exists('/root/escaped.txt'));
    t.false(b.exists('/root/.ssh/authorized_keys'));
  });
}

test.serial('after all those refusals, the same router B recovers for real once the hostile generations are gone', async (t) => {
  await grid.api.put(originalManifest, { dirCap: aPrivate, name: 'manifest.json' });
  await grid.api.link(aPrivate, 'SysBackup.tar.gz', originalLatest);
  const run = await recover(b, { alias: ALIAS, password: PASSWORD });
  t.is(run.exitCode, 0, run.stderr);
  t.is(b.read('/etc/myapp/app.conf'), 'listen = 8080\n');
  t.deepEqual(readFileSync(b.path('/etc/myapp/blob.bin')), readFileSync(a.path('/etc/myapp/blob.bin')));
  t.true(b.exists(DEVICE.state));
  t.is(b.read(DEVICE.rootCrontab).split('\n').filter((l) => l === CRON_MARKER).length, 1);
  // a fresh identity directory, named by the alias and by B's new recovery card; A's is left behind
  const moved = (await grid.api.info(grid.grid.publicDirectory, ALIAS))!.readCap;
  t.not(moved, (await grid.api.info(aPublic))!.readCap, 'the alias moved to a fresh identity directory');
  t.true(b.read(DEVICE.recoveryCard).includes(moved), 'the new card names it');
  t.true(privateCap(b, 'sysback-public').startsWith('URI:DIR2-RO:'), 'only its read cap is on disk');
});

// ---- the grid itself is the problem ------------------------------------------------------------

test.serial('introducers down (the fURLs point at ports nobody listens on): exit 10 or 11 with a hint, nothing written', async (t) => {
  const r = await router('bad-nogrid');
  const config = r.config();
  const dead = await freePorts(config.grid.introducers.length);
  // every location hint of a fURL (loopback, and the address booted images use) points at the dead port
  config.grid.introducers = config.grid.introducers.map((intro, i) => ({
    ...intro,
    furl: intro.furl.replace(/@([^/]+)\//, (_all, hints: string) => `@${hints.replace(/:\d+(?=,|$)/g, `:${dead[i]}`)}/`),
  }));
  config.tahoe.serverWaitSeconds = 5;
  r.write(DEVICE.config, JSON.stringify(config, null, 2));
  const run = await recover(r, { alias: ALIAS, password: PASSWORD });
  t.true(run.exitCode === EXIT.gridUnreachable || run.exitCode === EXIT.tooFewServers, run.stderr);
  assertRefused(t, r, run, run.exitCode, /storage servers|grid|reach/);
  t.regex(run.stderr, /hint: .*(introducer|grid|servers)/);
  await r.destroy();
});

test.serial('full disk: /var/lib/sysback on a tmpfs too small to stage the restore: exit 16, nothing half-applied', async (t) => {
  const r = await router('bad-full');
  const mountPoint = r.path(DEVICE.stateDir);
  mkdirSync(mountPoint, { recursive: true });
  // room for the two nodes, not for staging the backup (the download streams into staging, no copy
  // of the archive is kept: the free-space check wants the archive's size + 1 MiB)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil((BLOB_BYTES * 1.2) / 1024)}k,mode=0755`, 'sysback-test-full', mountPoint]);
  try {
    const run = await recover(r, { alias: ALIAS, password: PASSWORD });
    assertRefused(t, r, run, EXIT.noSpace, /space/);
    t.false(r.exists('/etc/myapp/app.conf'));
  } finally {
    await r.stopNodes();
    const umount = spawnSync('umount', [mountPoint], { encoding: 'utf8' });
    t.is(umount.status, 0, umount.stderr);
    await r.destroy();
  }
});

// ---- the "new" flow refuses, then resumes --------------------------------------------------------

test.serial('"new" with an alias already taken is refused (exit 2), a weak password too; a rerun with good answers resumes', async (t) => {
  const n = await router('bad-new');
  n.write(DEVICE.filesList, FILES_TXT);
  answers(n, { mode: 'new', alias: ALIAS, password: PASSWORD });
  const aliasBefore = (await grid.api.info(grid.grid.publicDirectory, ALIAS))?.readCap;
  t.truthy(aliasBefore);
  const taken = await n.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
  t.is(taken.exitCode, EXIT.usage, taken.stderr);
  t.regex(taken.stderr, new RegExp(`the alias "${ALIAS}" is already taken; choose another`));
  t.regex(errorLine(taken), /step "d\) identity file in the public area" failed/);
  t.false(n.exists(DEVICE.state));
  t.false(n.exists(DEVICE.recoveryCard));
  t.is((await grid.api.info(grid.grid.publicDirectory, ALIAS))?.readCap, aliasBefore, 'the alias still points where it did (B, recovered)');

  const fresh = `bad-n-${STAMP}`;
  answers(n, { mode: 'new', alias: fresh, password: 'password1' });
  const weak = await n.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
  t.is(weak.exitCode, EXIT.usage, weak.stderr);
  t.regex(errorLine(weak), /about 10\^\d+ guesses, below the 10\^10 needed/);
  t.false(weak.stderr.includes('password1'), 'the refused password is not repeated');
  t.false(n.exists(DEVICE.state));
  t.is(await grid.api.info(grid.grid.publicDirectory, fresh), undefined, 'nothing published under the alias');

  answers(n, { mode: 'new', alias: fresh, password: PASSWORD });
  const good = await n.sysback(['configure', '--answers', '/root/answers.json', '--no-reboot']);
  t.is(good.exitCode, 0, good.stderr);
  t.true(n.exists(DEVICE.state));
  t.is(n.read(DEVICE.rootCrontab).split('\n').filter((l) => l === CRON_MARKER).length, 1, 'three runs, one cron entry');
  t.truthy(await grid.api.info(grid.grid.publicDirectory, fresh));
});
