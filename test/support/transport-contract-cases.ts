// The ONE contract suite of grid/transport.ts (DESIGN §4.2, the restic model), as cases any grid can
// run: test/integration/transport-contract.test.ts runs them for both transports on the real shared
// grid, test/unit/grid/transport-contract.test.ts for the web-API transport over the in-memory grid
// (grid/memory-grid.ts; the mount transport needs sshfs and a real SFTP frontend, so it runs only on
// the real grid). Every case ends with the environment's leak check (no mount, no process left).
import type { ExecutionContext, TestFn } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GridUnreachableError, SysbackError, UserError } from '../../core/errors.ts';
import type { TahoeClient } from '../../grid/tahoe-client.ts';
import type { Transport, TransportKind } from '../../grid/transport.ts';

export interface ContractEnvironment {
  /** the transports this environment can make */
  kinds: readonly TransportKind[];
  /** why the cases over `kind` cannot run here (each is then a visible skip with that reason), or undefined */
  skipReason(kind: TransportKind): string | undefined;
  /** the client the cases check through (the web API of the node the transports use) */
  api(): TahoeClient;
  /** the directory the transports write under */
  area(): string;
  /** a local scratch directory */
  work: string;
  transport(kind: TransportKind): Transport;
  assertNothingLeft(t: ExecutionContext): void;
  /** stops the node for good (the last cases) */
  stopNode(): Promise<void>;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Registers the contract cases on `test` (serial: they share one area). Call `registerNodeDownCases` last. */
export function registerContractCases(test: TestFn, env: ContractEnvironment): void {
  const remoteEntries = async (dirCap: string, name?: string): Promise<string[]> => (await env.api().list(dirCap, name)).map((e) => e.name);

  function contract(title: string, body: (t: ExecutionContext, kind: TransportKind, transport: Transport) => Promise<void>) {
    for (const kind of env.kinds) {
      const skip = env.skipReason(kind);
      if (skip) {
        test.skip(`${kind}: ${title} (skipped: ${skip})`, () => undefined);
        continue;
      }
      test.serial(`${kind}: ${title}`, async (t) => {
        const transport = env.transport(kind);
        try {
          await body(t, kind, transport);
        } finally {
          await transport.close();
          await transport.close(); // may be called more than once
        }
        env.assertNothingLeft(t);
      });
    }
  }

  mkdirSync(env.work, { recursive: true });

  contract('a 5 MB file uploads byte-identical and the returned cap is the one the web API lists', async (t, kind, transport) => {
    const data = randomBytes(5 * 1024 * 1024);
    const file = path.join(env.work, `five-${kind}.bin`);
    writeFileSync(file, data);
    const seen: number[] = [];
    const cap = await transport.upload({ file }, env.area(), `five-${kind}.bin`, (done) => seen.push(done));
    t.regex(cap, /^URI:CHK:/);
    const info = await env.api().info(env.area(), `five-${kind}.bin`);
    t.is(info?.readCap, cap);
    t.is(info?.size, data.length);
    t.is((await env.api().digest(cap)).sha256, sha256(data));
    t.is(seen.at(-1), data.length, 'progress ends at the total');
    t.true(seen.every((v, i) => i === 0 || v >= seen[i - 1]!), 'progress is cumulative');
  });

  contract('a Readable source uploads byte-identical', async (t, kind, transport) => {
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
    const cap = await transport.upload(Readable.from(chunks), env.area(), `stream-${kind}.bin`);
    t.is((await env.api().digest(cap)).sha256, sha256(Buffer.concat(chunks)));
    t.is((await env.api().info(env.area(), `stream-${kind}.bin`))?.readCap, cap);
    t.deepEqual(readdirSync(env.work).filter((n) => n.startsWith('sysback-spool-')), [], 'no spool file is left');
  });

  contract('a nested name creates its parent directories', async (t, kind, transport) => {
    const data = randomBytes(10_000);
    const file = path.join(env.work, 'nested.bin');
    writeFileSync(file, data);
    const name = `archives-${kind}/2026/SysBackup-20261127T220000Z.tar.gz`;
    const cap = await transport.upload({ file }, env.area(), name);
    t.deepEqual(await remoteEntries(env.area(), `archives-${kind}`), ['2026']);
    t.deepEqual(await remoteEntries(env.area(), `archives-${kind}/2026`), ['SysBackup-20261127T220000Z.tar.gz']);
    t.true((await env.api().getBytes(cap)).equals(data));
  });

  contract('download returns the bytes uploaded, replacing the local file atomically', async (t, kind, transport) => {
    const data = randomBytes(2 * 1024 * 1024 + 17);
    const file = path.join(env.work, `round-${kind}.bin`);
    writeFileSync(file, data);
    await transport.upload({ file }, env.area(), `round-${kind}.bin`);
    const target = path.join(env.work, `back-${kind}`, 'round.bin');
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, 'old contents');
    const seen: number[] = [];
    await transport.download(env.area(), `round-${kind}.bin`, target, (done) => seen.push(done));
    t.true(readFileSync(target).equals(data));
    t.deepEqual(readdirSync(path.dirname(target)), ['round.bin'], 'no temp file is left beside it');
    t.true(seen.length > 0 && seen.at(-1) === data.length, 'progress reached the total');
  });

