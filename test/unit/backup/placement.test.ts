// backup/placement.ts: the pure rule "recoverable without this router's own storage server", and
// directories made off the router's own server where the grid allows it.
import test from 'ava';
import { EXIT } from '../../../core/errors.ts';
import { AWAY_TRIES, PlacementError, describePlacement, mkdirAwayFrom, recoverableWithout, settleIdentityPlacement } from '../../../backup/placement.ts';
import { createMemoryLog } from '../../../core/log.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { IDENTITY_FILE } from '../../../grid/public-area.ts';
import type { ShareHolder } from '../../../grid/tahoe-client.ts';

const check = (placement: ShareHolder[], neededShares = 2) => ({ placement, neededShares });
const own = 'router';

const table: { name: string; placement: ShareHolder[]; ok: boolean; distinct: number; others: number; ownShares: number }[] = [
  { name: 'healthy grid, router holds nothing', placement: [{ server: 's0', shares: [0] }, { server: 's1', shares: [1] }, { server: 's2', shares: [2] }], ok: true, distinct: 3, others: 3, ownShares: 0 },
  { name: 'router holds 1 of 3: exactly needed remain', placement: [{ server: 'router', shares: [0] }, { server: 's1', shares: [1] }, { server: 's2', shares: [2] }], ok: true, distinct: 2, others: 2, ownShares: 1 },
  { name: 'router holds 2 of 3 (two grid servers down)', placement: [{ server: 'router', shares: [0, 2] }, { server: 's0', shares: [1] }], ok: false, distinct: 1, others: 1, ownShares: 2 },
  { name: 'the same share twice on other servers counts once', placement: [{ server: 'router', shares: [1] }, { server: 's0', shares: [0] }, { server: 's1', shares: [0] }], ok: false, distinct: 1, others: 2, ownShares: 1 },
  { name: 'one other server holding needed shares is enough', placement: [{ server: 'router', shares: [1] }, { server: 's0', shares: [0, 2] }], ok: true, distinct: 2, others: 1, ownShares: 1 },
  { name: 'all shares on the router', placement: [{ server: 'router', shares: [0, 1, 2] }], ok: false, distinct: 0, others: 0, ownShares: 3 },
  { name: 'no placement at all (nothing recoverable)', placement: [], ok: false, distinct: 0, others: 0, ownShares: 0 },
  { name: 'a server listed with no shares is not a holder', placement: [{ server: 's0', shares: [] }, { server: 's1', shares: [1] }], ok: false, distinct: 1, others: 1, ownShares: 0 },
];

for (const row of table) {
  test(`recoverableWithout: ${row.name}`, (t) => {
    const v = recoverableWithout(check(row.placement), own);
    t.is(v.ok, row.ok);
    t.is(v.distinctShares, row.distinct);
    t.is(v.otherServers, row.others);
    t.is(v.ownShares, row.ownShares);
    t.is(v.needed, 2);
  });
}

test('recoverableWithout: an unknown own id excludes nothing; an explicit needed wins over the check', (t) => {
  const placement = [{ server: 'router', shares: [0] }, { server: 's1', shares: [1] }];
  t.true(recoverableWithout(check(placement), undefined).ok);
  t.false(recoverableWithout(check(placement), own).ok);
  t.false(recoverableWithout(check(placement), undefined, 3).ok);
});

test('PlacementError: exit 11, says how many other servers hold shares, names only the failing objects', (t) => {
  const bad = recoverableWithout(check([{ server: 'router', shares: [0, 2] }, { server: 's0', shares: [1] }]), own);
  const good = recoverableWithout(check([{ server: 's0', shares: [0] }, { server: 's1', shares: [1] }]), own);
  const error = new PlacementError({ 'the new archive': bad, 'the manifest': good });
  t.is(error.exitCode, EXIT.tooFewServers);
  t.regex(error.message, /the new archive: 1 distinct share\(s\) on 1 other server\(s\) \(2 needed\), 2 on this router/);
  t.notRegex(error.message, /the manifest/);
  t.is(describePlacement('x', good), 'x: 2 distinct share(s) on 2 other server(s) (2 needed), 0 on this router');
});

