// The "new" flow (the seed's configuration a)-f)) against the in-memory grid: no root, no Tahoe.
import test from 'ava';
import { CRON_MARKER } from '../../../firstboot/cron-entry.ts';
import { runConfigure } from '../../../firstboot/configure.ts';
import { DEVICE } from '../../../core/device-paths.ts';
import { EXIT, SysbackError } from '../../../core/errors.ts';
import { readState, scheduledDue } from '../../../core/state.ts';
import { ALIAS_PRIVATE, ALIAS_PUBLIC, readAliases } from '../../../grid/device-nodes.ts';
import { decryptIdentity } from '../../../grid/identity.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { pendingIdentityDir } from '../../../firstboot/steps/identity-dir.ts';
import { statSync, writeFileSync } from 'node:fs';
import { CARD_AT_LOGIN_NOTE } from '../../../firstboot/card-at-login.ts';
import { consoleLikePrompter, filesHolding, memoryGridConfig, memoryRouter, scriptedPrompter } from '../../support/memory-device.ts';

const PASSWORD = 'plum-kettle-orbit-Saturn-91';
const flowOptions = { answers: undefined, answersFile: undefined, noReboot: true, replacesConfiguredRouter: false };

async function setup(t: import('ava').ExecutionContext) {
  const grid = new MemoryGrid();
  const config = await memoryGridConfig(grid);
  const r = await memoryRouter(grid, config, 'router-a');
  t.teardown(() => r.destroy());
  r.write('/etc/myapp/app.conf', 'listen = 8080\n');
  return { grid, config, r, operator: grid.client({ name: 'operator' }) };
}

test('"new": steps a) to f) in the seed\'s order; configured, identity published, first backup verified, card saved', async (t) => {
  const { config, r, operator } = await setup(t);
  const { prompter } = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  await runConfigure(r.ctx, prompter, flowOptions);
  t.deepEqual(
    r.events.filter((e) => e.flow === 'configure').map((e) => `${e.step}) ${e.part ? `part ${e.part}` : e.name}: ${e.outcome}`),
    ['a) periodic backup in cron: ok', 'b) private Tahoe node: ok', 'c) public Tahoe node: ok', 'd) part admin access: ok', 'd) identity file in the public area: ok', 'e) first backup, verified: ok', 'f) recovery card, then reboot: ok'],
  );
  t.is(readState(r.ctx)?.mode, 'new');
  t.is(r.read(DEVICE.rootCrontab).split('\n').filter((l) => l === CRON_MARKER).length, 1);
  t.regex(r.read(DEVICE.recoveryCard), /alias: {5}alice/);
  const linked = (await operator.info(config.publicDirectory, 'alice'))!;
  t.true(r.read(DEVICE.recoveryCard).includes(linked.readCap), 'the card holds the read cap the alias points at');
  const identity = await decryptIdentity((await operator.getBytes(linked.readCap, 'identity.asc')).toString(), PASSWORD);
  t.is(identity.private.dircap as string | undefined, readAliases(r.ctx)[ALIAS_PRIVATE]);
  t.truthy(readState(r.ctx)?.lastGoodBackup);
});

test('on a console the card is shown, then said to come back above the login prompt (the marker the next boot reads); a headless run leaves no marker', async (t) => {
  const { r } = await setup(t);
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions);
  t.false(r.exists(DEVICE.cardAtLogin), 'headless: nobody watched the console');
  const { prompter, said } = consoleLikePrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  await runConfigure(r.ctx, prompter, flowOptions);
  const card = r.read(DEVICE.recoveryCard);
  t.true(said.includes(card), 'the card itself is shown');
  t.is(said.indexOf(CARD_AT_LOGIN_NOTE), said.indexOf(card) + 2, 'after the card and where it is saved');
  t.true(r.exists(DEVICE.cardAtLogin));
  t.is(statSync(r.path(DEVICE.cardAtLogin)).mode & 0o777, 0o600);
});

test('the first cron run after "new" owes no full verification and no lease renewal: both schedules start at configure, and a rerun keeps them', async (t) => {
  const { r } = await setup(t);
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions);
  const state = readState(r.ctx)!;
  t.is(state.lastVerify?.result, 'ok', 'step e) ran the full verification');
  t.regex(state.lastVerify?.detail ?? '', /verified/);
  t.is(state.lastLeaseRenewal?.result, 'ok', 'every share was just written with a lease');
  t.false(scheduledDue(state.lastVerify, 30, r.clock.now()).due);
  t.false(scheduledDue(state.lastLeaseRenewal, 7, r.clock.now()).due);
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions);
  t.is(readState(r.ctx)!.lastLeaseRenewal?.lastOk, state.lastLeaseRenewal?.lastOk, 'the rerun keeps the record it did not renew');
  t.truthy(readState(r.ctx)!.lastVerify?.lastOk);
});

