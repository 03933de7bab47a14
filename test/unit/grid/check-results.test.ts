// grid/webapi.ts decodeCheck and grid/tahoe-client.ts placementFromSharemap: who holds which share of
// the version a reader gets, from Tahoe's check JSON (sharemap keys as Tahoe 1.20's checkers write
// them: immutable `shK`, mutable `seqN-xxxx-shK` for every version seen).
import test from 'ava';
import { recoverableWithout } from '../../../backup/placement.ts';
import { placementFromSharemap } from '../../../grid/tahoe-client.ts';
import { decodeCheck } from '../../../grid/webapi.ts';

test('immutable: one version, shares by server', (t) => {
  t.deepEqual(placementFromSharemap({ sh0: ['s0'], sh1: ['s1', 'router'], sh2: ['router'] }, 2), [
    { server: 'router', shares: [1, 2] },
    { server: 's0', shares: [0] },
    { server: 's1', shares: [1] },
  ]);
});

test('older-version-counted: a mutable directory whose newest version leans on the router is not recoverable without it, even though other servers hold an older version', (t) => {
  // seq7 (the newest, with the manifest) has 2 of 3 shares on the router and 1 on s2; s0 and s1
  // still hold seq6's shares from before a server came back
  const check = decodeCheck({
    summary: 'Unhealthy: multiple versions are recoverable',
    results: {
      healthy: false,
      recoverable: true,
      'count-shares-needed': 2,
      'count-shares-expected': 3,
      sharemap: { 'seq7-abcd-sh0': ['router'], 'seq7-abcd-sh2': ['router'], 'seq7-abcd-sh1': ['s2'], 'seq6-wxyz-sh0': ['s0'], 'seq6-wxyz-sh1': ['s1'] },
    },
  });
  t.deepEqual(check.placement, [
    { server: 'router', shares: [0, 2] },
    { server: 's2', shares: [1] },
  ]);
  t.false(recoverableWithout(check, 'router').ok);
});

test('the best RECOVERABLE version counts: a newer version with fewer than needed shares (a failed write) is passed over, as Tahoe\'s retrieval does', (t) => {
  const placement = placementFromSharemap({ 'seq9-eeee-sh0': ['s0'], 'seq8-dddd-sh0': ['s1'], 'seq8-dddd-sh1': ['s2'], 'seq8-dddd-sh2': ['s0'] }, 2);
  t.deepEqual(placement, [
    { server: 's0', shares: [2] },
    { server: 's1', shares: [0] },
    { server: 's2', shares: [1] },
  ]);
});

test('two versions with the same sequence number (an uncoordinated write): one is chosen, never a mix', (t) => {
  const placement = placementFromSharemap({ 'seq5-aaaa-sh0': ['s0'], 'seq5-aaaa-sh1': ['s1'], 'seq5-bbbb-sh0': ['s2'], 'seq5-bbbb-sh1': ['s3'] }, 2);
  t.deepEqual(placement, [
    { server: 's2', shares: [0] },
    { server: 's3', shares: [1] },
  ]);
});

test('no shares at all: no holders', (t) => {
  t.deepEqual(placementFromSharemap({}, 2), []);
});
