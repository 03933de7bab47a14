// Recovery step b) on a console, when the person types the read cap from their recovery card: a cap
// copied wrong (a group missing, a character mistyped) is a failed attempt with its reason and is
// asked again; only the attempts running out fail the step (exit 13). And the identity read over a
// grid whose servers are still connecting (recovery/patient-reads.ts): it keeps trying, says so, and
// restarts the public node once when a server holding the identity's shares stays away. In-memory
// grid, no root, no real waits.
import test from 'ava';
import { EXIT, SysbackError } from '../../../core/errors.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { patientReads, RESTART_AFTER_MS } from '../../../recovery/patient-reads.ts';
import { selectIdentity } from '../../../recovery/steps/b-select.ts';
import { consoleWith } from '../../support/console-prompter.ts';

const ARMORED = '-----BEGIN PGP MESSAGE-----\nnot decrypted in this test\n-----END PGP MESSAGE-----\n';
const options = { answers: undefined, answersFile: undefined, noReboot: true, replacesConfiguredRouter: false };

async function published() {
  const grid = new MemoryGrid();
  const api = grid.client({ name: 'router' });
  const publicDirectory = await api.mkdir();
  const own = await api.mkdir();
  await api.put(ARMORED, { dirCap: own, name: 'identity.asc' });
  const card = (await api.info(own))!.readCap;
  return { api, publicDirectory, card };
}

/** A console prompter fed `lines`, one answer each, its output captured. */
const typedOnConsole = (lines: string[]) => consoleWith(lines.map((l) => `${l}\n`).join(''));

/** The reads a router's recovery makes, on `api`'s console `c`, without real waits; the restarts and the waits recorded. */
function reads(api: Parameters<typeof patientReads>[0]['api'], c: ReturnType<typeof typedOnConsole>, restart: () => Promise<void> = async () => {}) {
  const record = { restarts: [] as number[], waited: 0 };
  const policy = patientReads({
    api,
    say: (line) => c.prompter.say(line),
    restart: async () => {
      record.restarts.push(record.waited);
      await restart();
    },
    waitSeconds: 300,
    random: () => 0.99,
    sleep: async (ms) => {
      record.waited += ms;
    },
  });
  return { policy, record };
}

/** The same cap with one base32 character of the read key changed: well formed, nothing published there. */
function mistyped(card: string): string {
  const at = 'URI:DIR2-RO:'.length + 3;
  return `${card.slice(0, at)}${card[at] === 'a' ? 'b' : 'a'}${card.slice(at + 1)}`;
}

test('a card cut short, then one mistyped, then the right one: each wrong one is asked again with why; the identity is read', async (t) => {
  const { api, publicDirectory, card } = await published();
  t.regex(card, /^URI:DIR2-RO:[a-z2-7]{26}:[a-z2-7]{52}$/, "Tahoe's lengths, as the memory grid makes them");
  const c = typedOnConsole([card.slice(0, -7), mistyped(card), card]);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['bob'], options, reads(api, c).policy), ARMORED);
  t.regex(c.text(), /that read cap has 26 \+ 45 characters after URI:DIR2-RO:; a recovery card's has 26 \+ 52; a group of 4 is missing[^\n]*\(2 tries left\)/);
  t.regex(c.text(), /no identity can be read at the recovery card's read cap \(nothing is published there\)[^\n]*\(1 try left\)/);
  t.false(c.text().includes(card.slice(12, 30)), 'no cap echoed in the reasons');
});

test('a card with a character of its fingerprint mistyped: Tahoe answers it as shares not reachable yet (410), so after a minute of waits (no restart) the person is told both and asked again', async (t) => {
  const { api, publicDirectory, card } = await published();
  const at = card.length - 10; // in the fingerprint, after the second colon
  const wrongFingerprint = `${card.slice(0, at)}${card[at] === 'a' ? 'b' : 'a'}${card.slice(at + 1)}`;
  const c = typedOnConsole([wrongFingerprint, card]);
  const r = reads(api, c);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['bob'], options, r.policy), ARMORED);
  t.regex(c.text(), /nothing readable there yet: a character after the second colon may be mistyped, or the servers holding it are not connected yet[^\n]*\(2 tries left\)/);
  t.deepEqual(r.record.restarts, [], 'a typed card never restarts the node');
  t.true(r.record.waited >= 60_000 && r.record.waited < 66_000, `waited ${r.record.waited} ms on the typo`);
});

test('the card typed in groups, with spaces and line breaks as on the card, is read', async (t) => {
  const { api, publicDirectory, card } = await published();
  const c = typedOnConsole([card.replace(/(.{4})/g, '$1 ')]);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['bob'], options, reads(api, c).policy), ARMORED);
});

test('three cards copied wrong: the step fails with exit 13 and the last reason', async (t) => {
  const { api, publicDirectory, card } = await published();
  const c = typedOnConsole([card.slice(0, -1), mistyped(card), `${card}aaaa`]);
  const error = await t.throwsAsync(selectIdentity(c.prompter, api, publicDirectory, ['bob'], options, reads(api, c).policy), { instanceOf: SysbackError });
  t.is(error?.exitCode, EXIT.unknownAlias);
  t.regex(error!.message, /26 \+ 56 characters/);
});

