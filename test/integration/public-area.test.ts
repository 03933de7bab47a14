// The public area on a real grid (grid/public-area.ts, DESIGN §4.3): a router publishes its identity
// through one node and another client node of the grid lists the alias and decrypts it; a taken alias
// is refused and the owner's identity is untouched; republishing replaces identity.asc and re-links a
// vanished alias; unlink vandalism and alias hijacking are survived through the recovery card's read
// cap; a read cap cannot change an identity; a tampered or truncated identity.asc gives CorruptError;
// routers publishing from several nodes at the same moment (Tahoe's uncoordinated writes) lose none.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { CorruptError, SysbackError, UnknownAliasError, UserError, WrongPasswordError } from '../../core/errors.ts';
import { createLog } from '../../core/log.ts';
import { freePorts } from '../../core/ports.ts';
import { createRunner } from '../../core/runner.ts';
import { buildIdentity, decryptIdentity, encryptIdentity, type Identity } from '../../grid/identity.ts';
import { loadLocalGrid } from '../../grid/local-grid.ts';
import {
  AliasTakenError,
  aliasState,
  fetchIdentity,
  fetchIdentityByCard,
  IDENTITY_FILE,
  listAliases,
  makeIdentityDir,
  parseCardCap,
  publishIdentity,
  publishRecoveredIdentity,
  recoveryCard,
  UnknownCardError,
  type IdentityDir,
} from '../../grid/public-area.ts';
import { createNode, startNode, stopNode } from '../../grid/tahoe-node.ts';
import { hostTahoe, sysrootTahoe } from '../../grid/tahoe-program.ts';
import { TahoeWebApi } from '../../grid/webapi.ts';
import { processesMentioning } from '../support/leaks.ts';
import { sharedGrid, type TestGrid } from '../support/shared-grid.ts';
import { testIf } from '../support/skip.ts';
import { isRoot } from '../support/target.ts';

const CHEAP = { passes: 1, parallelism: 1, memoryExponent: 10 };
const PASSWORD = 'lantern quarry velvet sparrow';
const VANDAL_PASSWORD = 'obsidian walrus tangerine 42';
// unique per run: the shared grid's public directory outlives this file
const run = randomBytes(4).toString('hex');
const alias = `pa-${run}-home`;

const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-public-area-'));
const clientDir = path.join(parent, 'other-client');
const log = createLog({ level: 'warn' });
const runner = createRunner(log);

let g: TestGrid;
let publicDir = '';
/** the gateway node: where "our" router publishes */
let api: TahoeWebApi;
/** another client node of the same grid: where others (and a new router) look */
let other: TahoeWebApi;
let own: IdentityDir;
let content: Identity;
let cardText = '';

test.before(async () => {
  if (!isRoot()) return;
  g = await sharedGrid();
  publicDir = g.grid.publicDirectory;
  api = g.api;
  const local = loadLocalGrid(g.dir);
  const tahoe = local.tahoe === 'host' ? hostTahoe() : sysrootTahoe(local.tahoe, path.join(parent, '.sysroot'), [parent]);
  const [webPort] = await freePorts(1);
  await createNode(runner, tahoe, {
    dir: clientDir,
    role: 'client',
    nickname: 'other-client',
    listen: { kind: 'none' },
    webPort,
    shares: g.grid.shares,
    introducers: g.grid.introducers,
  });
  await startNode(runner, tahoe, clientDir);
  other = new TahoeWebApi(webPort!);
  await other.waitUntilUp(60_000);
  await other.waitForServers(g.grid.shares.happy, 90_000);
});

test.after.always(async () => {
  await stopNode(clientDir).catch(() => {});
  await g?.release();
  rmSync(parent, { recursive: true, force: true });
});

const serial = testIf(isRoot(), 'public area tests need root (Tahoe runs from the target root filesystem)').serial;

async function identityFor(dir: IdentityDir, name: string, extra = ''): Promise<Identity> {
  const privateDir = await api.mkdir();
  return buildIdentity({
    alias: name,
    grid: { introducers: g.grid.introducers, shares: g.grid.shares },
    private: { dircap: privateDir, convergence: 'a'.repeat(26) + extra.replace(/[^a-z2-7]/g, '').slice(0, 20) },
    public: { dircap: dir.writeCap },
  });
}

/** No cap in an error's message or hint. */
function capFree(t: any, error: unknown): void {
  const text = `${(error as Error).message} ${(error as SysbackError).hint ?? ''}`;
  t.false(/URI:[A-Z0-9-]+:[a-z2-7]{6}/.test(text), `a cap leaked into: ${text}`);
  t.false(text.includes(PASSWORD));
}

