import test from 'ava';
import { DEVICE, devicePathOf, underRoot } from '../../../core/device-paths.ts';
import { UserError } from '../../../core/errors.ts';

test('device paths resolve under the root', (t) => {
  t.is(underRoot('/tmp/r', DEVICE.config), '/tmp/r/etc/sysback/sysback.json');
  t.is(underRoot('/tmp/r', 'etc/hostname'), '/tmp/r/etc/hostname');
  t.is(underRoot('/', DEVICE.state), '/var/lib/sysback/state.json');
  t.is(underRoot('/tmp/r/', '/'), '/tmp/r');
});

test('dot-dot-escape: a path climbing out of the root is refused', (t) => {
  t.throws(() => underRoot('/tmp/r', '../etc/passwd'), { instanceOf: UserError });
  t.throws(() => underRoot('/tmp/r', '/etc/../../x'), { instanceOf: UserError });
  t.throws(() => underRoot('/tmp/r', 'var/lib/../../../../root'), { instanceOf: UserError });
});

test('dot-dot inside the root is refused too: device paths are written plainly', (t) => {
  t.throws(() => underRoot('/tmp/r', '/etc/sysback/../hostname'), { instanceOf: UserError });
});

test('a sibling with the root as prefix is not inside the root', (t) => {
  t.throws(() => devicePathOf('/tmp/r', '/tmp/r2/etc'), { instanceOf: UserError });
  t.is(devicePathOf('/tmp/r', '/tmp/r/etc/x'), '/etc/x');
});
