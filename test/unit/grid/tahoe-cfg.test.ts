import test from 'ava';
import { getCfgValue, introducersYaml, setCfgValue } from '../../../grid/tahoe-cfg.ts';
import { createArgs } from '../../../grid/tahoe-node.ts';

const cfg = '# comment\n[node]\nnickname = s1\nweb.port = tcp:1:interface=127.0.0.1\n\n[client]\nshares.needed = 2\n\n[storage]\nenabled = true\n';

test('setting a key replaces it in place and keeps everything else', (t) => {
  const out = setCfgValue(cfg, 'client', 'shares.needed', '1');
  t.is(getCfgValue(out, 'client', 'shares.needed'), '1');
  t.is(out.replace('shares.needed = 1', 'shares.needed = 2'), cfg);
});

test('a new key goes at the end of its section; a new section is appended', (t) => {
  let out = setCfgValue(cfg, 'node', 'reveal-IP-address', 'false');
  t.is(getCfgValue(out, 'node', 'reveal-IP-address'), 'false');
  t.true(out.indexOf('reveal-IP-address') < out.indexOf('[client]'));
  out = setCfgValue(out, 'tor', 'control.port', 'tcp:127.0.0.1:9999');
  t.regex(out, /\[tor\]\ncontrol\.port = tcp:127\.0\.0\.1:9999\n$/);
});

test('introducers.yaml lists every introducer', (t) => {
  t.is(
    introducersYaml([{ name: 'a', furl: 'pb://x@tcp:127.0.0.1:1/y' }, { name: 'b', furl: 'pb://z@tcp:127.0.0.1:2/w' }]),
    'introducers:\n  a:\n    furl: "pb://x@tcp:127.0.0.1:1/y"\n  b:\n    furl: "pb://z@tcp:127.0.0.1:2/w"\n',
  );
  t.throws(() => introducersYaml([{ name: 'bad name: x', furl: 'pb://x' }]));
});

test('node creation uses the tahoe CLI flags, loopback only, and Tor nodes hide their IP', (t) => {
  t.deepEqual(createArgs({ dir: '/g/i1', role: 'introducer', nickname: 'i1', listen: { kind: 'tcp', port: 5000 } }), [
    'create-introducer', '--port=tcp:5000:interface=127.0.0.1', '--location=tcp:127.0.0.1:5000', '/g/i1',
  ]);
  t.deepEqual(
    createArgs({
      dir: '/d/private', role: 'storage', nickname: 'r1', listen: { kind: 'tor' }, webPort: 3456,
      shares: { needed: 2, happy: 2, total: 3 }, tor: { controlPort: 'tcp:127.0.0.1:9051', socksPort: 9050 },
    }),
    ['create-node', '--nickname=r1', '--listen=tor', '--hide-ip', '--tor-control-port=tcp:127.0.0.1:9051',
      '--webport=tcp:3456:interface=127.0.0.1', '--shares-needed=2', '--shares-happy=2', '--shares-total=3', '/d/private'],
  );
  t.throws(() => createArgs({ dir: '/d', role: 'client', nickname: 'c', listen: { kind: 'tcp', port: 1 } }));
});
