// The in-memory grid keeps the TahoeClient contract honestly: content-addressed immutable files,
// mutable directories with versions, read caps that cannot write, share placement over its servers,
// Tahoe's HTTP statuses, stopped servers and nodes.
import test from 'ava';
import { GridUnreachableError, TooFewServersError } from '../../../core/errors.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { sharesOn, TahoeHttpError } from '../../../grid/tahoe-client.ts';

const status = (error: unknown) => (error instanceof TahoeHttpError ? error.status : undefined);

test('immutable files are content-addressed: the same bytes from the same node give the same cap', async (t) => {
  const grid = new MemoryGrid();
  const a = grid.client({ convergence: 'one' });
  const b = grid.client({ convergence: 'two' });
  const cap = await a.put('hello');
  t.regex(cap, /^URI:CHK:[a-z2-7]+:[a-z2-7]+:2:3:5$/);
  t.is(await a.put(Buffer.from('hello')), cap);
  t.not(await b.put('hello'), cap, 'another convergence secret, another cap');
  t.is((await a.getBytes(cap)).toString(), 'hello');
  t.deepEqual(await a.info(cap), { kind: 'filenode', cap, readCap: cap, mutable: false, size: 5 });
});

test('directories are mutable; a read cap lists but cannot write, and hides write caps of children', async (t) => {
  const grid = new MemoryGrid();
  const api = grid.client();
  const dir = await api.mkdir();
  t.regex(dir, /^URI:DIR2:[a-z2-7]+:[a-z2-7]+$/);
  const info = (await api.info(dir))!;
  t.regex(info.readCap, /^URI:DIR2-RO:[a-z2-7]+:[a-z2-7]+$/);
  t.is(info.writeCap, dir);
  const sub = await api.mkdirIn(dir, 'sub');
  t.is(await api.mkdirIn(dir, 'sub'), sub, 'an existing subdirectory is returned, not replaced');
  await api.put('x', { dirCap: dir, name: 'sub/deep/file.txt' });
  t.is((await api.getBytes(dir, 'sub/deep/file.txt')).toString(), 'x');
  const listed = await api.list(info.readCap);
  t.deepEqual(listed.map((e) => [e.name, e.type, e.cap === e.readCap]), [['sub', 'dirnode', true]]);
  t.is(status(await t.throwsAsync(api.link(info.readCap, 'y', sub))), 403);
  t.is(status(await t.throwsAsync(api.link(dir, 'sub', sub, false))), 409);
  t.is(status(await t.throwsAsync(api.unlink(dir, 'nothing'))), 404);
  t.is(await api.info(dir, 'nothing'), undefined);
  await api.unlink(dir, 'sub');
  t.deepEqual(await api.list(dir), []);
});

test('check reports which server holds which share; the router\'s own server can hold 1 of 3', async (t) => {
  const grid = new MemoryGrid({ servers: ['s1', 's2'] });
  const router = grid.client({ name: 'router', ownServer: 'router-storage' });
  const cap = await router.put('backup bytes');
  const check = await router.check(cap);
  t.true(check.healthy);
  t.is(check.expectedShares, 3);
  t.is(check.placement.reduce((n, h) => n + h.shares.length, 0), 3);
  t.is(sharesOn(check, 'router-storage'), 1, "the router's own server holds 1 of 3");
  t.deepEqual(check.serversResponding, ['router-storage', 's1', 's2']);
  t.deepEqual(grid.placement(cap), check.placement);
});

test('stopped servers: an upload needs shares.happy servers (500), a read needs shares.needed (410)', async (t) => {
  const grid = new MemoryGrid();
  const api = grid.client();
  const cap = await api.put('data');
  grid.stopServer('storage-0');
  t.is(status(await t.throwsAsync(api.put('more'))), 500);
  const degraded = await api.check(cap);
  t.false(degraded.healthy);
  t.true(degraded.recoverable);
  grid.stopServer('storage-1');
  t.is(status(await t.throwsAsync(api.getBytes(cap))), 410);
  await t.throwsAsync(api.waitForServers(3, 5), { instanceOf: TooFewServersError });
  grid.startServer('storage-0');
  grid.startServer('storage-1');
  t.is((await api.getBytes(cap)).toString(), 'data');
});

test('a directory written while a server was down reads its newest version; repair re-places shares', async (t) => {
  const grid = new MemoryGrid();
  const api = grid.client();
  const dir = await api.mkdir();
  await api.put('v1', { dirCap: dir, name: 'f' });
  grid.stopServer('storage-2');
  await api.link(dir, 'g', await api.put('x', undefined).catch(() => dir));
  grid.startServer('storage-2');
  t.deepEqual((await api.list(dir)).map((e) => e.name), ['f', 'g'], 'the stale shares on storage-2 do not win');
  const before = await api.check(dir);
  t.false(before.healthy, 'the newest version is on two servers only');
  const renewed = await api.renewLeases(dir);
  t.true(renewed.unhealthy >= 1);
  t.true((await api.check(dir)).healthy);
});

test('faults: an injected uncoordinated write is a 500 once; a stopped node does not answer', async (t) => {
  const grid = new MemoryGrid();
  const api = grid.client();
  const dir = await api.mkdir();
  grid.uncoordinatedWrite('link');
  t.is(status(await t.throwsAsync(api.link(dir, 'a', dir))), 500);
  await api.link(dir, 'a', dir);
  api.stop();
  await t.throwsAsync(api.welcome(), { instanceOf: GridUnreachableError });
  t.false(await api.isUp());
});

test('servers-one-by-one: waiting for servers can also wait for `needed` other than the router\'s own (over Tor the own server is often seen first)', async (t) => {
  const grid = new MemoryGrid({ servers: ['storage-0', 'storage-1', 'storage-2'] });
  const api = grid.client({ ownServer: 'router' });
  grid.stopServer('storage-1');
  grid.stopServer('storage-2');
  // router + storage-0: happy 2 is met, but only 1 server other than the router is up
  t.is(await api.waitForServers(2, 5), 2);
  const seen: Array<[number, number]> = [];
  const error = await t.throwsAsync(api.waitForServers(2, 5, (connected, others) => seen.push([connected, others]), { ownId: 'router', needed: 2 }), { instanceOf: TooFewServersError });
  t.regex(error!.message, /only 1 storage server\(s\) other than this router are connected \(waited 0 s\); what survives the loss of this router needs 2/);
  t.deepEqual(seen[0], [2, 1]);
  setTimeout(() => grid.startServer('storage-2'), 30);
  t.is(await api.waitForServers(2, 5_000, undefined, { ownId: 'router', needed: 2 }), 3);
});
