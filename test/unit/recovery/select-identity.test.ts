// Recovery step b) on a console, when the person types the read cap from their recovery card: a cap
// copied wrong (a group missing, a character mistyped) is a failed attempt with its reason and is
// asked again; only the attempts running out fail the step (exit 13). In-memory grid, no root.
import test from 'ava';
import { EXIT, SysbackError } from '../../../core/errors.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
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

/** The same cap with one base32 character of the read key changed: well formed, nothing published there. */
function mistyped(card: string): string {
  const at = 'URI:DIR2-RO:'.length + 3;
  return `${card.slice(0, at)}${card[at] === 'a' ? 'b' : 'a'}${card.slice(at + 1)}`;
}

test('a card cut short, then one mistyped, then the right one: each wrong one is asked again with why; the identity is read', async (t) => {
  const { api, publicDirectory, card } = await published();
  t.regex(card, /^URI:DIR2-RO:[a-z2-7]{26}:[a-z2-7]{52}$/, "Tahoe's lengths, as the memory grid makes them");
  const c = typedOnConsole([card.slice(0, -7), mistyped(card), card]);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['bob'], options), ARMORED);
  t.regex(c.text(), /that read cap has 26 \+ 45 characters after URI:DIR2-RO:; a recovery card's has 26 \+ 52; a group of 4 is missing[^\n]*\(2 tries left\)/);
  t.regex(c.text(), /no identity can be read at the recovery card's read cap \(nothing is published there\)[^\n]*\(1 try left\)/);
  t.false(c.text().includes(card.slice(12, 30)), 'no cap echoed in the reasons');
});

test('the card typed in groups, with spaces and line breaks as on the card, is read', async (t) => {
  const { api, publicDirectory, card } = await published();
  const grouped = card.replace(/(.{4})/g, '$1 ');
  t.is(await selectIdentity(typedOnConsole([grouped]).prompter, api, publicDirectory, ['bob'], options), ARMORED);
});

test('three cards copied wrong: the step fails with exit 13 and the last reason', async (t) => {
  const { api, publicDirectory, card } = await published();
  const c = typedOnConsole([card.slice(0, -1), mistyped(card), `${card}aaaa`]);
  const error = await t.throwsAsync(selectIdentity(c.prompter, api, publicDirectory, ['bob'], options), { instanceOf: SysbackError });
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
  const error = await t.throwsAsync(selectIdentity(c.prompter, broken, publicDirectory, ['bob'], options), { instanceOf: SysbackError });
  t.is(error?.exitCode, EXIT.gridUnreachable);
  t.false(c.text().includes('tries left'));
});

test('over a slow grid (the identity\'s shares on servers not connected yet) the read keeps trying past readRetrying\'s 5 tries, saying so, and the step goes on', async (t) => {
  const grid = new MemoryGrid();
  const api = grid.client({ name: 'router' });
  const publicDirectory = await api.mkdir();
  const own = await api.mkdir();
  await api.put(ARMORED, { dirCap: own, name: 'identity.asc' });
  await api.link(publicDirectory, 'alice', (await api.info(own))!.readCap);
  grid.inject('info', 410, 'UnrecoverableFileError: insufficient good shares', { times: 5, name: (name) => name === 'identity.asc' });
  const c = typedOnConsole(['alice']);
  t.is(await selectIdentity(c.prompter, api, publicDirectory, ['alice'], options), ARMORED);
  t.is(c.text().match(/failed for the moment[^\n]*trying again/g)?.length, 5, c.text());
  t.false(c.text().includes('URI:'), 'no cap in what it says');
});
