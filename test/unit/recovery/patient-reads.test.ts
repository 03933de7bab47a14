// recovery/patient-reads.ts as a policy of readRetrying: one policy serves every read of a step, and
// each read's first retry is said at once; without a restart there is no remedy to run. No grid, no
// real waits.
import test from 'ava';
import { readRetrying, TahoeHttpError } from '../../../grid/tahoe-client.ts';
import { patientReads } from '../../../recovery/patient-reads.ts';

const welcome = async () => ({ servers: [{ nodeid: 'a', nickname: 'a', connected: true }, { nodeid: 'b', nickname: 'b', connected: false }], introducers: { connected: 1, total: 1 } });

/** A read that answers HTTP 410 `times` times, then `value`. */
function failing<T>(times: number, value: T): () => Promise<T> {
  let left = times;
  return async () => {
    if (left-- > 0) throw new TahoeHttpError('stat', 410, 'UnrecoverableFileError: insufficient good shares');
    return value;
  };
}

test('two reads through one policy: the second read\'s first retry is said at once too, not held back by the first read\'s lines', async (t) => {
  const said: string[] = [];
  const policy = patientReads({ api: { welcome }, say: (line) => said.push(line), waitSeconds: 300, random: () => 0.99, sleep: async () => {} });
  t.is(await readRetrying('reading the old latest', failing(4, 'latest'), policy), 'latest');
  t.is(await readRetrying('reading the old manifest.json', failing(1, 'manifest'), policy), 'manifest');
  t.deepEqual(said.map((l) => l.replace(/: not yet.*, (\d+) s so far$/, ' $1')), ['  reading the old latest 0', '  reading the old latest 7', '  reading the old manifest.json 0']);
  t.regex(said[0]!, /not yet \(its shares are on storage servers not connected yet; 1 of 2 known servers connected\)/);
});

test('without a restart a stalled read has no remedy to run: it just keeps waiting, up to the budget', async (t) => {
  const policy = patientReads({ api: { welcome }, say: () => {}, waitSeconds: 300, sleep: async () => {} });
  t.is(policy.onStalled, undefined);
  t.is(policy.waitBudgetMs, 300_000);
});
