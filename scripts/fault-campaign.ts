// The fault campaign (issue 11 item 10; docs/faults.md): faults injected into a real local grid and
// simulated routers while the device app runs `sysback backup` and `sysback recover`, each followed
// by a rerun, all judged from OUTSIDE (the grid's gateway over Tahoe's HTTP API, GNU tar, the
// router's files), never through sysback's internal functions. One grid (3 storage nodes, 2-of-3)
// for the whole campaign; router A takes every backup fault; once A is lost, fresh routers take the
// recovery faults from A's alias; "degraded-then-lost" routers hold shares, as the image ships them.
// Contract: `runCampaign` returns one outcome per injected fault and never throws for a fault's
// result (a sysback bug is an outcome: `survived`/`rerunOk` false, `lost` when the last good backup
// can no longer be restored); it throws only when the campaign itself cannot run (no grid, no
// router), and `cleanup` (idempotent) stops and removes everything it started, whatever happened.
import { existsSync, readdirSync } from 'node:fs';
import { createContext } from '../core/context.ts';
import { DEVICE } from '../core/device-paths.ts';
import { createLog } from '../core/log.ts';
import { gridFiles, startGrid } from '../grid/local-grid.ts';
import { stopNode } from '../grid/tahoe-node.ts';
import { configuredRouter, PASSWORD } from '../test/support/backup-router.ts';
import { fill, unfill } from '../test/support/fault-disk.ts';
import { Gateway, lastGoodIntact, type IntactResult } from '../test/support/fault-gateway.ts';
import { deviceSysbackPid, killLiveChildren, routerNodePid, sigkill, startSysback, type Finished } from '../test/support/fault-process.ts';
import { treeDiff, treeOf, type Tree } from '../test/support/fault-tree.ts';
import { CHANGING_FILE, touchFixture } from '../test/support/fixture-tree.ts';
import { SimulatedRouter } from '../test/support/router.ts';
import { makeGrid, type TestGrid } from '../test/support/shared-grid.ts';
import { seededRandom } from '../test/support/seeded-random.ts';

export const KINDS = [
  'kill-sysback-backup',
  'kill-node-upload',
  'storage-down-upload',
  'grid-gone-verify',
  'clock-behind',
  'clock-ahead',
  'kill-sysback-recover',
  'kill-node-download',
  'disk-full-download',
  'disk-full-staging',
  'degraded-then-lost',
] as const;
export type Kind = (typeof KINDS)[number];

const FULL: Record<Kind, number> = {
  'kill-sysback-backup': 12,
  'kill-node-upload': 5,
  'storage-down-upload': 6,
  'grid-gone-verify': 4,
  'clock-behind': 3,
  'clock-ahead': 3,
  'kill-sysback-recover': 4,
  'kill-node-download': 4,
  'disk-full-download': 3,
  'disk-full-staging': 3,
  'degraded-then-lost': 3,
};
const QUICK: Record<Kind, number> = { ...Object.fromEntries(KINDS.map((k) => [k, 1])), 'kill-sysback-backup': 2 } as Record<Kind, number>;
const BACKUP_KINDS: readonly Kind[] = ['kill-sysback-backup', 'kill-node-upload', 'storage-down-upload', 'grid-gone-verify', 'clock-behind', 'clock-ahead'];
const RECOVER_KINDS: readonly Kind[] = ['kill-sysback-recover', 'kill-node-download', 'disk-full-download', 'disk-full-staging'];
const STORAGE = ['storage-1', 'storage-2', 'storage-3'];
const RECOVER_ARGS = ['recover', '--answers', '/root/answers.json', '--no-reboot'];

export interface Outcome {
  kind: Kind;
  n: number;
  /** where the fault struck (the step sysback was in), or why it missed */
  landed: string;
  /** the last good backup was intact and verifiable once the fault was over */
  survived: boolean;
  /** the rerun exited 0 and did its job (a new latest backup / the source's files restored) */
  rerunOk: boolean;
  /** the last good backup could no longer be restored */
  lost: boolean;
  detail: string;
}

