import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultBuildConfig } from '../../../builder/build-config.ts';
import { readOverlaySources } from '../../../builder/overlay-sources.ts';
import { computePlan, DEFAULT_SOURCE_DATE_EPOCH, type Plan, type PlanEntry } from '../../../builder/plan.ts';
import { DEVICE_PACKAGES } from '../../../builder/target-rootfs.ts';
import { validateDeviceConfig } from '../../../core/config/device-config.ts';
import { DEVICE } from '../../../core/device-paths.ts';
import { UserError } from '../../../core/errors.ts';
import { tcpGrid, torGrid } from '../../support/grid-fixture.ts';

const overlaysDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../overlays');
const overlay = readOverlaySources(overlaysDir, ['base', 'image', 'tor']);

function plan(grid = tcpGrid, overrides = {}): Plan {
  return computePlan(grid, { config: defaultBuildConfig(overrides), overlay, appBundle: '/build/dist/sysback.mjs' });
}

function entry(p: Plan, devicePath: string): PlanEntry {
  const found = p.entries.find((e) => e.path === devicePath);
  if (!found) throw new Error(`no plan entry ${devicePath}`);
  return found;
}

function content(p: Plan, devicePath: string): string {
  const e = entry(p, devicePath);
  if (e.kind !== 'file') throw new Error(`${devicePath} is a ${e.kind}`);
  return e.content;
}

