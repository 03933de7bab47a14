// How the "recover" flow reads what it cannot go on without (the alias list in a), the identity in
// b), the old private directory's latest and manifest in e), the manifest and the chosen archive in
// f)) while the grid's servers are still connecting. The lost router took its own storage server
// with it, so an object it stored may be readable only from the particular grid servers holding its
// other shares: in a grid with as many servers as shares.total, every one of them (an e2e run's check
// showed the identity directory with 1 share on the router and 1 on each of 2 of the 3 grid servers;
// in CI a recovering node over Tor read no identity for 2 minutes). Over Tor a fresh node connects to
// servers one by one, and a server it failed to reach is tried again after ever longer pauses
// (Foolscap's reconnector: ×e per failure, up to an hour). So such a read (readRetrying with this
// policy):
//   - keeps trying for as long as the wait for servers may take (tahoe.serverWaitSeconds, 300 s);
//   - says on the console at once, then at least every 10 s, how many known servers are connected;
//   - once it has waited 60 s while a known server is not connected, restarts the public node
//     (once per read), so that it tries every server again at once.
// Its lines never hold a cap. A read that fails otherwise (404, a node that does not answer) fails
// at once.
import type { Prompter } from '../core/prompter.ts';
import type { DeviceContext } from '../grid/device.ts';
import { TahoeHttpError, type RetryPolicy, type TahoeClient } from '../grid/tahoe-client.ts';

/** How long a read waits for a missing server before it restarts the public node. */
export const RESTART_AFTER_MS = 60_000;
/** a retry waits at most 5 s (readRetrying), so saying after 5 s of waits puts a line at least every 10 s */
const SAY_AFTER_MS = 5_000;

export interface PatientReadsOptions {
  /** the public node's client: its welcome page says which servers are connected */
  api: Pick<TahoeClient, 'welcome'>;
  /** a line on the console */
  say(line: string): void;
  /** stops and starts the node the reads go through, then waits for shares.happy servers; without it a stalled read just keeps waiting */
  restart?: () => Promise<void>;
  /** how long the read may wait in all */
  waitSeconds: number;
  /** tests: no real waits */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export function patientReads(options: PatientReadsOptions): RetryPolicy {
  const { api, say, waitSeconds, restart } = options;
  /** the waits of the read last said (one policy serves every read of a step) */
  let saidAt = 0;
  const servers = async () => {
    const { servers: known } = await api.welcome().catch(() => ({ servers: [] }));
    return { connected: known.filter((s) => s.connected).length, known: known.length };
  };
  return {
    waitBudgetMs: waitSeconds * 1000,
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.random ? { random: options.random } : {}),
    onRetry: async (message, detail) => {
      if (!detail) return say(`  ${message}`);
      // a read's first retry (no waits yet) is said at once; then after 5 s of waits since the last line
      if (detail.waitedMs > 0 && detail.waitedMs - saidAt < SAY_AFTER_MS) return;
      saidAt = detail.waitedMs;
      const { connected, known } = await servers();
      const status = detail.error instanceof TahoeHttpError ? detail.error.status : undefined;
      const why = status === 410 ? 'its shares are on storage servers not connected yet' : `the grid answered HTTP ${status ?? '?'}`;
      say(`  ${detail.what}: not yet (${why}; ${connected} of ${known} known servers connected); trying for up to ${waitSeconds} s, ${Math.round(detail.waitedMs / 1000)} s so far`);
    },
    ...(restart && {
      onStalled: {
        afterMs: RESTART_AFTER_MS,
        run: async () => {
          const { connected, known } = await servers();
          if (connected >= known) return; // every known server is connected: a restart would not help
          say(`  restarting the public Tahoe node, so that it tries every storage server again at once (${connected} of ${known} connected; a node waits longer and longer before trying a server it could not reach)`);
          await restart();
        },
      },
    }),
  };
}

/**
 * The patient reads of a recovery on this device, said through `prompter`. `api` is the client the
 * reads go through; `restartable` names its node when a restart may help: the public node (a client
 * only, nothing else in flight while a read waits). Without it a stalled read just keeps waiting.
 */
export function recoveryReads(ctx: DeviceContext, prompter: Pick<Prompter, 'say'>, api: TahoeClient, restartable?: 'public'): RetryPolicy {
  const { device } = ctx;
  const restartPublic = async () => {
    await device.nodes.stop('public');
    await device.nodes.waitForHappy(await device.nodes.start('public'));
  };
  return patientReads({
    api,
    say: (line) => prompter.say(line),
    ...(restartable && { restart: restartPublic }),
    waitSeconds: device.config().tahoe.serverWaitSeconds,
  });
}
