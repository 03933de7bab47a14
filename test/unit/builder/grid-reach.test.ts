import test from 'ava';
import { holderScript } from '../../../builder/grid-reach.ts';
import { UserError } from '../../../core/errors.ts';
import { tcpLocation } from '../../../grid/local-grid.ts';

test('a TCP node announces loopback first, then the guest address; without one, loopback only', (t) => {
  t.is(tcpLocation(4000, '10.0.2.100'), 'tcp:127.0.0.1:4000,tcp:10.0.2.100:4000');
  t.is(tcpLocation(4000), 'tcp:127.0.0.1:4000');
});

test('the namespace holder: loopback up, the guest address on lo, one listener per port handing over to a unix socket', (t) => {
  const script = holderScript('10.0.2.100', [4000, 4001, 1080], '/run/x/s');
  t.true(script.includes('ip link set lo up'));
  t.true(script.includes('ip addr add 10.0.2.100/32 dev lo'));
  t.true(script.includes('socat TCP-LISTEN:4000,bind=10.0.2.100,fork,reuseaddr UNIX-CONNECT:/run/x/s/4000.sock &'));
  t.true(script.includes('socat TCP-LISTEN:1080,bind=10.0.2.100,fork,reuseaddr UNIX-CONNECT:/run/x/s/1080.sock &'));
  // the container's own loopback is its own: nothing listens there for the host
  t.false(script.includes('bind=127.0.0.1'));
  // nothing in it routes anywhere: no default route, no other address
  t.false(/route|0\.0\.0\.0/.test(script));
});

test('holder: a port or address that is not one is refused (no injection into the script)', (t) => {
  t.throws(() => holderScript('10.0.2.100', [Number('1;rm')], '/s'), { instanceOf: UserError });
  t.throws(() => holderScript('10.0.2.100; rm -rf /', [1], '/s'), { instanceOf: UserError });
});
