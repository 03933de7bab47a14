// The "recover" flow's step e) (the seed: "Mount Tahoe Private area on local mountpoint"): the
// private node started with the recovered keys, shares.happy servers awaited, and the router's OWN
// new private directory made (one writer per mutable directory, DESIGN §4.4): the old directory's
// latest, manifest and generations are linked into it by cap, so the old directory is only ever read
// and, for the mount transport, one SFTP account rooted at the new directory reads them back.
// A rerun reuses the new directory an earlier attempt made (kept in the alias file).
// The old `archives/` is read until it holds every generation the old manifest names: a read that
// fails for the moment (HTTP 410/500 on a busy grid) or that meets an older version of the directory
// is tried again, never taken for "no generations" (that made step f) find none of them, 404).
import { ARCHIVES_DIR, LATEST_NAME, MANIFEST_NAME, parseManifest } from '../../backup/manifest.ts';
import { isPassingGridError, readRetrying, TahoeHttpError, type DirEntry, type RetryPolicy, type TahoeClient } from '../../grid/tahoe-client.ts';
import { ALIAS_PRIVATE, readAliases, writeAlias } from '../../grid/device-nodes.ts';
import type { DeviceContext } from '../../grid/device.ts';

export interface PrivateArea {
  api: TahoeClient;
  /** the lost router's private directory (read only) */
  oldCap: string;
  /** this router's own new private directory */
  newCap: string;
  /** false when e) and f) go through the public node (web API): g) starts the private node */
  privateNodeStarted: boolean;
}

type Part = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

/**
 * `config`: the device config the recovery started with (step f) may restore another one meanwhile).
 * `part`: times a named piece of the step (the flow's step events; by default it just runs it).
 */
export async function openPrivateArea(
  ctx: DeviceContext,
  oldCap: string,
  config = ctx.device.config(),
  part: Part = (_name, fn) => fn(),
  publicApi?: TahoeClient,
  /** how the old latest and manifest are read through the public node (recovery/patient-reads.ts) */
  reads?: RetryPolicy,
): Promise<PrivateArea> {
  const { device } = ctx;
  if (config.transport === 'webapi' && publicApi) {
    // the web API reads and makes directories through any node: the public node, connected since a),
    // does e) and f); the private node, with the recovered keys, starts in g) (issue 9: one node
    // start and one wait for servers fewer before the restore)
    const area = await part('the fresh private directory, the old generations linked in', () => freshDirectory(ctx, publicApi, oldCap, config, reads));
    return { ...area, privateNodeStarted: false };
  }
  let api = await part('starting the private node', () => device.nodes.start('private'));
  await part('waiting for servers', () => device.nodes.waitForHappy(api));
  const area = await part('the fresh private directory, the old generations linked in', () => freshDirectory(ctx, api, oldCap, config));
  return { ...area, privateNodeStarted: true };
}

async function freshDirectory(
  ctx: DeviceContext,
  startedApi: TahoeClient,
  oldCap: string,
  config: ReturnType<DeviceContext['device']['config']>,
  reads: RetryPolicy = { onRetry: (m) => ctx.log.info(`  ${m}`) },
): Promise<Omit<PrivateArea, 'privateNodeStarted'>> {
  const { device } = ctx;
  let api = startedApi;
  let newCap = readAliases(ctx)[ALIAS_PRIVATE];
  if (!newCap || newCap === oldCap) {
    newCap = await api.mkdir();
    writeAlias(ctx, ALIAS_PRIVATE, newCap);
  }
  for (const name of [LATEST_NAME, MANIFEST_NAME]) {
    // right after the node connected, the old directory's shares may sit on a server not connected yet
    const info = await readRetrying(`reading the old ${name}`, () => api.info(oldCap, name), reads);
    if (info) await api.link(newCap, name, info.readCap);
  }
  const archives = await oldGenerations(ctx, api, oldCap, reads);
  if (archives.length) {
    await api.mkdirIn(newCap, ARCHIVES_DIR).catch(() => undefined);
    for (const entry of archives) await api.link(newCap, `${ARCHIVES_DIR}/${entry.name}`, entry.readCap);
  }
  if (config.transport === 'mount' && (await device.nodes.enableSftp('private', newCap))) {
    await device.nodes.stop('private');
    api = await device.nodes.start('private');
    await device.nodes.waitForHappy(api);
  }
  return { api, oldCap, newCap };
}

const LIST_TRIES = 5;

/** The old `archives/`, read again until it lists what the old manifest names (or the tries run out). */
async function oldGenerations(ctx: DeviceContext, api: TahoeClient, oldCap: string, reads: RetryPolicy): Promise<DirEntry[]> {
  // what the old manifest names (none when it is absent or damaged: then archives/ is all there is)
  const wanted = await readRetrying('reading the old manifest', () => api.getBytes(oldCap, MANIFEST_NAME), reads)
    .then((bytes) => parseManifest(bytes.toString('utf8')).generations.map((g) => g.name))
    .catch(() => [] as string[]);
  let last: DirEntry[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      last = await api.list(oldCap, ARCHIVES_DIR);
    } catch (error) {
      if (error instanceof TahoeHttpError && error.status === 404) return [];
      if (attempt >= LIST_TRIES || !isPassingGridError(error)) throw error;
      ctx.log.info(`  reading the old archives/ failed for the moment (${error.message}); again (try ${attempt + 1} of ${LIST_TRIES})`);
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
      continue;
    }
    const names = new Set(last.map((e) => e.name));
    const missing = wanted.filter((name) => !names.has(name));
    if (missing.length === 0 || attempt >= LIST_TRIES) return last;
    ctx.log.info(`  the old archives/ does not list ${missing.length} generation(s) its manifest names yet (an older version answered); reading again (try ${attempt + 1} of ${LIST_TRIES})`);
    await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
  }
}
