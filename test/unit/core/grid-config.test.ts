import test from 'ava';
import { sharesFor, validateGridConfig } from '../../../core/config/grid-config.ts';

const valid = {
  format: 'sysback-grid/1',
  name: 'demo',
  introducers: [
    { name: 'introducer_1', furl: 'pb://ti3snsd4rc3o32dhkfntqowqqz6h6zcy@tcp:127.0.0.1:45369/epk4i3d5cai4vljpswvt5sq54iwa55r7' },
    { name: 'introducer_2', furl: 'pb://ghl5mjlrhrmn2vf2glooybc64qhboyps@tor:abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:3457/leohfhj46ngqj' },
  ],
  publicDirectory: 'URI:DIR2:rc2hmfyzw3pwdqdssumhcf2gsa:oolqbgymu2p6bo42jjf5smjshytrj2vldqnxf2co2mvcbpln4fyq',
  shares: { needed: 2, happy: 2, total: 3 },
  listen: 'tcp',
  transport: 'webapi',
};

test('a grid.json written by grid init is valid', (t) => {
  const result = validateGridConfig(valid);
  t.true(result.ok);
});

test('every problem is reported, each with its field path', (t) => {
  const result = validateGridConfig({
    ...valid,
    name: 'Bad Name',
    introducers: [valid.introducers[0], { name: 'x', furl: 'http://not-a-furl' }],
    publicDirectory: 'URI:DIR2-RO:abc:def',
    shares: { needed: 3, happy: 2, total: 3 },
    transport: 'carrier-pigeon',
    extra: 1,
  });
  t.false(result.ok);
  if (result.ok) return;
  const paths = result.problems.map((p) => p.path).sort();
  t.deepEqual(paths, ['(top level)', 'introducers[1].furl', 'name', 'publicDirectory', 'shares', 'transport'].sort());
  t.regex(result.problems.find((p) => p.path === 'introducers[1].furl')!.message, /not a fURL/);
  t.regex(result.problems.find((p) => p.path === 'shares')!.message, /needed <= happy <= total/);
});

test('listen=tor without tor settings is refused at tor', (t) => {
  const result = validateGridConfig({ ...valid, introducers: onionIntroducers, listen: 'tor' });
  t.false(result.ok);
  if (!result.ok) t.deepEqual(result.problems.map((p) => p.path), ['tor']);
});

const onionIntroducers = [{ name: 'introducer_2', furl: valid.introducers[1]!.furl }];

test('a tor control port that is not on loopback is refused', (t) => {
  const result = validateGridConfig({ ...valid, introducers: onionIntroducers, listen: 'tor', tor: { controlPort: 'tcp:10.0.0.1:9051', socksPort: 9050 } });
  t.false(result.ok);
  if (!result.ok) t.deepEqual(result.problems.map((p) => p.path), ['tor.controlPort']);
});

test('encoding suits the grid size: one server down still leaves uploads possible', (t) => {
  t.deepEqual(sharesFor(1), { needed: 1, happy: 1, total: 1 });
  t.deepEqual(sharesFor(3), { needed: 2, happy: 2, total: 3 });
  t.deepEqual(sharesFor(5), { needed: 3, happy: 4, total: 5 });
  t.deepEqual(sharesFor(20), { needed: 5, happy: 7, total: 10 });
  for (let n = 1; n <= 20; n++) {
    const s = sharesFor(n);
    t.true(s.needed <= s.happy && s.happy <= s.total && s.total <= n, `n=${n}`);
    if (n > 1) t.true(s.happy <= n - 1, `n=${n}: happy leaves one server spare`);
  }
});

test('a Tor grid that would reveal an IP is refused: a non-onion hint in a fURL', (t) => {
  const result = validateGridConfig({ ...valid, listen: 'tor', tor: { controlPort: 'tcp:127.0.0.1:9051', socksPort: 39050 } });
  t.false(result.ok);
  if (!result.ok) {
    t.deepEqual(result.problems.map((p) => p.path), ['introducers[0].furl']);
    t.regex(result.problems[0]!.message, /onion services only, not tcp:127\.0\.0\.1:45369/);
  }
  const mixed = `pb://ghl5mjlrhrmn2vf2glooybc64qhboyps@tor:${'c'.repeat(56)}.onion:3457,tcp:192.0.2.7:3457/x`;
  t.false(validateGridConfig({ ...valid, introducers: [{ name: 'i', furl: mixed }], listen: 'tor', tor: { controlPort: 'tcp:127.0.0.1:9051', socksPort: 39050 } }).ok);
});

test('a Tor grid that would reveal an IP is refused: a tor block with listen tcp', (t) => {
  const result = validateGridConfig({ ...valid, listen: 'tcp', tor: { controlPort: 'tcp:127.0.0.1:9051', socksPort: 39050 } });
  t.false(result.ok);
  if (!result.ok) t.deepEqual(result.problems.map((p) => p.path), ['tor']);
});

test('a private test network\'s relay proxy is a private address: never a proxy out on the internet', (t) => {
  const onion = `tor:${'a'.repeat(56)}.onion:3457`;
  const torValid = { ...valid, introducers: [{ name: 'i', furl: `pb://ti3snsd4rc3o32dhkfntqowqqz6h6zcy@${onion}/x` }], listen: 'tor', tor: { controlPort: 'tcp:127.0.0.1:39051', socksPort: 39050 } };
  const line = `a1 orport=5000 v3ident=${'A'.repeat(40)} 127.0.0.1:5001 ${'B'.repeat(40)}`;
  const withProxy = (socks5Proxy: string) => validateGridConfig({ ...torValid, tor: { ...torValid.tor, testNetwork: { dirAuthorities: [line], socks5Proxy } } });
  t.true(withProxy('10.0.2.100:1080').ok);
  t.true(withProxy('127.0.0.1:1080').ok);
  for (const bad of ['8.8.8.8:1080', 'proxy.example.com:1080', '10.0.2.100', '10.0.2.100:1080 ; x']) {
    const result = withProxy(bad);
    t.false(result.ok, bad);
    if (!result.ok) t.true(result.problems.some((p) => p.path.includes('socks5Proxy')), bad);
  }
});