function flipDataByte(armored: string): string {
  const lines = armored.trim().split('\n');
  const body = lines.slice(lines.indexOf('') + 1, -1).filter((line) => !line.startsWith('='));
  const binary = Buffer.from(body.join(''), 'base64');
  binary[binary.length - 200]! ^= 0x04;
  return openpgp.armor(openpgp.enums.armor.message, new Uint8Array(binary), undefined, undefined, undefined, true);
}

serial('an identity published through one node is listed and decrypted through another node of the grid', async (t) => {
  own = await makeIdentityDir(api);
  t.regex(own.readCap, /^URI:DIR2-RO:/);
  content = await identityFor(own, alias, 'first');
  const armored = await encryptIdentity(content, PASSWORD, { insecureArgon2ForTests: CHEAP });
  const published = await publishIdentity(api, publicDir, alias, armored, own.writeCap);
  t.deepEqual(published, { readCap: own.readCap, aliasLinked: true });

  t.true((await listAliases(other, publicDir)).includes(alias));
  const fetched = await fetchIdentity(other, publicDir, alias);
  t.is(fetched, armored);
  t.deepEqual(await decryptIdentity(fetched, PASSWORD), content);

  // what everyone sees under the alias is a read cap: no one else gets the write cap of our directory
  const entry = (await other.list(publicDir)).find((e) => e.name === alias)!;
  t.is(entry.type, 'dirnode');
  t.is(entry.cap, own.readCap);
  t.is(await aliasState(other, publicDir, alias, own.readCap), 'ours');
});

serial('an alias already taken by another router is refused, and the owner\'s identity stays as it was', async (t) => {
  const before = await fetchIdentity(other, publicDir, alias);
  const intruder = await makeIdentityDir(other);
  const theirs = await encryptIdentity(await identityFor(intruder, alias, 'intruder'), VANDAL_PASSWORD, { insecureArgon2ForTests: CHEAP });
  t.is(await aliasState(other, publicDir, alias, intruder.readCap), 'taken');
  const error = await t.throwsAsync(publishIdentity(other, publicDir, alias, theirs, intruder.writeCap), { instanceOf: AliasTakenError });
  t.regex(error!.message, /already taken/);
  t.truthy(error!.hint);
  capFree(t, error);
  t.is(await fetchIdentity(other, publicDir, alias), before);
  // refused before anything was uploaded into the intruder's own directory
  t.deepEqual(await other.list(intruder.readCap), []);
});

serial('the owner republishes: identity.asc is replaced in its own directory and the alias link is kept', async (t) => {
  content = { ...content, created: new Date().toISOString() };
  const armored = await encryptIdentity(content, PASSWORD, { insecureArgon2ForTests: CHEAP });
  const again = await publishIdentity(api, publicDir, alias, armored, own.writeCap);
  t.deepEqual(again, { readCap: own.readCap, aliasLinked: false });
  t.is(await fetchIdentity(other, publicDir, alias), armored);
  t.deepEqual((await other.list(own.readCap)).map((e) => e.name), [IDENTITY_FILE]);
});

serial('a read cap cannot change an identity: writing identity.asc through it is refused by Tahoe', async (t) => {
  const before = await fetchIdentity(other, publicDir, alias);
  await t.throwsAsync(other.put('forged', { dirCap: own.readCap, name: IDENTITY_FILE }));
  await t.throwsAsync(other.unlink(own.readCap, IDENTITY_FILE));
  t.is(await fetchIdentity(other, publicDir, alias), before);
});

serial('recovery card: printable, and its read cap parses back from the printed text', (t) => {
  cardText = recoveryCard(alias, own.readCap);
  t.true(cardText.includes(`alias:     ${alias}`));
  t.true(cardText.split('\n').includes(own.readCap), 'the read cap has a line of its own');
  t.true(cardText.split('\n').every((line) => line.length <= 80 || line === own.readCap));
  t.false(cardText.includes(PASSWORD));
  t.is(parseCardCap(cardText.split('\n').find((line) => line.startsWith('URI:'))!), own.readCap);
  // typed back in groups or across lines, it is the same cap
  t.is(parseCardCap(own.readCap.replace(/(.{16})/g, '$1 \n')), own.readCap);
  t.throws(() => parseCardCap(own.writeCap), { instanceOf: SysbackError, message: /not the read cap/ });
});

serial('unlink vandalism: the alias disappears, fetching it says so, and the card\'s read cap still recovers', async (t) => {
  await other.unlink(publicDir, alias); // anyone holding grid.json can do this
  t.false((await listAliases(other, publicDir)).includes(alias));
  const error = await t.throwsAsync(fetchIdentity(other, publicDir, alias), { instanceOf: UnknownAliasError });
  capFree(t, error);
  const armored = await fetchIdentityByCard(other, cardText.split('\n').find((line) => line.startsWith('URI:'))!);
  t.deepEqual(await decryptIdentity(armored, PASSWORD), content);
});