test('a rerun after a failed first backup resumes: same private area, same identity directory, one alias, one cron line', async (t) => {
  const { grid, config, r, operator } = await setup(t);
  grid.inject('put', 500, 'UncoordinatedWriteError', { name: (name) => name?.startsWith('archives/') === true });
  const first = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  const error = await t.throwsAsync(runConfigure(r.ctx, first.prompter, flowOptions), { instanceOf: SysbackError });
  t.regex(error.message, /^step "e\) first backup, verified" failed/);
  t.regex(error.hint ?? '', /run sysback firstboot again to resume/);
  t.is(readState(r.ctx), undefined, 'no state: the next boot asks again');
  const aliases = readAliases(r.ctx);
  const pending = pendingIdentityDir(r.ctx);
  t.truthy(pending, 'the identity directory made by the failed attempt is kept for the rerun');

  const second = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  await runConfigure(r.ctx, second.prompter, flowOptions);
  t.is(readAliases(r.ctx)[ALIAS_PRIVATE], aliases[ALIAS_PRIVATE]);
  const linked = (await operator.info(config.publicDirectory, 'alice'))!;
  t.is(linked.readCap, (await operator.info(pending!))!.readCap, 'the rerun reused the same identity directory');
  t.is(readAliases(r.ctx)[ALIAS_PUBLIC], linked.readCap, 'only the read cap stays');
  t.is(pendingIdentityDir(r.ctx), undefined, 'the write cap is gone once the flow succeeded');
  t.deepEqual((await operator.list(config.publicDirectory)).map((e) => e.name), ['alice']);
  t.is(r.read(DEVICE.rootCrontab).split('\n').filter((l) => l === CRON_MARKER).length, 1);
  t.is(readState(r.ctx)?.mode, 'new');
});

test('an alias another router holds is refused in step d), nothing of theirs changes', async (t) => {
  const { grid, config, r, operator } = await setup(t);
  const theirs = await operator.mkdir();
  await operator.link(config.publicDirectory, 'alice', (await operator.info(theirs))!.readCap);
  const { prompter } = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  const error = await t.throwsAsync(runConfigure(r.ctx, prompter, flowOptions), { instanceOf: SysbackError });
  t.regex(error.message, /^step "d\) identity file in the public area" failed/);
  t.is(error.exitCode, EXIT.usage);
  t.is((await operator.info(config.publicDirectory, 'alice'))!.readCap, (await operator.info(theirs))!.readCap);
  t.is(readState(r.ctx), undefined);
  t.truthy(grid);
});

test('alias "X" is already taken on a configure rerun: a router that published the alias itself resumes, moving the alias to a fresh identity directory', async (t) => {
  const { config, r, operator } = await setup(t);
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions);
  const before = (await operator.info(config.publicDirectory, 'alice'))!.readCap;
  const privateArea = readAliases(r.ctx)[ALIAS_PRIVATE];

  // configure again on the configured router (as after switching the transport in sysback.json)
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions);
  const after = (await operator.info(config.publicDirectory, 'alice'))!.readCap;
  t.not(after, before, 'the alias names the fresh directory (the old write cap is not on the router)');
  t.deepEqual((await operator.list(config.publicDirectory)).map((e) => e.name), ['alice'], 'one alias, not a second one');
  const identity = await decryptIdentity((await operator.getBytes(after, 'identity.asc')).toString(), PASSWORD);
  t.is(identity.private.dircap as string | undefined, privateArea, 'the same private area, with its generations');
  t.is(readAliases(r.ctx)[ALIAS_PUBLIC], after);
  t.true(r.read(DEVICE.recoveryCard).includes(after), 'the new card names the directory the alias names');
  t.is(pendingIdentityDir(r.ctx), undefined);
  t.is(readState(r.ctx)?.mode, 'new');
});

test('a configure rerun whose alias now names another directory (moved by a recovery elsewhere, or vandalised) is still refused', async (t) => {
  const { config, r, operator } = await setup(t);
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions);
  const theirs = (await operator.info(await operator.mkdir()))!.readCap;
  await operator.link(config.publicDirectory, 'alice', theirs, true);
  const error = await t.throwsAsync(runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD }).prompter, flowOptions), { instanceOf: SysbackError });
  t.regex(error.message, /^step "d\) identity file in the public area" failed/);
  t.is((await operator.info(config.publicDirectory, 'alice'))!.readCap, theirs, 'nothing of theirs changes');
});

