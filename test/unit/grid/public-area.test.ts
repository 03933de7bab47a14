// Links into the shared public directory (grid/public-area.ts) against an in-memory directory that
// misbehaves as Tahoe does under many writers: HTTP 500 (UncoordinatedWriteError) on a link, a link
// that a racing write drops, a name someone else links in between. Seeded jitter, recorded sleeps.
import test from 'ava';
import { Readable } from 'node:stream';
import {
  type AliasDirectory,
  aliasState,
  checkAliasLink,
  ensureAliasLink,
  fetchIdentity,
  fetchIdentityByCard,
  linkAlias,
  listAliases,
  cardReadCap,
  groupedCap,
  parseCardCap,
  recoveryCard,
  relinkAliasAfterRecovery,
} from '../../../grid/public-area.ts';
import { backoffMs, readRetrying } from '../../../grid/tahoe-client.ts';
import { SysbackError } from '../../../core/errors.ts';
import { TahoeHttpError } from '../../../grid/webapi.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const OURS = 'URI:DIR2-RO:oursaaaaaaaaaaaaaaaaaaaaaa:oursbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const OLD = 'URI:DIR2-RO:oldaaaaaaaaaaaaaaaaaaaaaaa:oldbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const CARD = `URI:DIR2-RO:${'a'.repeat(26)}:${'b'.repeat(52)}`;
const THEIRS = 'URI:DIR2-RO:theirsaaaaaaaaaaaaaaaaaaaa:theirsbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

/** A seeded uniform [0, 1) source (mulberry32). */
const seeded = (seed: number) => seededRandom(seed).next;

type Fault = 'ucwe' | 'ucwe-landed' | 'dropped' | 'stolen' | 'split' | undefined;

/** An alias directory whose next link calls fail as listed. */
function memoryDirectory(initial: Record<string, string> = {}, faults: Fault[] = []) {
  const entries = new Map(Object.entries(initial));
  const calls: string[] = [];
  const dir: AliasDirectory = {
    async linked(alias) {
      calls.push(`read ${alias}`);
      return entries.get(alias);
    },
    async link(alias, cap, replace) {
      calls.push(`link ${alias}${replace ? ' replace' : ''}`);
      const fault = faults.shift();
      if (fault === 'ucwe') throw new TahoeHttpError('link', 500, 'UncoordinatedWriteError');
      if (fault === 'split') throw new TahoeHttpError('link', 410, 'UnrecoverableFileError: ran out of servers: have 1 remaining shares of the right version');
      if (fault === 'stolen') {
        entries.set(alias, THEIRS);
        throw new TahoeHttpError('link', 409, 'There was already a child by that name, and you asked me to not replace it.');
      }
      if (!replace && entries.has(alias)) throw new TahoeHttpError('link', 409, 'exists');
      if (fault === 'dropped') return; // answered 200, but a racing write based on an older version won
      entries.set(alias, cap);
      if (fault === 'ucwe-landed') throw new TahoeHttpError('link', 500, 'UncoordinatedWriteError');
    },
  };
  return { dir, entries, calls };
}

function policy(sleeps: number[], seed = 7) {
  return { random: seeded(seed), sleep: async (ms: number) => void sleeps.push(ms), attempts: 8, baseMs: 200, maxMs: 5000 };
}

test('uncoordinated-write: a link answered HTTP 500 is retried with jittered backoff until it reads back', async (t) => {
  const { dir, entries } = memoryDirectory({}, ['ucwe', 'ucwe', 'ucwe']);
  const sleeps: number[] = [];
  t.is(await linkAlias(dir, 'home', OURS, policy(sleeps)), 'linked');
  t.is(entries.get('home'), OURS);
  t.is(sleeps.length, 3);
  sleeps.forEach((ms, i) => t.true(ms >= 0 && ms < 200 * 2 ** i, `retry ${i}: ${ms} ms`));
});

test('uncoordinated-write that landed anyway: the read-back finds it, nothing linked twice', async (t) => {
  const { dir, calls } = memoryDirectory({}, ['ucwe-landed']);
  t.is(await linkAlias(dir, 'home', OURS, policy([])), 'linked');
  t.is(calls.filter((c) => c.startsWith('link')).length, 1);
});

test('lost-link: a link answered 200 that a racing write dropped is noticed by the read-back and made again', async (t) => {
  const { dir, entries } = memoryDirectory({}, ['dropped']);
  t.is(await linkAlias(dir, 'home', OURS, policy([])), 'linked');
  t.is(entries.get('home'), OURS);
});