function unitLine(unit: string, key: string): string[] {
  return unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

test('the device config carries the grid, the transport and the backup defaults (240 h, 5 generations)', (t) => {
  const config = JSON.parse(content(plan(), '/etc/sysback/sysback.json'));
  t.deepEqual(config.grid, tcpGrid);
  t.is(config.transport, 'webapi');
  t.deepEqual(config.backup, { intervalHours: 240, retention: 5 });
  t.is(config.tahoe.reservedSpace, '1G');
  t.like(entry(plan(), '/etc/sysback/sysback.json'), { kind: 'file', mode: 0o600, uid: 0, gid: 0 });
});

test('build.json values reach the device config and the hostname', (t) => {
  const p = plan(tcpGrid, { intervalHours: 12, retention: 9, reservedSpace: '5G', transport: 'mount', hostname: 'gw-7' });
  const config = JSON.parse(content(p, '/etc/sysback/sysback.json'));
  t.deepEqual(config.backup, { intervalHours: 12, retention: 9 });
  t.is(config.transport, 'mount');
  t.is(config.tahoe.reservedSpace, '5G');
  t.is(content(p, '/etc/hostname'), 'gw-7\n');
  t.regex(content(p, '/etc/hosts'), /127\.0\.1\.1\tgw-7/);
});

test('files.txt lists the default paths and always /var/spool/cron', (t) => {
  const lines = content(plan(), '/etc/sysback/files.txt').split('\n').filter((l) => l && !l.startsWith('#'));
  for (const p of ['/etc/hostname', '/etc/hosts', '/etc/sysback', '/etc/network', '/etc/systemd/network', '/etc/nftables.conf', '/etc/wireguard', '/etc/tor', '/root/.ssh', '/var/spool/cron']) {
    t.true(lines.includes(p), p);
  }
  t.true(lines.some((l) => l.startsWith('/etc/ssh/ssh_host_')));
});

test('the app is copied from the bundle, the wrapper execs node, both executable and root-owned', (t) => {
  const p = plan();
  const app = entry(p, '/usr/lib/sysback/sysback.mjs');
  t.is(app.kind, 'copy');
  t.like(app, { source: '/build/dist/sysback.mjs', mode: 0o755, uid: 0, gid: 0 });
  const wrapper = entry(p, '/usr/bin/sysback');
  t.like(wrapper, { kind: 'file', mode: 0o755, uid: 0, gid: 0 });
  t.regex(content(p, '/usr/bin/sysback'), /^exec node (--max-semi-space-size=\d+ )?\/usr\/lib\/sysback\/sysback\.mjs "\$@"$/m);
});

test("the device app's chunks are copied into /usr/lib/sysback/chunks/, readable, root-owned", (t) => {
  const p = computePlan(tcpGrid, {
    config: defaultBuildConfig(),
    overlay,
    appBundle: '/build/dist/device/sysback.mjs',
    appChunks: ['/build/dist/device/chunks/chunk-A.mjs', '/build/dist/device/chunks/run-backup-B.mjs'],
  });
  t.like(entry(p, '/usr/lib/sysback/sysback.mjs'), { kind: 'copy', source: '/build/dist/device/sysback.mjs' });
  t.like(entry(p, '/usr/lib/sysback/chunks/chunk-A.mjs'), { kind: 'copy', source: '/build/dist/device/chunks/chunk-A.mjs', uid: 0, gid: 0 });
  t.like(entry(p, '/usr/lib/sysback/chunks/run-backup-B.mjs'), { kind: 'copy', source: '/build/dist/device/chunks/run-backup-B.mjs' });
  t.like(entry(p, '/usr/lib/sysback/chunks'), { kind: 'dir', mode: 0o755 });
  t.is((entry(p, '/usr/lib/sysback/chunks/chunk-A.mjs') as { mode: number }).mode & 0o444, 0o444);
});

test('the first-boot unit owns the console before every getty, after the network, and is skipped once configured', (t) => {
  const unit = content(plan(), '/etc/systemd/system/sysback-firstboot.service');
  const before = unitLine(unit, 'Before').join(' ').split(' ');
  for (const u of ['getty-pre.target', 'getty.target', 'getty@tty1.service', 'serial-getty@ttyS0.service', 'systemd-user-sessions.service']) t.true(before.includes(u), u);
  t.deepEqual(unitLine(unit, 'After'), ['network-online.target']);
  t.true(unitLine(unit, 'Wants')[0]!.split(' ').includes('getty-pre.target'));
  t.true(unitLine(unit, 'Wants')[0]!.split(' ').includes('network-online.target'));
  for (const [k, v] of [['StandardInput', 'tty'], ['TTYPath', '/dev/console'], ['TTYReset', 'yes'], ['TTYVHangup', 'yes'], ['TimeoutStartSec', 'infinity'], ['Type', 'oneshot'], ['RemainAfterExit', 'yes'], ['ExecStart', '/usr/bin/sysback firstboot']]) {
    t.deepEqual(unitLine(unit, k!), [v], k);
  }
  t.deepEqual(unitLine(unit, 'ConditionPathExists'), ['|!/var/lib/sysback/state.json']);
  t.deepEqual(unitLine(unit, 'ConditionKernelCommandLine'), ['|sysback.mode=recover']);
  // status output muted while asking (systemd(1): SIGRTMIN+21 off, SIGRTMIN+20 on)
  t.deepEqual(unitLine(unit, 'ExecStartPre'), ['-/usr/bin/kill -s SIGRTMIN+21 1']);
  t.deepEqual(unitLine(unit, 'ExecStartPost'), ['-/usr/bin/kill -s SIGRTMIN+20 1']);
  t.deepEqual(unitLine(unit, 'ExecStopPost'), ['-/usr/bin/kill -s SIGRTMIN+20 1']);
  t.notRegex(unit, /tor@default/);
});

test('over Tor the first-boot unit and the Tahoe nodes wait for tor; over TCP they do not', (t) => {
  const tor = plan(torGrid);
  t.deepEqual(unitLine(content(tor, '/etc/systemd/system/sysback-firstboot.service'), 'After'), ['network-online.target tor@default.service']);
  const tahoe = content(tor, '/etc/systemd/system/sysback-tahoe@.service');
  t.deepEqual(unitLine(tahoe, 'Requires'), ['tor@default.service']);
  t.regex(unitLine(tahoe, 'After')[0]!, /tor@default\.service/);
  const plain = content(plan(), '/etc/systemd/system/sysback-tahoe@.service');
  t.deepEqual(unitLine(plain, 'Requires'), []);
  t.notRegex(plain, /tor@default/);
  t.deepEqual(unitLine(plain, 'ExecStart'), ['/usr/bin/tahoe run --allow-stdin-close /var/lib/sysback/tahoe/%i']);
});

test('stale-pidfile-after-power-cut: every start of a Tahoe node first removes the running.process a dead node left', (t) => {
  for (const grid of [tcpGrid, torGrid]) {
    const unit = content(plan(grid), '/etc/systemd/system/sysback-tahoe@.service');
    t.is(unitLine(unit, 'ExecStartPre')[0], '/bin/rm -f /var/lib/sysback/tahoe/%i/running.process');
  }
});

test('the torrc fragment exists only for a Tor grid and uses the grid\'s explicit ports', (t) => {
  t.false(plan().entries.some((e) => e.path.startsWith('/etc/tor')));
  const torrc = content(plan(torGrid), '/etc/tor/torrc.d/sysback.conf');
  t.regex(torrc, /^SocksPort 39050$/m);
  t.regex(torrc, /^ControlPort 127\.0\.0\.1:39051$/m);
  t.regex(content(plan(torGrid), '/etc/tor/torrc'), /^%include \/etc\/tor\/torrc\.d\/\*\.conf$/m);
  t.true(plan(torGrid).layers.includes('tor'));
});

test('a private test network: its authorities, and the relay proxy when grid.json names one', (t) => {
  const line = `a1 orport=5000 v3ident=${'A'.repeat(40)} 127.0.0.1:5001 ${'B'.repeat(40)}`;
  const withProxy = { ...torGrid, tor: { ...torGrid.tor!, testNetwork: { dirAuthorities: [line], socks5Proxy: '10.0.2.100:1080' } } };
  const torrc = content(plan(withProxy), '/etc/tor/torrc.d/sysback.conf');
  t.regex(torrc, /^TestingTorNetwork 1$/m);
  t.regex(torrc, new RegExp(`^DirAuthority ${line}$`, 'm'));
  t.regex(torrc, /^Socks5Proxy 10\.0\.2\.100:1080$/m);
  const without = content(plan({ ...torGrid, tor: { ...torGrid.tor!, testNetwork: { dirAuthorities: [line] } } }), '/etc/tor/torrc.d/sysback.conf');
  t.notRegex(without, /Socks5Proxy/);
  t.notRegex(content(plan(torGrid), '/etc/tor/torrc.d/sysback.conf'), /TestingTorNetwork|Socks5Proxy/);
});

test('units: the hook and the nodes enabled, systemd-firstboot masked; tor masked only for test images', (t) => {
  const p = plan();
  t.true(p.units.enable.includes('sysback-firstboot.service'));
  t.true(p.units.enable.includes('sysback-tahoe@private.service'));
  t.true(p.units.enable.includes('sysback-card-at-login.service'));
  t.deepEqual(p.units.mask, ['systemd-firstboot.service']);
  t.deepEqual(plan(tcpGrid, { maskTor: true }).units.mask, ['systemd-firstboot.service', 'tor.service', 'tor@default.service']);
});

test('the card at the login prompt: agetty reads /etc/issue.d, whose link points into /run, where the unit writes the card before any getty starts', (t) => {
  const p = plan();
  const link = entry(p, '/etc/issue.d/50-sysback-recovery-card.issue');
  t.like(link, { kind: 'symlink', target: DEVICE.cardIssue });
  const unit = content(p, '/etc/systemd/system/sysback-card-at-login.service');
  t.regex(unit, new RegExp(`^ConditionPathExists=${DEVICE.cardAtLogin}$`, 'm'));
  t.regex(unit, /^Before=getty-pre\.target$/m);
  t.true(unit.includes(`> ${DEVICE.cardIssue}'`), 'it writes where the link points');
  t.true(unit.includes(`cat ${DEVICE.recoveryCard};`));
  t.regex(unit, new RegExp(`^ExecStart=/bin/rm -f ${DEVICE.cardAtLogin}$`, 'm'), 'once: the marker goes');
});

test('packages: the device list plus the boot packages; kernel command line quiet with the serial console last', (t) => {
  const p = plan(tcpGrid, { extraPackages: ['nftables'] });
  for (const pkg of [...DEVICE_PACKAGES, 'linux-image-amd64', 'udev', 'login', 'e2fsprogs', 'dbus', 'systemd-boot-efi', 'nftables']) t.true(p.packages.includes(pkg), pkg);
  t.deepEqual([...p.packages].sort(), p.packages);
  t.true(p.kernelCmdline.includes('quiet'));
  const consoles = p.kernelCmdline.filter((w) => w.startsWith('console='));
  t.is(consoles.at(-1), 'console=ttyS0,115200');
});

test('the boot menu has a "Recover this router from the grid" entry adding sysback.mode=recover', (t) => {
  const [normal, recover] = plan().boot.entries;
  t.notRegex(normal!.options, /sysback\.mode/);
  t.is(recover!.title, 'Recover this router from the grid');
  t.is(recover!.options, `${normal!.options} sysback.mode=recover`);
});

test('every entry is root-owned, sorted, with explicit parent directories, no template suffix left', (t) => {
  const p = plan(torGrid);
  const paths = p.entries.map((e) => e.path);
  t.deepEqual([...paths].sort(), paths);
  for (const e of p.entries) {
    t.is(e.uid, 0);
    t.is(e.gid, 0);
    const parent = path.posix.dirname(e.path);
    if (parent !== '/') t.true(paths.includes(parent), `parent of ${e.path}`);
  }
  t.false(paths.some((x) => x.endsWith('.mustache')));
  t.is(p.sourceDateEpoch, DEFAULT_SOURCE_DATE_EPOCH);
});

test('overlay-only plans list no image outputs', (t) => {
  const p = computePlan(tcpGrid, { config: defaultBuildConfig(), overlay, appBundle: 'x', overlayOnly: true });
  t.deepEqual(p.outputs, ['overlay/', 'overlay.tar.gz', 'plan.json']);
  t.true(plan().outputs.includes('disk.img'));
});

test('a layer that was not read is refused', (t) => {
  const baseOnly = readOverlaySources(overlaysDir, ['base', 'image']);
  t.throws(() => computePlan(torGrid, { config: defaultBuildConfig(), overlay: baseOnly, appBundle: 'x' }), { instanceOf: UserError, message: /tor/ });
});

test('the rendered device config validates against the device config schema, for TCP and Tor grids', (t) => {
  for (const grid of [tcpGrid, torGrid]) {
    const result = validateDeviceConfig(JSON.parse(content(plan(grid), '/etc/sysback/sysback.json')));
    t.true(result.ok, JSON.stringify(result));
  }
});