test('identity-on-the-router: an identity published while only the router and one server were up fails the check with exit 11 once the grid is whole (a repair finds it healthy), and the undo runs', async (t) => {
  const grid = new MemoryGrid({ servers: ['s0', 's1', 's2'], shares: { needed: 2, happy: 2, total: 3 } });
  const api = grid.client({ name: 'router-public' });
  grid.addServer(own);
  grid.stopServer('s1');
  grid.stopServer('s2');
  grid.placeFirstOn([own, 's0']);
  const dir = await api.mkdir();
  await api.put('-----BEGIN PGP MESSAGE-----\n', { dirCap: dir, name: IDENTITY_FILE });
  grid.placeFirstOn([]);
  grid.startServer('s1');
  grid.startServer('s2');
  const log = createMemoryLog('warn');
  let undone = 0;
  const error = await t.throwsAsync(settleIdentityPlacement(log, api, own, dir, async () => void (undone += 1)), { instanceOf: PlacementError });
  t.is(error.exitCode, EXIT.tooFewServers);
  t.regex(error.message, /^the published identity would not survive the loss of this router: the identity directory: 1 distinct share\(s\) on 1 other server\(s\) \(2 needed\), 2 on this router; the identity file: 1 distinct/);
  t.regex(error.hint ?? '', /run sysback firstboot again/);
  t.is(undone, 1);
  t.true(log.lines.some((line) => /repairing: the identity directory/.test(line)), 'a repair was tried first');
});

test('identity placement on a whole grid: both objects ok, nothing undone', async (t) => {
  const grid = new MemoryGrid({ servers: ['s0', 's1', 's2'], shares: { needed: 2, happy: 2, total: 3 } });
  const api = grid.client({ name: 'router-public' });
  grid.addServer(own);
  const dir = await api.mkdir();
  await api.put('-----BEGIN PGP MESSAGE-----\n', { dirCap: dir, name: IDENTITY_FILE });
  let undone = 0;
  const verdicts = await settleIdentityPlacement(createMemoryLog('warn'), api, own, dir, async () => void (undone += 1));
  t.deepEqual(Object.keys(verdicts), ['the identity directory', 'the identity file']);
  t.true(Object.values(verdicts).every((v) => v.ok));
  t.is(undone, 0);
});

/** 3 grid servers and the router's own, 3 shares of which 2 needed: the grid CI's e2e runs. */
function smallGrid() {
  const grid = new MemoryGrid({ servers: ['s0', 's1', 's2'], shares: { needed: 2, happy: 2, total: 3 } });
  return { grid, api: grid.client({ name: 'router-public', ownServer: own }) };
}

test('mkdirAwayFrom: with 3 other servers for 3 shares, directories with a share on the router are let go until one has none', async (t) => {
  const { grid, api } = smallGrid();
  // the first two directories land on the router, the third off it
  const order = [[own, 's0', 's1'], [own, 's1', 's2'], ['s0', 's1', 's2']];
  let made = 0;
  const scripted = { mkdir: async () => (grid.placeFirstOn(order[made++]!), api.mkdir()), check: (cap: string) => api.check(cap), welcome: () => api.welcome() };
  const result = await mkdirAwayFrom(scripted, own, 3);
  t.is(made, 3);
  t.deepEqual(result, { writeCap: result.writeCap, tries: 3, ownShares: 0 });
  t.deepEqual(grid.placement(result.writeCap).map((h) => h.server).sort(), ['s0', 's1', 's2']);
});

test('mkdirAwayFrom: with fewer other servers than shares (one grid server down) one directory is made and kept, shares on the router or not', async (t) => {
  const { grid, api } = smallGrid();
  grid.stopServer('s2');
  grid.placeFirstOn([own]);
  let made = 0;
  const counting = { mkdir: async () => (made++, api.mkdir()), check: (cap: string) => api.check(cap), welcome: () => api.welcome() };
  const result = await mkdirAwayFrom(counting, own, 3);
  t.is(made, 1);
  t.is(result.tries, 1);
  t.is(result.ownShares, 1);
});

test('mkdirAwayFrom: a grid that always puts a share on the router: AWAY_TRIES directories, the last kept; an unknown own id makes one', async (t) => {
  const { grid, api } = smallGrid();
  grid.placeFirstOn([own]);
  const result = await mkdirAwayFrom(api, own, 3);
  t.is(result.tries, AWAY_TRIES);
  t.is(result.ownShares, 1);
  t.is((await mkdirAwayFrom(api, undefined, 3)).tries, 1);
});
