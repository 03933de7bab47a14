// Seeing an SFTP write through the web API: the poll intervals are short and bounded (the wait costs
// about what the grid takes, never a fixed sleep).
import test from 'ava';
import { nextPollMs } from '../../../grid/sftp-settle.ts';

test('polls start at 50 ms and grow by half to at most 500 ms', (t) => {
  const seen: number[] = [];
  let ms: number | undefined;
  for (let i = 0; i < 9; i++) seen.push((ms = nextPollMs(ms)));
  t.deepEqual(seen, [50, 75, 113, 170, 255, 383, 500, 500, 500]);
});