test('a grid that cannot be read is not a typing mistake: it fails the step at once', async (t) => {
  const { api, publicDirectory, card } = await published();
  const broken = Object.assign(Object.create(api) as typeof api, {
    info: async () => {
      throw new SysbackError('the grid is unreachable', { exitCode: EXIT.gridUnreachable });
    },
  });
  const c = typedOnConsole([card, card, card]);
  const error = await t.throwsAsync(selectIdentity(c.prompter, broken, publicDirectory, ['bob'], options, reads(api, c).policy), { instanceOf: SysbackError });
  t.is(error?.exitCode, EXIT.gridUnreachable);
  t.false(c.text().includes('tries left'));
});

/** A grid of 3 servers and the lost router's own; alice's identity directory holds 1 share on the router and 1 on each of storage-0 and storage-1. */
async function publishedByALostRouter() {
  const grid = new MemoryGrid({ servers: ['storage-0', 'storage-1', 'storage-2'] });
  grid.addServer('lost-router');
  const api = grid.client({ name: 'recovering' });
  grid.placeFirstOn(['storage-2', 'storage-1', 'storage-0']);
  const publicDirectory = await api.mkdir();
  grid.placeFirstOn(['lost-router', 'storage-0', 'storage-1']);
  const own = await api.mkdir();
  await api.put(ARMORED, { dirCap: own, name: 'identity.asc' });
  grid.placeFirstOn(['storage-2', 'storage-1', 'storage-0']);
  await api.link(publicDirectory, 'alice', (await api.info(own))!.readCap);
  grid.placeFirstOn([]);
  grid.stopServer('lost-router');
  return { grid, api, publicDirectory };
}

test('over a slow grid (the identity\'s shares on servers not connected yet) the read keeps trying past readRetrying\'s 5 tries, saying so at least every 10 s, and the step goes on', async (t) => {
  const { grid, api, publicDirectory } = await publishedByALostRouter();
  grid.inject('info', 410, 'UnrecoverableFileError: insufficient good shares', { times: 5, name: (name) => name === 'identity.asc' });
  const c = typedOnConsole(['alice']);
  const r = reads(api, c);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['alice'], options, r.policy), ARMORED);
  // waits of 990, 1980, 3960, 4950 ms: said at once, and again once 5 s or more had passed (a wait is at most 5 s)
  t.deepEqual(c.text().match(/ {2}reading the directory published as "alice": not yet \(its shares are on storage servers not connected yet; 3 of 4 known servers connected\); trying for up to 300 s, (\d+) s so far\n/g)?.map((l) => l.replace(/.* (\d+) s so far\n$/, '$1')), ['0', '7'], c.text());
  t.deepEqual(r.record.restarts, [], 'no restart within the first minute');
  t.false(c.text().includes('URI:'), 'no cap in what it says');
});

test("a server holding the identity's shares that stays away: after a minute of waits the public node is restarted once, and the read goes on", async (t) => {
  const { grid, api, publicDirectory } = await publishedByALostRouter();
  grid.stopServer('storage-1'); // the node is connected to 2 servers (storage-0, storage-2): happy, but 1 share
  const c = typedOnConsole(['alice']);
  const r = reads(api, c, async () => grid.startServer('storage-1'));
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['alice'], options, r.policy), ARMORED);
  t.is(r.record.restarts.length, 1);
  t.true(r.record.restarts[0]! >= RESTART_AFTER_MS, `restarted after ${r.record.restarts[0]} ms of waits`);
  t.regex(c.text(), /restarting the public Tahoe node, so that it tries every storage server again at once \(2 of 4 connected/);
  const lines = c.text().match(/not yet \(its shares/g)?.length ?? 0;
  t.true(lines >= 6 && lines <= 8, `a line about every 10 s of a minute's waits: ${lines}`);
});

test('a server that never comes back: the read gives up once the waits reach tahoe.serverWaitSeconds, with the grid\'s error; one restart', async (t) => {
  const { grid, api, publicDirectory } = await publishedByALostRouter();
  grid.stopServer('storage-1');
  const c = typedOnConsole(['alice']);
  const r = reads(api, c);
  const error = await t.throwsAsync(selectIdentity(c.prompter, api, publicDirectory, ['alice'], options, r.policy));
  t.regex(error!.message, /410/);
  t.is(r.record.restarts.length, 1);
  t.true(r.record.waited >= 300_000 && r.record.waited < 306_000, `waited ${r.record.waited} ms`);
  t.true((c.text().match(/not yet \(/g)?.length ?? 0) >= 30, 'a line at least every 10 s');
});

test('every known server connected and the read still failing (a write in progress): no restart, it would not help', async (t) => {
  const { grid, api, publicDirectory } = await publishedByALostRouter();
  grid.startServer('lost-router');
  grid.inject('info', 500, 'UncoordinatedWriteError: the directory changed under us', { times: 40, name: (name) => name === 'identity.asc' });
  const c = typedOnConsole(['alice']);
  const r = reads(api, c);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['alice'], options, r.policy), ARMORED);
  t.true(r.record.waited >= RESTART_AFTER_MS, `waited ${r.record.waited} ms`);
  t.deepEqual(r.record.restarts, []);
  t.regex(c.text(), /not yet \(the grid answered HTTP 500; 4 of 4 known servers connected\)/);
});
