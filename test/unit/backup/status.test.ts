// The stale warning's rule: a backup is stale when it is older than twice the interval, or when
// there is none.
import test from 'ava';
import { isStale } from '../../../backup/status.ts';

const table: Array<[ageHours: number | undefined, intervalHours: number, stale: boolean]> = [
  [undefined, 240, true], // no good backup yet
  [0, 240, false],
  [239.9, 240, false],
  [240, 240, false], // due, not stale
  [480, 240, false], // exactly twice the interval: not yet
  [480.1, 240, true],
  [1000, 240, true],
  [2, 1, false],
  [2.5, 1, true],
];

for (const [age, interval, stale] of table) {
  test(`isStale: age ${age ?? 'none'} h, interval ${interval} h -> ${stale ? 'stale' : 'fresh'}`, (t) => {
    t.is(isStale(age, interval), stale);
  });
}
