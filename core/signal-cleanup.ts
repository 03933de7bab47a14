// Owns running work whose cleanup must happen even when the process is told to stop: a mount that
// must be undone, a child that must be stopped. Contract: `cleanup` runs exactly once, after `fn`
// settles or as soon as SIGINT/SIGTERM/SIGHUP arrives meanwhile (then it is told which signal, so it
// can pass it on to a child); on a signal our handler stays installed until the cleanup is done (so
// signal-exit, which execa uses, sees another listener and does not kill the process first), then the
// signal is raised again for whoever else handles it, or for the default action; with
// `exitOnSignal` the process exits 128 + the signal's number instead (a command whose exit code says
// why it ended: `sysback boot` killed with SIGTERM exits 143). No handler is left behind.
import os from 'node:os';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface CleanupOptions {
  /** after a signal's cleanup, exit 128 + its number instead of raising it again */
  exitOnSignal?: boolean;
}

export async function withCleanup<T>(cleanup: (signal?: NodeJS.Signals) => Promise<void>, fn: () => Promise<T>, options: CleanupOptions = {}): Promise<T> {
  let cleaned: Promise<void> | undefined;
  const once = (signal?: NodeJS.Signals) => (cleaned ??= cleanup(signal));
  const remove = () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
  let raised = false;
  function handler(signal: NodeJS.Signals) {
    if (raised) return;
    raised = true;
    void once(signal)
      .catch(() => undefined)
      .finally(() => {
        remove();
        if (options.exitOnSignal) process.exit(128 + os.constants.signals[signal]);
        else process.kill(process.pid, signal);
      });
  }
  for (const s of SIGNALS) process.on(s, handler);
  try {
    return await fn();
  } finally {
    // on a signal, the handler removes itself once the cleanup is done
    if (!raised) remove();
    await once();
  }
}