test('alias-race: someone links the same name between our read and our link: theirs stays, we say taken', async (t) => {
  const { dir, entries } = memoryDirectory({}, ['stolen']);
  t.is(await linkAlias(dir, 'home', OURS, policy([])), 'taken');
  t.is(entries.get('home'), THEIRS);
});

test('a storm of 500s that never ends: the last error is thrown after the tries run out', async (t) => {
  const { dir } = memoryDirectory({}, Array(20).fill('ucwe'));
  const sleeps: number[] = [];
  await t.throwsAsync(linkAlias(dir, 'home', OURS, { ...policy(sleeps), attempts: 4 }), { instanceOf: TahoeHttpError });
  t.is(sleeps.length, 3);
});

test('split-versions: a link answered HTTP 410 while concurrent writes split the directory between versions is retried', async (t) => {
  // seen on a real grid with 15 routers publishing at once: "ran out of servers … have 1 remaining
  // shares of the right version"; it passes once the writers are done
  const { dir, entries } = memoryDirectory({}, ['split', 'split']);
  const sleeps: number[] = [];
  t.is(await linkAlias(dir, 'home', OURS, policy(sleeps)), 'linked');
  t.is(entries.get('home'), OURS);
  t.is(sleeps.length, 2);
});

test('a 410 that never passes (a grid without servers) is thrown after the tries run out', async (t) => {
  const { dir } = memoryDirectory({}, Array(20).fill('split'));
  const sleeps: number[] = [];
  await t.throwsAsync(linkAlias(dir, 'home', OURS, { ...policy(sleeps), attempts: 3 }), { instanceOf: TahoeHttpError, message: /410/ });
  t.is(sleeps.length, 2);
});

test('other errors are not retried (a refused request or the node gone is no race)', async (t) => {
  for (const error of [new TahoeHttpError('link', 400, 'bad request'), new Error('connect ECONNREFUSED 127.0.0.1:3456')]) {
    const dir: AliasDirectory = {
      linked: async () => undefined,
      link: async () => {
        throw error;
      },
    };
    const sleeps: number[] = [];
    await t.throwsAsync(linkAlias(dir, 'home', OURS, policy(sleeps)), { is: error });
    t.deepEqual(sleeps, []);
  }
});

test('backoff is seeded: the same seed gives the same waits, capped by maxMs', (t) => {
  const one = seeded(42);
  const two = seeded(42);
  const waits = [0, 1, 2, 3, 4, 5, 6, 10].map((retry) => backoffMs(retry, { random: one }));
  t.deepEqual(waits, [0, 1, 2, 3, 4, 5, 6, 10].map((retry) => backoffMs(retry, { random: two })));
  t.true(waits.every((ms) => ms < 5000));
});

test('checkAliasLink: ok, missing, other-directory; one read, no write', async (t) => {
  const { dir, calls } = memoryDirectory({ mine: OURS, theirs: THEIRS });
  t.is(await checkAliasLink(dir, 'mine', OURS), 'ok');
  t.is(await checkAliasLink(dir, 'gone', OURS), 'missing');
  t.is(await checkAliasLink(dir, 'theirs', OURS), 'other-directory');
  t.false(calls.some((c) => c.startsWith('link')));
});

test('ensureAliasLink (each backup run): a vanished alias is linked again, verified', async (t) => {
  const { dir, entries } = memoryDirectory({}, ['ucwe']);
  const report = await ensureAliasLink(dir, 'home', OURS, policy([]));
  t.like(report, { state: 'missing', relinked: true });
  t.regex(report.message!, /linked again/);
  t.is(entries.get('home'), OURS);
});

test('ensureAliasLink: an alias that names another directory is reported, never overwritten', async (t) => {
  const { dir, entries, calls } = memoryDirectory({ home: THEIRS });
  const report = await ensureAliasLink(dir, 'home', OURS, policy([]));
  t.like(report, { state: 'other-directory', relinked: false });
  t.regex(report.message!, /left as it is.*recovery card/);
  t.false(report.message!.includes('URI:'));
  t.is(entries.get('home'), THEIRS);
  t.false(calls.some((c) => c.startsWith('link')));
});

test('recovery: the alias moves from the old identity directory to the fresh one', async (t) => {
  const { dir, entries, calls } = memoryDirectory({ home: OLD });
  t.deepEqual(await relinkAliasAfterRecovery(dir, 'home', { newReadCap: OURS, oldReadCap: OLD }, policy([])), { outcome: 'linked' });
  t.is(entries.get('home'), OURS);
  t.true(calls.includes('link home replace'));
});