test('a stolen router holds no write cap to its identity directory: only the read cap is on disk', async (t) => {
  const { config, r, operator } = await setup(t);
  const { prompter } = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  await runConfigure(r.ctx, prompter, flowOptions);
  const linked = (await operator.info(config.publicDirectory, 'alice'))!;
  const identity = await decryptIdentity((await operator.getBytes(linked.readCap, 'identity.asc')).toString(), PASSWORD);
  const writeCap = identity.public.dircap;
  t.regex(writeCap, /^URI:DIR2:/, 'the write cap lives inside the encrypted identity');
  t.deepEqual(filesHolding(r.ctx.root, writeCap), [], 'no file under the root holds it');
  t.is(readAliases(r.ctx)[ALIAS_PUBLIC], linked.readCap, 'lease renewal and the alias check read the read cap');
});

test('the password does not rest on disk once "new" succeeded: the answers file is removed', async (t) => {
  const { r } = await setup(t);
  const answers = { mode: 'new' as const, alias: 'alice', password: PASSWORD };
  const answersFile = r.path(DEVICE.answers);
  writeFileSync(answersFile, JSON.stringify(answers), { mode: 0o600 });
  t.true(statSync(answersFile).isFile());
  await runConfigure(r.ctx, scriptedPrompter(answers).prompter, { ...flowOptions, answers, answersFile });
  t.false(r.exists(DEVICE.answers));
  t.deepEqual(filesHolding(r.ctx.root, PASSWORD), [], 'no file under the root holds the password');
});

test('identity-on-the-router: with one grid server up (Tahoe\'s happy 2 met by the router and it), the wait for servers in step b) wants 2 other than the router and refuses with exit 11 at its bound, before asking or publishing; the rerun on a whole grid publishes where it survives the router\'s loss', async (t) => {
  const servers = ['storage-0', 'storage-1', 'storage-2'];
  const grid = new MemoryGrid({ servers, shares: { needed: 2, happy: 2, total: 3 } });
  const config = await memoryGridConfig(grid);
  const r = await memoryRouter(grid, config, 'router-a', { storage: true });
  t.teardown(() => r.destroy());
  r.write('/etc/myapp/app.conf', 'listen = 8080\n');
  const own = r.storageServer!;
  grid.stopServer('storage-1');
  grid.stopServer('storage-2');
  const first = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  const error = await t.throwsAsync(runConfigure(r.ctx, first.prompter, flowOptions), { instanceOf: SysbackError });
  t.is(error.exitCode, EXIT.tooFewServers);
  t.regex(error.message, /^step "b\) private Tahoe node" failed: only 1 storage server\(s\) other than this router are connected \(waited \d+ s\); what survives the loss of this router needs 2/);
  t.regex(error.hint ?? '', /run sysback firstboot again/);
  t.false(first.transcript.some((line) => /Alias/.test(line)), 'nothing was asked');
  t.is(pendingIdentityDir(r.ctx), undefined, 'no identity directory was made');
  t.is(readState(r.ctx), undefined, 'no state: the next boot asks again');

  for (const id of servers) grid.startServer(id);
  t.is(await grid.client({ name: 'operator' }).info(config.publicDirectory, 'alice'), undefined, 'nothing was published');
  const second = scriptedPrompter({ mode: 'new', alias: 'alice', password: PASSWORD });
  await runConfigure(r.ctx, second.prompter, flowOptions);
  t.is(readState(r.ctx)?.mode, 'new');
  // the router lost: a fresh client, the router's own server gone, reads the identity by its alias
  r.node('private').stop();
  grid.stopServer(own);
  const fresh = grid.client({ name: 'fresh-router' });
  const linked = (await fresh.info(config.publicDirectory, 'alice'))!;
  const identity = await decryptIdentity((await fresh.getBytes(linked.readCap, 'identity.asc')).toString(), PASSWORD);
  t.is(identity.alias, 'alice');
});

test('mkdir-right-after-connect: making the private area answers HTTP 500 twice (servers still being reached): step b) makes it again and "new" succeeds', async (t) => {
  const { grid, r } = await setup(t);
  grid.inject('mkdir', 500, 'UploadUnhappinessError: servers still being reached', { times: 2 });
  await runConfigure(r.ctx, scriptedPrompter({ mode: 'new', alias: 'mallory', password: PASSWORD }).prompter, flowOptions);
  t.is(readState(r.ctx)?.mode, 'new');
  t.true(r.log.lines.some((line) => /making the private area's directory failed for the moment/.test(line)));
});