serial('the owner republishing after vandalism re-links the alias', async (t) => {
  const armored = await fetchIdentityByCard(api, own.readCap);
  const again = await publishIdentity(api, publicDir, alias, armored, own.writeCap);
  t.deepEqual(again, { readCap: own.readCap, aliasLinked: true });
  t.true((await listAliases(other, publicDir)).includes(alias));
  t.is(await fetchIdentity(other, publicDir, alias), armored);
});

serial('alias hijack: re-linked to a vandal\'s own identity, the password fails clearly and the card still recovers', async (t) => {
  const vandal = await makeIdentityDir(other);
  const fake = await encryptIdentity(await identityFor(vandal, alias, 'vandal'), VANDAL_PASSWORD, { insecureArgon2ForTests: CHEAP });
  await other.put(fake, { dirCap: vandal.writeCap, name: IDENTITY_FILE });
  await other.unlink(publicDir, alias);
  await other.link(publicDir, alias, vandal.readCap, false);
  const error = await t.throwsAsync(decryptIdentity(await fetchIdentity(other, publicDir, alias), PASSWORD), { instanceOf: WrongPasswordError });
  capFree(t, error);
  t.deepEqual(await decryptIdentity(await fetchIdentityByCard(other, own.readCap), PASSWORD), content);
  // the owner cannot silently take the alias back over someone else's link either: it is refused
  const armored = await fetchIdentityByCard(api, own.readCap);
  await t.throwsAsync(publishIdentity(api, publicDir, alias, armored, own.writeCap), { instanceOf: AliasTakenError });
  // put things back for the tests that follow
  await other.unlink(publicDir, alias);
  t.true((await publishIdentity(api, publicDir, alias, armored, own.writeCap)).aliasLinked);
});

serial('a tampered identity.asc (written by a holder of the directory write cap) gives CorruptError, not a wrong password', async (t) => {
  const original = await fetchIdentityByCard(api, own.readCap);
  await api.put(flipDataByte(original), { dirCap: own.writeCap, name: IDENTITY_FILE });
  const fetched = await fetchIdentity(other, publicDir, alias);
  t.not(fetched, original);
  const error = await t.throwsAsync(decryptIdentity(fetched, PASSWORD), { instanceOf: CorruptError, message: /tampered/ });
  capFree(t, error);
  // a locally truncated copy is corrupt as well
  await t.throwsAsync(decryptIdentity(original.slice(0, original.length / 2), PASSWORD), { instanceOf: CorruptError });
  await api.put(original, { dirCap: own.writeCap, name: IDENTITY_FILE });
  t.deepEqual(await decryptIdentity(await fetchIdentity(other, publicDir, alias), PASSWORD), content);
});

serial('publishIdentity refuses what is not an identity file, before touching the grid', async (t) => {
  await t.throwsAsync(publishIdentity(api, publicDir, `pa-${run}-junk`, 'hello', own.writeCap), { instanceOf: CorruptError });
  t.false((await listAliases(other, publicDir)).includes(`pa-${run}-junk`));
});

serial('unknown aliases, invalid aliases and unreadable card caps each give their own error', async (t) => {
  await t.throwsAsync(fetchIdentity(other, publicDir, `pa-${run}-nobody`), { instanceOf: UnknownAliasError, message: /no identity is published/ });
  await t.throwsAsync(fetchIdentity(other, publicDir, '../../etc'), { instanceOf: UserError, message: /not a valid alias/ });
  await t.throwsAsync(fetchIdentity(other, publicDir, 'a/b/c'), { instanceOf: UserError });
  // a well-formed read cap of a directory that was never made
  const nowhere = `URI:DIR2-RO:${'a'.repeat(26)}:${'b'.repeat(52)}`;
  t.log('Tahoe on a never-made read cap:', String(JSON.stringify(await other.info(nowhere).catch((e) => String(e)))).slice(0, 200));
  const error = await t.throwsAsync(fetchIdentityByCard(other, nowhere), { instanceOf: UnknownCardError });
  capFree(t, error);
  await t.throwsAsync(fetchIdentityByCard(other, 'not a cap'), { instanceOf: SysbackError, message: /not the read cap/ });
  // a real card's cap cut short (a group missing) is named by its lengths; one character of the
  // fingerprint mistyped finds the shares by the read key and verifies none: Tahoe's 410, told as
  // "a character after the second colon may be mistyped, or the servers … not connected yet"
  await t.throwsAsync(fetchIdentityByCard(other, own.readCap.slice(0, -7)), { instanceOf: SysbackError, message: /26 \+ 45 characters/ });
  const at = own.readCap.length - 10;
  const mistyped = `${own.readCap.slice(0, at)}${own.readCap[at] === 'a' ? 'b' : 'a'}${own.readCap.slice(at + 1)}`;
  capFree(t, await t.throwsAsync(fetchIdentityByCard(other, mistyped), { instanceOf: UnknownCardError, message: /a character after the second colon may be mistyped/ }));
});