export interface KindRow {
  kind: Kind;
  injected: number;
  survived: number;
  rerunsOk: number;
  lost: number;
}

export interface CampaignResult {
  seed: number;
  quick: boolean;
  injected: number;
  survived: number;
  rerunsOk: number;
  lost: number;
  kinds: KindRow[];
  faults: Outcome[];
  seconds: number;
}

export interface CampaignOptions {
  seed: number;
  quick?: boolean;
  kinds?: readonly Kind[];
  /** progress lines (stderr) */
  say?: (line: string) => void;
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lastStep = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('‣')).at(-1)?.slice(2, 90) ?? '(before any step)';
const message = (r: Finished) => r.stderr.split('\n').filter((l) => l.startsWith('sysback:')).at(-1)?.slice(0, 160) ?? `exit ${r.exitCode}`;

function privateCapOf(router: SimulatedRouter): string {
  const aliases = router.read(`${DEVICE.tahoe('private')}/private/aliases`);
  const cap = /^sysback-private:\s*(\S+)/m.exec(aliases)?.[1];
  if (!cap) throw new Error(`router ${router.name} has no sysback-private alias`);
  return cap;
}

export class Campaign {
  private readonly rnd: () => number;
  private readonly say: (line: string) => void;
  private readonly routers = new Set<SimulatedRouter>();
  private grid: TestGrid | undefined;
  private gw!: Gateway;
  private cleaned = false;
  readonly outcomes: Outcome[] = [];

  constructor(private readonly options: CampaignOptions) {
    this.rnd = seededRandom(options.seed).next;
    this.say = options.say ?? (() => {});
  }

  private between(lo: number, hi: number): number {
    return Math.round(lo + this.rnd() * (hi - lo));
  }

  private plan(): Record<Kind, number> {
    const counts = this.options.quick ? QUICK : FULL;
    const wanted = new Set(this.options.kinds ?? KINDS);
    return Object.fromEntries(KINDS.map((k) => [k, wanted.has(k) ? counts[k] : 0])) as Record<Kind, number>;
  }

