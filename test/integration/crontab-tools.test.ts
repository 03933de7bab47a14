// The managed cron block against Debian's own `crontab` in the target root filesystem: what an owner
// does to root's crontab (`crontab -l`, `crontab -`, which hide and rewrite three header lines) must
// never hide the block's marker, and the rewrite a recovery makes must leave such a file byte-equal.
// The e2e run found the failure this stops: crontab -l hid the marker of a header-less file, so the
// recovered router got a second backup line and differed from the lost one.
import { createContext } from '../../core/context.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { CRON_MARKER, cronLines, installCronEntry } from '../../firstboot/cron-entry.ts';
import { SimulatedRouter } from '../support/router.ts';
import { testUnless } from '../support/skip.ts';
import { isRoot } from '../support/target.ts';

const asRoot = testUnless([!isRoot(), 'needs root (mounts the simulated router\'s overlay, runs chroot)']);

asRoot('crontab-l-hides-marker: after sysback installs its block, the owner adds a line with crontab -l | crontab -; the block keeps its marker, and a recovery\'s rewrite leaves the file byte-equal', async (t) => {
  const router = await SimulatedRouter.create('crontab');
  t.teardown(() => router.destroy());
  const ctx = createContext({ root: router.root });
  await installCronEntry(ctx, 240);
  const listed = await router.exec(['crontab', '-l']);
  t.is(listed.exitCode, 0, listed.stderr);
  t.true(listed.stdout.split('\n').includes(CRON_MARKER), `crontab -l shows the marker:\n${listed.stdout}`);

  const edit = await router.exec(['sh', '-c', "(crontab -l; echo '5 4 * * * /bin/true # owner') | crontab -"]);
  t.is(edit.exitCode, 0, edit.stderr);
  const edited = router.read(DEVICE.rootCrontab);
  t.is(edited.split('\n').filter((l) => l === CRON_MARKER).length, 1, `one marker after the owner's edit:\n${edited}`);
  t.is(edited.split('\n').filter((l) => l === cronLines(240)[2]).length, 1, 'one backup line');
  t.true(edited.includes('5 4 * * * /bin/true # owner\n'));

  await installCronEntry(ctx, 240); // what recovery step g) does to the restored file
  t.is(router.read(DEVICE.rootCrontab), edited, 'byte-equal');
});