  contract('download of a name that does not exist fails clearly and leaves the local file alone', async (t, kind, transport) => {
    const target = path.join(env.work, `keep-${kind}.bin`);
    writeFileSync(target, 'keep me');
    const error = await t.throwsAsync(transport.download(env.area(), `absent-${kind}.bin`, target));
    t.true(error instanceof SysbackError, String(error));
    t.regex(error!.message, /404|no file/);
    t.is(readFileSync(target, 'utf8'), 'keep me');
  });

  contract('uploading again to the same name replaces the file', async (t, kind, transport) => {
    const first = randomBytes(300_000);
    const second = randomBytes(200_000);
    const file = path.join(env.work, `over-${kind}.bin`);
    writeFileSync(file, first);
    const cap1 = await transport.upload({ file }, env.area(), `over-${kind}.bin`);
    writeFileSync(file, second);
    const cap2 = await transport.upload({ file }, env.area(), `over-${kind}.bin`);
    t.not(cap1, cap2);
    t.true((await env.api().getBytes(env.area(), `over-${kind}.bin`)).equals(second));
    // the same bytes again: convergent encryption gives the same cap, and it is still returned
    const cap3 = await transport.upload({ file }, env.area(), `over-${kind}.bin`);
    t.is(cap3, cap2);
    t.deepEqual((await remoteEntries(env.area())).filter((n) => n.startsWith(`.over-${kind}`)), [], 'no rsync temp entry is left');
  });

  contract('rsync-quick-check: new bytes of the same size, stamped with the second the area shows for the old file, still replace it', async (t, kind, transport) => {
    // what happens by chance when an upload follows the last within one second (CI's flake, made certain here)
    const name = `quick-${kind}.bin`;
    const file = path.join(env.work, name);
    writeFileSync(file, randomBytes(100_000));
    const cap1 = await transport.upload({ file }, env.area(), name);
    const linked = (await env.api().list(env.area())).find((e) => e.name === name)?.mtime;
    t.truthy(linked, 'the area lists the link time');
    const second = randomBytes(100_000);
    writeFileSync(file, second);
    utimesSync(file, Math.floor(linked!), Math.floor(linked!));
    const cap2 = await transport.upload({ file }, env.area(), name);
    t.not(cap2, cap1);
    t.true((await env.api().getBytes(env.area(), name)).equals(second));
  });

  contract('a Readable source that fails midway fails the upload with its own error and links nothing', async (t, kind, transport) => {
    async function* failing() {
      yield randomBytes(256 * 1024);
      yield randomBytes(256 * 1024);
      throw new Error('archive stream broke');
    }
    const error = await t.throwsAsync(transport.upload(Readable.from(failing()), env.area(), `broken-${kind}.bin`));
    t.is(error!.message, 'archive stream broke');
    t.is(await env.api().info(env.area(), `broken-${kind}.bin`), undefined);
    t.deepEqual((await remoteEntries(env.area())).filter((n) => n.includes(`broken-${kind}`)), []);
    t.deepEqual(readdirSync(env.work).filter((n) => n.startsWith('sysback-spool-')), [], 'no spool file is left');
  });

  contract('uploading a missing local file fails with a clear error and leaves nothing', async (t, kind, transport) => {
    const before = await remoteEntries(env.area());
    const error = await t.throwsAsync(transport.upload({ file: path.join(env.work, 'no-such-file.tar.gz') }, env.area(), `missing-${kind}.tar.gz`));
    t.true(error instanceof UserError, String(error));
    t.regex(error!.message, /no-such-file\.tar\.gz.*does not exist/);
    t.deepEqual(await remoteEntries(env.area()), before);
  });

  contract('a name that would leave the area is refused before anything is written', async (t, kind, transport) => {
    const file = path.join(env.work, 'escape.bin');
    writeFileSync(file, 'x');
    for (const name of ['../escape.bin', '/abs.bin', 'a//b.bin', 'a/./b.bin', '']) {
      const error = await t.throwsAsync(transport.upload({ file }, env.area(), name), undefined, name);
      t.true(error instanceof UserError, `${kind} ${name}: ${String(error)}`);
    }
  });
}

/** The last cases: the node goes down for good. */
export function registerNodeDownCases(test: TestFn, env: ContractEnvironment): void {
  for (const kind of env.kinds) {
    const skip = env.skipReason(kind);
    if (skip) {
      test.skip(`${kind}: a node that is down gives GridUnreachableError and leaves no mount (skipped: ${skip})`, () => undefined);
      continue;
    }
    test.serial(`${kind}: a node that is down gives GridUnreachableError and leaves no mount`, async (t) => {
      await env.stopNode();
      const transport = env.transport(kind);
      const file = path.join(env.work, 'down.bin');
      writeFileSync(file, randomBytes(1000));
      const up = await t.throwsAsync(transport.upload({ file }, env.area(), 'down.bin'));
      t.true(up instanceof GridUnreachableError, String(up));
      const target = path.join(env.work, `down-${kind}.bin`);
      const down = await t.throwsAsync(transport.download(env.area(), 'five-webapi.bin', target));
      t.true(down instanceof GridUnreachableError, String(down));
      t.false(existsSync(target));
      await transport.close();
      env.assertNothingLeft(t);
    });
  }
}