test('vandalism-blocks-card-recovery: an alias someone else took is reported, the recovery goes on', async (t) => {
  const { dir, entries } = memoryDirectory({ home: THEIRS });
  const report = await relinkAliasAfterRecovery(dir, 'home', { newReadCap: OURS, oldReadCap: OLD }, policy([]));
  t.is(report.outcome, 'taken');
  t.regex(report.message!, /taken .* the recovery goes on/);
  t.is(entries.get('home'), THEIRS, 'never overwritten');
});

test('recovery rerun: the alias already names the fresh directory: nothing written', async (t) => {
  const { dir, calls } = memoryDirectory({ home: OURS });
  t.deepEqual(await relinkAliasAfterRecovery(dir, 'home', { newReadCap: OURS, oldReadCap: OLD }, policy([])), { outcome: 'already' });
  t.false(calls.some((c) => c.startsWith('link')));
});

test('cardReadCap reads the read cap back from a printed recovery card', (t) => {
  const card = recoveryCard('home-router', OURS);
  t.is(cardReadCap(card), OURS);
  t.is(cardReadCap('no cap here'), undefined);
});

test('card-hard-to-copy: the card also shows the read cap in numbered groups of 4, and typing those groups back (with URI:DIR2-RO: first) gives the cap', (t) => {
  const card = recoveryCard('home-router', OURS);
  const grouped = groupedCap(OURS);
  t.true(grouped.every((line) => /^ ?\d+ {2}([a-z2-7:]{1,4} ?){1,8}$/.test(line)), grouped.join('\n'));
  for (const line of grouped) t.true(card.includes(line));
  const typed = `URI:DIR2-RO:\n${grouped.map((line) => line.replace(/^ ?\d+ {2}/, '')).join('\n')}`;
  t.is(parseCardCap(typed), OURS);
  // a group left out while copying: the lengths say so, before anything is asked of the grid
  const missing = `URI:DIR2-RO:\n${grouped.map((line) => line.replace(/^ ?\d+ {2}/, '')).join('\n').replace(/ [a-z2-7]{4} /, ' ')}`;
  t.throws(() => parseCardCap(missing), { instanceOf: SysbackError, message: /has 22 \+ 52 characters after URI:DIR2-RO:; a recovery card's has 26 \+ 52/ });
  t.throws(() => parseCardCap(OURS.slice(0, -1)), { message: /26 \+ 51/ });
  t.is(cardReadCap(card), OURS, 'the full line is still the one read back');
  t.true(card.split('\n').filter((l) => !l.startsWith('URI:')).every((l) => l.length <= 80), 'fits an 80-column console');
});

test('aliases-read-right-after-connect: listing the public directory retries a 410 that passes (insufficient good shares for a moment), and throws one that does not pass', async (t) => {
  let calls = 0;
  const flaky = {
    list: async () => {
      calls++;
      if (calls <= 2) throw new TahoeHttpError('stat', 410, 'UnrecoverableFileError: the directory (or mutable file) could not be retrieved, because there were insufficient good shares');
      return [
        { name: 'zeta', type: 'dirnode' as const },
        { name: 'alpha', type: 'dirnode' as const },
        { name: 'a-file', type: 'filenode' as const },
      ];
    },
  } as unknown as Pick<import('../../../grid/tahoe-client.ts').TahoeClient, 'list'>;
  const retries: string[] = [];
  t.deepEqual(await listAliases(flaky, 'URI:DIR2:x:y', { sleep: async () => {}, onRetry: (m) => void retries.push(m) }), ['alpha', 'zeta']);
  t.is(calls, 3);
  t.is(retries.length, 2);
  const gone = { list: async () => { throw new TahoeHttpError('stat', 410, 'UnrecoverableFileError'); } } as unknown as typeof flaky;
  await t.throwsAsync(listAliases(gone, 'URI:DIR2:x:y', { sleep: async () => {} }), { instanceOf: TahoeHttpError });
  const denied = { list: async () => { calls++; throw new TahoeHttpError('stat', 400, 'bad cap'); } } as unknown as typeof flaky;
  calls = 0;
  await t.throwsAsync(listAliases(denied, 'URI:DIR2:x:y', { sleep: async () => {} }));
  t.is(calls, 1, 'an error that does not pass is not retried');
});

test('identity-read-right-after-connect: the alias and identity.asc are read again on a 410 that passes (their shares on a server not connected yet); an error that does not pass is thrown at once', async (t) => {
  const gone = () => new TahoeHttpError('stat', 410, 'UnrecoverableFileError: the directory (or mutable file) could not be retrieved, because there were insufficient good shares');
  const armored = '-----BEGIN PGP MESSAGE-----\nx\n-----END PGP MESSAGE-----\n';
  const failures = { alias: 2, file: 1 };
  const calls: string[] = [];
  const api = {
    info: async (dir: string, name: string) => {
      calls.push(`info ${name}`);
      if (name === 'alpha') {
        if (failures.alias-- > 0) throw gone();
        return { kind: 'dirnode', readCap: CARD };
      }
      if (failures.file-- > 0) throw gone();
      return { kind: 'filenode', readCap: 'URI:CHK:x:y:2:3:10', size: armored.length };
    },
    get: async () => Readable.from([Buffer.from(armored)]),
  } as unknown as import('../../../grid/tahoe-client.ts').TahoeClient;
  const retries: string[] = [];
  t.is(await fetchIdentity(api, 'URI:DIR2:x:y', 'alpha', { sleep: async () => {}, onRetry: (m) => void retries.push(m) }), armored);
  t.deepEqual(calls, ['info alpha', 'info alpha', 'info alpha', 'info identity.asc', 'info identity.asc']);
  t.is(retries.length, 3);
  t.true(retries.every((m) => !m.includes('URI:')), 'no cap in the log');
  // by card: the same retry, and a 400 (not a passing error) becomes "unknown card" at once
  failures.file = 1;
  t.is(await fetchIdentityByCard(api, CARD, { sleep: async () => {} }), armored);
  let tries = 0;
  const bad = { info: async () => { tries++; throw new TahoeHttpError('stat', 400, 'bad cap'); } } as unknown as typeof api;
  await t.throwsAsync(fetchIdentityByCard(bad, CARD, { sleep: async () => {} }));
  t.is(tries, 1);
  // a 410 that never passes is thrown once the tries run out
  const never = { info: async () => { throw gone(); } } as unknown as typeof api;
  await t.throwsAsync(fetchIdentity(never, 'URI:DIR2:x:y', 'alpha', { sleep: async () => {}, attempts: 3 }), { instanceOf: TahoeHttpError });
});

test('alias-typed-right-after-connect: the "new" flow\'s check of a typed alias reads again on a 410 that passes (the public directory\'s shares on a server not connected yet)', async (t) => {
  let calls = 0;
  const api = {
    info: async () => {
      calls++;
      if (calls === 1) throw new TahoeHttpError('stat', 410, 'UnrecoverableFileError: insufficient good shares');
      return { kind: 'dirnode', readCap: 'URI:DIR2-RO:cccc:dddd' };
    },
  } as unknown as import('../../../grid/tahoe-client.ts').TahoeClient;
  t.is(await aliasState(api, 'URI:DIR2:x:y', 'alpha', CARD, { sleep: async () => {} }), 'taken');
  t.is(calls, 2);
});

test('identity-read-over-a-slow-grid: with a wait budget a read keeps trying past the 5 tries until its waits add up to the budget, then throws the last error', async (t) => {
  const gone = () => new TahoeHttpError('stat', 410, 'UnrecoverableFileError: insufficient good shares');
  const waits: number[] = [];
  const policy = { waitBudgetMs: 20_000, random: seeded(7), sleep: async (ms: number) => void waits.push(ms) };
  let calls = 0;
  t.is(await readRetrying('reading', async () => (++calls < 9 ? Promise.reject(gone()) : 'read'), policy), 'read');
  t.is(calls, 9, 'eight 410s ridden out: the default gives up after 5 tries');
  waits.length = 0;
  let tries = 0;
  await t.throwsAsync(readRetrying('reading', async () => { tries++; throw gone(); }, policy), { instanceOf: TahoeHttpError });
  const total = waits.reduce((a, b) => a + b, 0);
  t.true(total >= 20_000 && total - waits.at(-1)! < 20_000, `stopped once the waits reached the budget: ${waits.join(', ')}`);
  t.is(tries, waits.length + 1);
  // without a budget: the 5 tries as before
  let plain = 0;
  await t.throwsAsync(readRetrying('reading', async () => { plain++; throw gone(); }, { sleep: async () => {} }));
  t.is(plain, 5);
});