  /** The faults of KINDS, COUNTS each, in a seeded order. */
  private shuffled(kinds: readonly Kind[], counts: Record<Kind, number>): Array<{ kind: Kind; n: number }> {
    const list = kinds.flatMap((kind) => Array.from({ length: counts[kind] }, (_, i) => ({ kind, n: i + 1 })));
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(this.rnd() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return list;
  }

  private record(outcome: Outcome): void {
    this.outcomes.push(outcome);
    const verdict = `${outcome.survived ? 'survived' : 'NOT SURVIVED'}, rerun ${outcome.rerunOk ? 'ok' : 'FAILED'}${outcome.lost ? ', DATA LOST' : ''}`;
    this.say(`  ${outcome.kind} #${outcome.n}: ${outcome.landed} -> ${verdict}${outcome.detail ? ` (${outcome.detail})` : ''}`);
  }

  async run(): Promise<CampaignResult> {
    const started = Date.now();
    const counts = this.plan();
    this.grid = await makeGrid({ storage: 3, prefix: 'sysback-faults-grid-' });
    this.gw = new Gateway(this.grid.api.base);
    const backupFaults = this.shuffled(BACKUP_KINDS, counts);
    const recoverFaults = this.shuffled(RECOVER_KINDS, counts);
    if (backupFaults.length || recoverFaults.length) await this.routerA(backupFaults, recoverFaults);
    for (let n = 1; n <= counts['degraded-then-lost']; n++) await this.degradedThenLost(n);
    const kinds = KINDS.filter((k) => counts[k] > 0).map((kind) => {
      const of = this.outcomes.filter((o) => o.kind === kind);
      return { kind, injected: of.length, survived: of.filter((o) => o.survived).length, rerunsOk: of.filter((o) => o.rerunOk).length, lost: of.filter((o) => o.lost).length };
    });
    return {
      seed: this.options.seed,
      quick: Boolean(this.options.quick),
      injected: this.outcomes.length,
      survived: this.outcomes.filter((o) => o.survived).length,
      rerunsOk: this.outcomes.filter((o) => o.rerunOk).length,
      lost: this.outcomes.filter((o) => o.lost).length,
      kinds,
      faults: this.outcomes,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  }

  /** Stops every child, router and grid node this campaign started; removes their directories. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    killLiveChildren();
    for (const r of this.routers) await r.destroy().catch(() => {});
    this.routers.clear();
    await this.grid?.release().catch(() => {});
  }

  private async drop(router: SimulatedRouter): Promise<void> {
    this.routers.delete(router);
    await router.destroy();
  }

  /** Every grid node runs again and ROUTERS' private nodes (and the gateway) see the 3 storage servers. */
  private async gridWhole(...routers: SimulatedRouter[]): Promise<void> {
    await startGrid(createContext({ log: createLog({ level: 'warn' }) }), this.grid!.dir, { timeoutMs: 120_000 });
    if (!(await this.gw.waitForServers(3, 120_000))) throw new Error('the gateway does not see the 3 storage servers again within 120 s');
    for (const r of routers) {
      if (!(await Gateway.onPort(r.config().tahoe.webPorts.private).waitForServers(3, 120_000))) {
        throw new Error(`router ${r.name}'s private node does not see the 3 storage servers again within 120 s`);
      }
    }
  }

  private async stopStorage(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((name) => stopNode(gridFiles(this.grid!.dir).node(name))));
  }

  private pickStorage(count: number): string[] {
    const pool = [...STORAGE];
    const out: string[] = [];
    while (out.length < count) out.push(pool.splice(Math.floor(this.rnd() * pool.length), 1)[0]!);
    return out;
  }

  // ---- router A: the backup faults, then (A lost) the recovery faults from A's alias ----

  private async routerA(backupFaults: Array<{ kind: Kind; n: number }>, recoverFaults: Array<{ kind: Kind; n: number }>): Promise<void> {
    this.say('router A: configuring (the "new" flow) on the campaign grid');
    const a = await configuredRouter('faults-a', this.grid!.grid, { transport: 'webapi', retention: 3, fixture: { bigMiB: 2 } });
    this.routers.add(a);
    const alias: string = JSON.parse(a.read(DEVICE.state)).alias;
    const capA = privateCapOf(a);
    const first = await lastGoodIntact(this.gw, capA, CHANGING_FILE);
    if (!first.ok) throw new Error(`router A's first backup is not intact: ${first.reason}`);
    const order: string[] = [first.marker ?? '0'];
    let lastGood = order[0]!;

    // how long a whole backup takes here: the random kill points span it
    await touchFixture(a.root, 'timing');
    order.push('timing');
    const timing = await startSysback(a, ['backup']).done;
    if (timing.exitCode !== 0) throw new Error(`router A's timing backup failed: ${timing.stderr.slice(-800)}`);
    lastGood = 'timing';
    const spanMs = Math.max(1500, Math.round(0.9 * timing.ms));
    this.say(`router A: a whole backup takes ${(timing.ms / 1000).toFixed(1)} s; ${backupFaults.length} backup faults`);

    for (const fault of backupFaults) {
      const marker = `${fault.kind}-${fault.n}`;
      await touchFixture(a.root, marker);
      order.push(marker);
      const injected = await this.injectBackup(a, fault.kind, spanMs);
      // the node a fault killed is started again, as systemd would, before anything else
      if (!routerNodePid(a, 'private')) {
        const restart = await a.sysback(['node', 'start']);
        if (restart.exitCode !== 0) throw new Error(`router A's private node did not start again after "${injected.landed}": ${restart.stderr.slice(-800)}`);
      }
      await this.gridWhole(a);
      const after = await lastGoodIntact(this.gw, capA, CHANGING_FILE);
      const acceptable = new Set([lastGood, marker]);
      // SysBackup.tar.gz may still name the previous good generation when the run died between
      // writing the manifest and re-linking it (run-backup writes the manifest first, on purpose):
      // recovery restores the manifest's newest, and both are intact
      const survived = after.ok && acceptable.has(after.marker ?? '') && acceptable.has(after.latestMarker ?? '');
      if (survived && after.marker === marker) lastGood = marker;
      const rerunMarker = `${marker}-rerun`;
      await touchFixture(a.root, rerunMarker);
      order.push(rerunMarker);
      const rerun = await a.sysback(['backup', '--json']);
      const again = await lastGoodIntact(this.gw, capA, CHANGING_FILE);
      const rerunOk = rerun.exitCode === 0 && again.ok && again.marker === rerunMarker && again.latestMarker === rerunMarker;
      if (rerunOk) lastGood = rerunMarker;
      const restorable = again.ok && again.marker !== undefined && order.indexOf(again.marker) >= order.indexOf(lastGood);
      this.record({
        kind: fault.kind,
        n: fault.n,
        landed: injected.landed,
        survived,
        rerunOk,
        lost: !restorable,
        detail: [
          injected.result ? `fault run: ${injected.result.exitCode === 0 ? 'exit 0' : message(injected.result)}` : '',
          survived ? '' : `after the fault: ${describe(after, lastGood, marker)} (private directory ${await this.gw.checkSummary(capA)})`,
          rerunOk ? '' : `rerun: exit ${rerun.exitCode} ${rerun.exitCode ? (rerun.stderr.split('\n').filter((l) => l.startsWith('sysback:')).at(-1) ?? '') : ''}; ${describe(again, lastGood, rerunMarker)}`,
        ].filter(Boolean).join('; '),
      });
    }

    if (recoverFaults.length === 0) return;
    // A's newest backup, the files recovery must bring back, then A is lost
    const final = await lastGoodIntact(this.gw, capA, CHANGING_FILE);
    if (!final.ok) throw new Error(`router A's last backup is not intact before the recovery faults: ${final.reason}`);
    if (final.marker !== readMarker(a)) {
      // the tree on A is newer than its last good backup: back it up once more so there is one truth
      await touchFixture(a.root, 'before-loss');
      const r = await a.sysback(['backup']);
      if (r.exitCode !== 0) throw new Error(`router A's last backup failed: ${r.stderr.slice(-800)}`);
    }
    const sourceTree = treeOf(a.root);
    const sourceMarker = readMarker(a) ?? '';
    const size = (await lastGoodIntact(this.gw, capA, CHANGING_FILE)).size ?? 0;
    await this.drop(a);
    this.say(`router A lost; ${recoverFaults.length} recovery faults from alias ${alias.replace(/-.*/, '-…')}`);
    let currentCap = capA;
    let recoverSpanMs = 30_000;
    for (const fault of recoverFaults) {
      const got = await this.recoverFault(fault.kind, fault.n, alias, sourceTree, sourceMarker, currentCap, size, recoverSpanMs);
      if (got.newCap) currentCap = got.newCap;
      if (got.ms) recoverSpanMs = got.ms;
    }
  }

  private async injectBackup(a: SimulatedRouter, kind: Kind, spanMs: number): Promise<{ landed: string; result?: Finished }> {
    if (kind === 'clock-behind' || kind === 'clock-ahead') {
      const days = this.between(1, 30);
      const offset = (kind === 'clock-behind' ? -1 : 1) * days * 86_400;
      const result = await startSysback(a, ['backup', '--json'], { env: { SYSBACK_CLOCK_OFFSET_S: String(offset) } }).done;
      return { landed: `backup with the clock ${days} days ${kind === 'clock-behind' ? 'behind' : 'ahead'}`, result };
    }
    if (kind === 'kill-sysback-backup') {
      return killSysbackAfter(a, ['backup'], this.between(200, spanMs), 'the run');
    }
    // the rest strike at a step, seen on sysback's stderr
    const trigger = kind === 'grid-gone-verify' ? '‣ verifying' : '‣ uploading';
    const delay = kind === 'grid-gone-verify' ? 0 : this.between(0, Math.round(spanMs / 3));
    const down = kind === 'storage-down-upload' ? this.pickStorage(this.between(1, 2)) : kind === 'grid-gone-verify' ? STORAGE : [];
    let fired: Promise<string> | undefined;
    const run = startSysback(a, ['backup'], {
      onLine: (line) => {
        if (fired || !line.startsWith(trigger)) return;
        fired = (async () => {
          await sleep(delay);
          if (run.exited()) return `missed: the run ended within ${delay} ms of "${trigger.slice(2)}"`;
          if (kind === 'kill-node-upload') {
            const pid = routerNodePid(a, 'private');
            if (!pid || !sigkill(pid)) return 'missed: no private node PID';
            return `SIGKILL of the private Tahoe node pid ${pid} ${delay} ms into the upload`;
          }
          await this.stopStorage(down);
          return `${down.join(', ')} stopped ${delay} ms into "${trigger.slice(2)}"`;
        })();
      },
    });
    const result = await run.done;
    return { landed: (await fired) ?? `missed: the run never reached "${trigger.slice(2)}" (${message(result)})`, result };
  }

  private async recoverFault(kind: Kind, n: number, alias: string, source: Tree, sourceMarker: string, currentCap: string, size: number, spanMs: number): Promise<{ newCap?: string; ms?: number }> {
    const disk = kind === 'disk-full-download' || kind === 'disk-full-staging';
    const f = await SimulatedRouter.create(`faults-r${n}${kind.slice(0, 4)}`, { grid: this.grid!.grid, transport: 'webapi', ...(disk ? { diskMiB: 96 } : {}) });
    this.routers.add(f);
    try {
      f.write('/root/answers.json', JSON.stringify({ mode: 'recover', alias, password: PASSWORD }) + '\n', 0o600);
      const { landed, result } = await this.injectRecover(f, kind, size, spanMs);
      if (disk) unfill(f);
      await this.gridWhole();
      const before = await lastGoodIntact(this.gw, currentCap, CHANGING_FILE);
      const survived = before.ok && before.marker === sourceMarker;
      const leftover = leftoverDownload(f);
      let rerun: Finished | undefined;
      if (result.exitCode !== 0) rerun = await startSysback(f, RECOVER_ARGS).done;
      const ok = (rerun ?? result).exitCode === 0;
      const diffs = ok ? treeDiff(source, treeOf(f.root)) : [];
      let rerunOk = ok && diffs.length === 0;
      let lost = false;
      let second = '';
      if (!rerunOk) {
        // did the fault cost the backup itself? a second, untouched router tries once more
        const g = await SimulatedRouter.create(`faults-s${n}${kind.slice(0, 4)}`, { grid: this.grid!.grid, transport: 'webapi' });
        this.routers.add(g);
        g.write('/root/answers.json', JSON.stringify({ mode: 'recover', alias, password: PASSWORD }) + '\n', 0o600);
        const r = await startSysback(g, RECOVER_ARGS).done;
        const d = r.exitCode === 0 ? treeDiff(source, treeOf(g.root)) : ['(recover failed)'];
        lost = r.exitCode !== 0 || d.length > 0;
        second = `a fresh router's recovery: ${r.exitCode === 0 ? (d.length ? `${d.length} files differ: ${d[0]}` : 'ok') : message(r)}`;
        await this.drop(g);
      }
      const newCap = rerunOk ? privateCapOf(f) : undefined;
      this.record({
        kind,
        n,
        landed,
        survived,
        rerunOk,
        lost,
        detail: [
          result.exitCode === 0 ? 'the recovery finished despite the fault' : `fault run: ${message(result)}`,
          leftover ? `left behind: ${leftover}` : '',
          survived ? '' : `backup after the fault: ${before.ok ? `newest holds ${before.marker}` : before.reason}`,
          rerunOk ? '' : `rerun: ${rerun ? (rerun.exitCode ? message(rerun) : `${diffs.length} files differ: ${diffs[0]}`) : 'none'}`,
          second,
        ].filter(Boolean).join('; '),
      });
      return { ...(newCap ? { newCap } : {}), ...(rerun?.exitCode === 0 ? { ms: rerun.ms } : result.exitCode === 0 ? { ms: result.ms } : {}) };
    } finally {
      await this.drop(f);
    }
  }

  private async injectRecover(f: SimulatedRouter, kind: Kind, size: number, spanMs: number): Promise<{ landed: string; result: Finished }> {
    if (kind === 'kill-sysback-recover') {
      return killSysbackAfter(f, RECOVER_ARGS, this.between(500, Math.round(0.9 * spanMs)), 'the recovery');
    }
    if (kind === 'kill-node-download') {
      const delay = this.between(0, 400);
      let fired: Promise<string> | undefined;
      const run = startSysback(f, RECOVER_ARGS, {
        onLine: (line) => {
          if (fired || !line.startsWith('‣ f)')) return;
          fired = (async () => {
            await sleep(delay);
            // the node the download goes through: the public node with the web API (e) and f) read
            // through it), the private node with the mount transport (its SFTP frontend)
            const area = (JSON.parse(f.read(DEVICE.config)) as { transport?: string }).transport === 'mount' ? 'private' : 'public';
            const pid = routerNodePid(f, area);
            if (run.exited()) return `missed: the recovery ended within ${delay} ms of the download`;
            if (!pid || !sigkill(pid)) return `missed: no ${area} node PID`;
            return `SIGKILL of the ${area} Tahoe node pid ${pid} ${delay} ms into "f) backup restored"`;
          })();
        },
      });
      const result = await run.done;
      return { landed: (await fired) ?? `missed: never reached the download (${message(result)})`, result };
    }
    // the disk fills: as the backup's size is announced, all but what the download needs (its size
    // plus sysback's 1 MiB margin, plus a little) is taken; for the download fault the rest goes as
    // soon as the archive appears in restore/, for the staging fault as soon as staging/ appears
    const budget = size + 1024 * 1024 + 256 * 1024;
    const watchDir = kind === 'disk-full-download' ? `${DEVICE.stateDir}/restore` : DEVICE.staging;
    let fired: Promise<string> | undefined;
    const run = startSysback(f, RECOVER_ARGS, {
      onLine: (line) => {
        if (fired || !/Restoring \S+ \(\d+ bytes/.test(line)) return;
        fired = (async () => {
          const free = fill(f, budget);
          return new Promise<string>((resolve) => {
            const started = Date.now();
            const watching = setInterval(() => {
              const present = existsSync(f.path(watchDir)) && (kind === 'disk-full-staging' || readdirSync(f.path(watchDir)).length > 0);
              if (present) {
                clearInterval(watching);
                fill(f, 0);
                resolve(`disk left with ${(free / 1048576).toFixed(1)} MiB at "Restoring", then filled ${Date.now() - started} ms later as ${watchDir} appeared`);
              } else if (run.exited()) {
                clearInterval(watching);
                resolve(`disk left with ${(free / 1048576).toFixed(1)} MiB at "Restoring" (${watchDir} never appeared)`);
              }
            }, 5);
          });
        })();
      },
    });
    const result = await run.done;
    // the watcher ends itself once the run has exited (and so resolves `fired`)
    return { landed: (await fired) ?? `missed: the recovery never announced the backup (${message(result)})`, result };
  }

  // ---- degraded grid, then the router is lost: a router that holds shares, as the image ships it ----

  private async degradedThenLost(n: number): Promise<void> {
    this.say(`degraded-then-lost #${n}: configuring a router that holds shares`);
    const r = await configuredRouter(`faults-d${n}`, this.grid!.grid, { transport: 'webapi', retention: 3, holdShares: true, fixture: { bigMiB: 1 } });
    this.routers.add(r);
    const alias: string = JSON.parse(r.read(DEVICE.state)).alias;
    const cap = privateCapOf(r);
    await Gateway.onPort(r.config().tahoe.webPorts.private).waitForServers(4, 60_000);
    const base = await lastGoodIntact(this.gw, cap, CHANGING_FILE);
    const before = treeOf(r.root);
    const down = this.pickStorage(2);
    await this.stopStorage(down);
    const marker = `degraded-${n}`;
    await touchFixture(r.root, marker);
    const after = treeOf(r.root);
    const backup = await startSysback(r, ['backup', '--json']).done;
    await this.gridWhole();
    await this.drop(r);
    const landed = `backup with ${down.join(' and ')} down: ${backup.exitCode === 0 ? 'exit 0' : message(backup)}; grid whole again; the router lost`;
    const intact = await lastGoodIntact(this.gw, cap, CHANGING_FILE);
    const acceptable = backup.exitCode === 0 ? [marker] : [base.marker ?? '0', marker];
    const survived = intact.ok && acceptable.includes(intact.marker ?? '');
    const f = await SimulatedRouter.create(`faults-dr${n}`, { grid: this.grid!.grid, transport: 'webapi' });
    this.routers.add(f);
    try {
      f.write('/root/answers.json', JSON.stringify({ mode: 'recover', alias, password: PASSWORD }) + '\n', 0o600);
      let rec = await startSysback(f, RECOVER_ARGS).done;
      const firstTry = rec.exitCode === 0 ? '' : `first recovery: ${message(rec)}`;
      if (rec.exitCode !== 0) rec = await startSysback(f, RECOVER_ARGS).done;
      const restoredMarker = readMarker(f);
      const want = restoredMarker === marker ? after : before;
      const diffs = rec.exitCode === 0 ? treeDiff(want, treeOf(f.root)) : [];
      const rerunOk = rec.exitCode === 0 && diffs.length === 0 && (backup.exitCode !== 0 || restoredMarker === marker);
      this.record({
        kind: 'degraded-then-lost',
        n,
        landed,
        survived,
        rerunOk,
        lost: !rerunOk,
        detail: [
          survived ? '' : `backup after the loss: ${describe(intact, base.marker ?? '0', marker)}`,
          firstTry,
          rerunOk ? '' : rec.exitCode ? `recovery onto a fresh router: ${message(rec)}` : `recovery restored ${restoredMarker}, ${diffs.length} files differ${diffs[0] ? `: ${diffs[0]}` : ''}`,
        ].filter(Boolean).join('; '),
      });
    } finally {
      await this.drop(f);
    }
  }
}

/** Runs the device's sysback with ARGS and SIGKILLs it after DELAY ms, saying in which step it died. */
async function killSysbackAfter(router: SimulatedRouter, args: readonly string[], delay: number, what: string): Promise<{ landed: string; result: Finished }> {
  let lines = '';
  const run = startSysback(router, args, { onLine: (l) => (lines += `${l}\n`) });
  await waitOrExit(run, delay);
  const pid = run.exited() ? undefined : deviceSysbackPid(run.pid);
  const step = lastStep(lines);
  if (pid) sigkill(pid);
  const result = await run.done;
  return { landed: pid ? `SIGKILL sysback pid ${pid} after ${delay} ms, during "${step}"` : `missed: ${what} ended before ${delay} ms`, result };
}

function describe(r: IntactResult, lastGood: string, marker: string): string {
  if (!r.ok) return r.reason;
  return `newest generation holds ${r.marker}, SysBackup.tar.gz ${r.latestMarker} (last good ${lastGood}, this run ${marker})`;
}

function readMarker(router: SimulatedRouter): string | undefined {
  try {
    return /generation=(\S+)/.exec(router.read(CHANGING_FILE))?.[1];
  } catch {
    return undefined;
  }
}

/** A download a failed recovery left in restore/ (issue 11 item 8: "any download left behind removed"). */
function leftoverDownload(router: SimulatedRouter): string | undefined {
  const dir = router.path(`${DEVICE.stateDir}/restore`);
  if (!existsSync(dir)) return undefined;
  const names = readdirSync(dir);
  return names.length ? `${DEVICE.stateDir}/restore/${names.join(', ')}` : undefined;
}

async function waitOrExit(run: { exited(): boolean }, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!run.exited() && Date.now() < until) await sleep(20);
}
