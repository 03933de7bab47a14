import test from 'ava';
import { keyLineProblem, mergeKeys } from '../../../firstboot/admin-access.ts';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv3o0x7bT6k9m1aZ9Kp4Vq2Yw8b1c2d3e4f5g6h7i8j owner@laptop';

test('keys are added once: the same key with another comment is not added again', (t) => {
  t.is(mergeKeys('', [KEY]), `${KEY}\n`);
  t.is(mergeKeys(`${KEY}\n`, [KEY.replace('owner@laptop', 'other')]), `${KEY}\n`);
  t.is(mergeKeys('', []), '');
});

test('a key line that smuggles options or a second line is refused', (t) => {
  t.is(keyLineProblem(KEY), undefined);
  t.truthy(keyLineProblem(`command="sh" ${KEY}`));
  t.truthy(keyLineProblem(`${KEY}\nssh-rsa AAAA x`));
  t.truthy(keyLineProblem('not a key'));
});
