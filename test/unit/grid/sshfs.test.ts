// The sshfs adapter's pure parts: the argv pins ssh down (no config, one key, no prompt, a checked
// host key) and mountinfo parsing finds a mount point, escaped blanks included.
import test from 'ava';
import { mountAt, sshfsArgv } from '../../../grid/sshfs.ts';

test('the sshfs argv runs in the foreground with no ssh config, one key, no prompt and a checked host key', (t) => {
  const argv = sshfsArgv({ port: 4022, user: 'sysback', keyFile: '/k', knownHostsFile: '/kh', mountPoint: '/mnt/private' });
  t.deepEqual(argv.slice(0, 4), ['sshfs', '-f', '-F', '/dev/null']);
  const opts = argv[argv.indexOf('-o') + 1]!.split(',');
  for (const o of ['port=4022', 'IdentityFile=/k', 'IdentitiesOnly=yes', 'BatchMode=yes', 'PasswordAuthentication=no', 'UserKnownHostsFile=/kh', 'StrictHostKeyChecking=yes']) {
    t.true(opts.includes(o), o);
  }
  t.deepEqual(argv.slice(-2), ['sysback@127.0.0.1:/', '/mnt/private']);
});

test('without a known_hosts file the host key is accepted on first use only', (t) => {
  const opts = sshfsArgv({ port: 1, user: 'u', keyFile: '/k', mountPoint: '/m' }).join(' ');
  t.regex(opts, /StrictHostKeyChecking=accept-new/);
  t.notRegex(opts, /StrictHostKeyChecking=no\b/);
});

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '813 27 0:116 / /var/lib/sysback/mnt/private rw,nosuid,nodev,relatime - fuse.sshfs sysback@127.0.0.1:/ rw,user_id=0,group_id=0',
  '814 27 0:117 / /tmp/with\\040blank rw,relatime shared:9 - fuse.sshfs u@127.0.0.1:/ rw',
].join('\n');

test('mountinfo lookup finds the file system type at a mount point, and nothing elsewhere', (t) => {
  t.deepEqual(mountAt('/var/lib/sysback/mnt/private', MOUNTINFO), { fsType: 'fuse.sshfs' });
  t.deepEqual(mountAt('/tmp/with blank', MOUNTINFO), { fsType: 'fuse.sshfs' });
  t.is(mountAt('/var/lib/sysback/mnt/public', MOUNTINFO), undefined);
  t.is(mountAt('/var/lib/sysback/mnt', MOUNTINFO), undefined);
});
