// A reduced, seeded part of the fault campaign (`npm run faults -- --quick --seed 7 --json`, docs/
// faults.md) in `npm test`: one or two faults of every kind across backup and recover, on the
// campaign's own grid (it stops storage nodes, so never the shared one). The campaign runs as its
// own process, as a person runs it, and is judged by its JSON: no data lost, every rerun ok.
// "degraded-then-lost" (a router holding shares backs up with 2 of 3 storage nodes down, is lost, a
// fresh router recovers) is part of it: at seed 7 the degraded run is refused with exit 11 before it
// writes anything (the plain check of the private directory asks the servers themselves) and
// the recovery restores the previous backup. "clock-behind" is part of it too: retention goes by the
// manifest's sequence, so a backup made with the clock behind is never pruned at once (issue 11 item 6).
// No fault may end in an internal error (exit 70): every one gets its typed error (issue 11 item 8).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../support/cli.ts';
import { isRoot } from '../support/target.ts';

const SEED = '7';
const BACKUP_AND_RECOVER = 'kill-sysback-backup,kill-node-upload,storage-down-upload,grid-gone-verify,clock-behind,clock-ahead,kill-sysback-recover,kill-node-download,disk-full-download,disk-full-staging,degraded-then-lost';

function campaign(kinds: string): { result: any; stderr: string } {
  const run = spawnSync(process.execPath, ['--import=tsx', path.join(REPO, 'scripts/faults.ts'), '--quick', '--seed', SEED, '--json', '--kinds', kinds], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 1_800_000,
  });
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  return { result: line.startsWith('{') ? JSON.parse(line) : undefined, stderr: run.stderr };
}

const root = isRoot() ? test.serial : test.skip;

root(`fault campaign (seed ${SEED}, quick): every backup and recovery fault is followed by a good rerun and loses nothing`, (t) => {
  const { result, stderr } = campaign(BACKUP_AND_RECOVER);
  t.truthy(result, stderr.slice(-4000));
  t.log(stderr.split('\n').filter((l) => l.startsWith('  ')).join('\n'));
  t.is(String(result.seed), SEED);
  t.true(result.injected >= 10, `${result.injected} faults injected`);
  t.is(result.lost, 0, 'no data lost');
  t.is(result.rerunsOk, result.injected, 'every rerun succeeded');
  t.is(result.survived, result.injected, 'the last good backup was intact and verifiable after every fault');
  const internal = (result.faults as Array<{ kind: string; n: number; detail: string }>).filter((f) => /internal error/.test(f.detail));
  t.deepEqual(internal.map((f) => `${f.kind} #${f.n}: ${f.detail}`), [], 'no fault ends in an internal error (exit 70)');
  // the disk faults strike on a line of the recovery, not after a delay: each must land, or the
  // campaign has lost sight of the recovery's output (it once missed every one, unnoticed)
  const missed = (result.faults as Array<{ kind: string; n: number; landed: string }>).filter((f) => f.kind.startsWith('disk-full') && f.landed.startsWith('missed'));
  t.deepEqual(missed.map((f) => `${f.kind} #${f.n}: ${f.landed}`), [], 'every disk-full fault landed');
  // a node fault that finds no node to kill aims at the wrong node (the download once moved from the
  // private node to the public one and the fault kept killing nothing)
  const noTarget = (result.faults as Array<{ kind: string; n: number; landed: string }>).filter((f) => /^missed: no \w+ node PID/.test(f.landed));
  t.deepEqual(noTarget.map((f) => `${f.kind} #${f.n}: ${f.landed}`), [], 'every node fault found its node');
});
