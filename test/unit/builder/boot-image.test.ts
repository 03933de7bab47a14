import test from 'ava';
import { GUEST_GRID_ADDRESS, nspawnArgv, qemuArgv } from '../../../builder/boot-image.ts';
import { UserError } from '../../../core/errors.ts';

test('qemu: restricted user network, one loopback-only forward per grid port, throwaway snapshot, UEFI', (t) => {
  const argv = qemuArgv({ disk: '/d/disk.img', vars: '/r/vars.fd', serial: { socket: '/r/s.sock', log: '/r/s.log' }, gridPorts: [3456, 41001], noReboot: true });
  const netdev = argv[argv.indexOf('-netdev') + 1]!;
  t.true(netdev.startsWith('user,id=n0,restrict=on'));
  t.deepEqual(netdev.match(/guestfwd=[^,]+/g), [
    `guestfwd=tcp:${GUEST_GRID_ADDRESS}:3456-cmd:socat - TCP:127.0.0.1:3456`,
    `guestfwd=tcp:${GUEST_GRID_ADDRESS}:41001-cmd:socat - TCP:127.0.0.1:41001`,
  ]);
  t.true(argv.includes('file=/d/disk.img,format=raw,if=virtio,snapshot=on'));
  t.true(argv.some((a) => a.includes('OVMF_CODE_4M.fd') && a.includes('readonly=on')));
  t.true(argv.includes('if=pflash,format=raw,unit=1,file=/r/vars.fd'));
  t.true(argv.includes('-no-reboot'));
  t.deepEqual(argv.slice(argv.indexOf('-accel'), argv.indexOf('-accel') + 2), ['-accel', 'tcg']);
  t.true(argv.includes('socket,id=ser0,path=/r/s.sock,server=on,wait=on,logfile=/r/s.log'));
});

test('qemu: the relay proxy forward, SSH from the host\'s loopback, KVM, and a reboot that restarts the guest', (t) => {
  const argv = qemuArgv({ disk: '/d/disk.img', vars: '/v', serial: 'stdio', forwards: [{ port: 1080, hostPort: 45123 }], sshPort: 2222, accel: 'kvm' });
  const netdev = argv[argv.indexOf('-netdev') + 1]!;
  t.deepEqual(netdev.match(/guestfwd=[^,]+/g), [`guestfwd=tcp:${GUEST_GRID_ADDRESS}:1080-cmd:socat - TCP:127.0.0.1:45123`]);
  // SSH is reached from the host's loopback only, never from another machine
  t.deepEqual(netdev.match(/hostfwd=[^,]+/g), ['hostfwd=tcp:127.0.0.1:2222-:22']);
  t.true(netdev.startsWith('user,id=n0,restrict=on'));
  t.deepEqual(argv.slice(argv.indexOf('-accel'), argv.indexOf('-accel') + 4), ['-accel', 'kvm', '-cpu', 'host']);
  // a guest reboot (the end of "new" and "recover") restarts it; snapshot=on keeps its writes meanwhile
  t.false(argv.includes('-no-reboot'));
  t.true(argv.includes('file=/d/disk.img,format=raw,if=virtio,snapshot=on'));
  t.throws(() => qemuArgv({ disk: 'd', vars: 'v', serial: 'stdio', sshPort: 0 }), { instanceOf: UserError });
  t.throws(() => qemuArgv({ disk: 'd', vars: 'v', serial: 'stdio', forwards: [{ port: 1080, hostPort: Number('2;x') }] }), { instanceOf: UserError });
});

test('qemu: --persist writes into the image; no ports means no forwards at all', (t) => {
  const argv = qemuArgv({ disk: '/d/disk.img', vars: '/v', serial: 'stdio', persist: true });
  t.true(argv.includes('file=/d/disk.img,format=raw,if=virtio'));
  t.is(argv[argv.indexOf('-netdev') + 1], 'user,id=n0,restrict=on');
  t.deepEqual(argv.slice(argv.indexOf('-serial'), argv.indexOf('-serial') + 2), ['-serial', 'mon:stdio']);
});

test('qemu: a port that is not a number is refused (no injection into the guestfwd command)', (t) => {
  t.throws(() => qemuArgv({ disk: 'd', vars: 'v', serial: 'stdio', gridPorts: [Number('1;rm')] }), { instanceOf: UserError });
  t.throws(() => qemuArgv({ disk: 'd', vars: 'v', serial: 'stdio', gridPorts: [70000] }), { instanceOf: UserError });
});

test('nspawn: always a private network, no registration, throwaway overlay unless persisted', (t) => {
  const argv = nspawnArgv({ tree: '/t', initArgs: ['sysback.mode=recover'] });
  for (const flag of ['--private-network', '--register=no', '--keep-unit', '--boot', '--volatile=overlay']) t.true(argv.includes(flag), flag);
  t.deepEqual(argv.slice(argv.indexOf('--')), ['--', 'sysback.mode=recover']);
  t.false(nspawnArgv({ tree: '/t', persist: true }).includes('--volatile=overlay'));
  t.true(nspawnArgv({ tree: '/t', persist: true }).includes('--private-network'));
});

test('nspawn --grid: the container joins our namespace instead of an empty private network', (t) => {
  const argv = nspawnArgv({ tree: '/t', networkNamespace: '/proc/42/ns/net' });
  t.true(argv.includes('--network-namespace-path=/proc/42/ns/net'));
  t.false(argv.includes('--private-network'));
});