/** A seeded uniform [0, 1) source (mulberry32), so a failing run's backoff can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

serial('concurrent publishing: 15 routers on three nodes publish into the shared directory at once and none is lost', async (t) => {
  const thirdDir = path.join(parent, 'third-client');
  const local = loadLocalGrid(g.dir);
  const tahoe = local.tahoe === 'host' ? hostTahoe() : sysrootTahoe(local.tahoe, path.join(parent, '.sysroot'), [parent]);
  const [webPort] = await freePorts(1);
  await createNode(runner, tahoe, { dir: thirdDir, role: 'client', nickname: 'third-client', listen: { kind: 'none' }, webPort, shares: g.grid.shares, introducers: g.grid.introducers });
  await startNode(runner, tahoe, thirdDir);
  try {
    const third = new TahoeWebApi(webPort!);
    await third.waitUntilUp(60_000);
    await third.waitForServers(g.grid.shares.happy, 90_000);
    const nodes = [api, other, third];
    const seed = Number.parseInt(run.slice(0, 6), 16);
    t.log(`backoff seed ${seed}`);
    const random = seeded(seed);
    const routers: Array<{ node: TahoeWebApi; name: string; dir: IdentityDir; armored: string }> = [];
    for (let i = 0; i < 15; i++) {
      const node = nodes[i % nodes.length]!;
      const dir = await makeIdentityDir(node);
      const name = `pa-${run}-many-${i}`;
      routers.push({ node, name, dir, armored: await encryptIdentity(await identityFor(dir, name, `many${i}`), PASSWORD, { insecureArgon2ForTests: CHEAP }) });
    }
    const retries: string[] = [];
    const results = await Promise.allSettled(
      routers.map((r) => publishIdentity(r.node, publicDir, r.name, r.armored, r.dir.writeCap, { random, onRetry: (m) => void retries.push(m) })),
    );
    t.log(`${retries.length} retries after Tahoe's uncoordinated-write error, a split-version 410 or a lost link`);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    t.deepEqual(failed, [], 'every publish succeeded');
    const listed = await listAliases(other, publicDir);
    for (const r of routers) {
      t.true(listed.includes(r.name), `${r.name} is listed`);
      t.is(await fetchIdentity(other, publicDir, r.name), r.armored, `${r.name} names its own identity`);
    }
  } finally {
    await stopNode(thirdDir).catch(() => {});
  }
  t.deepEqual(processesMentioning(thirdDir), []);
});

serial('recovery publishes into a fresh identity directory and moves the alias; a taken alias is reported, not thrown', async (t) => {
  const name = `pa-${run}-recovered`;
  const old = await makeIdentityDir(api);
  const first = await encryptIdentity(await identityFor(old, name, 'old'), PASSWORD, { insecureArgon2ForTests: CHEAP });
  await publishIdentity(api, publicDir, name, first, old.writeCap);
  const fresh = await makeIdentityDir(api);
  const again = await encryptIdentity(await identityFor(fresh, name, 'fresh'), PASSWORD, { insecureArgon2ForTests: CHEAP, reusedPassword: true });
  const moved = await publishRecoveredIdentity(api, publicDir, name, again, { newDirWriteCap: fresh.writeCap, oldDirReadCap: old.readCap });
  t.is(moved.readCap, fresh.readCap);
  t.is(moved.alias.outcome, 'linked');
  t.is(await fetchIdentity(other, publicDir, name), again);
  // a vandal links the alias elsewhere: the next recovery reports it and the card is the way in
  const vandal = await makeIdentityDir(other);
  await other.unlink(publicDir, name);
  await other.link(publicDir, name, vandal.readCap, false);
  const newer = await makeIdentityDir(api);
  const report = await publishRecoveredIdentity(api, publicDir, name, again, { newDirWriteCap: newer.writeCap, oldDirReadCap: fresh.readCap });
  t.is(report.alias.outcome, 'taken');
  t.regex(report.alias.message!, /the recovery goes on/);
  t.is(await fetchIdentityByCard(other, report.readCap), again, 'the new card reads the identity');
});

serial('the other client node is stopped by its PID and leaves no process behind', async (t) => {
  t.true(await stopNode(clientDir));
  t.deepEqual(processesMentioning(clientDir), []);
});
