// The `webapi` transport (DESIGN §4.2): HTTP streaming to the node's web API on 127.0.0.1. It keeps
// the Transport contract of grid/transport.ts: an upload is one streaming `PUT /uri/$DIRCAP/name`
// (a Readable goes straight through, a `{file}` is streamed from disk; neither is ever held whole in
// memory), parents are created first with `POST ?t=mkdir`, and the cap is the one the PUT answers;
// a download streams into a temp file beside `localFile` that is renamed over it only when complete.
// A missing local file is a UserError raised before anything touches the grid.
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NoSpaceError, UserError } from '../core/errors.ts';
import type { Transport, TransferProgress } from './transport.ts';
import type { TahoeClient } from './tahoe-client.ts';

/** Splits `archives/x.tar.gz` into its parent (`archives`) and refuses names that could escape. */
export function splitTargetName(name: string): { parent: string | undefined; base: string } {
  const parts = name.split('/');
  if (name === '' || name.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UserError(`"${name}" is not a relative file name inside the area`, 'use names like archives/SysBackup.tar.gz');
  }
  const base = parts.pop()!;
  return { parent: parts.length ? parts.join('/') : undefined, base };
}

/** A pass-through that reports cumulative bytes. */
export function counting(progress: TransferProgress | undefined, total?: number): Transform {
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      progress?.(done, total);
      callback(null, chunk);
    },
  });
}

/** A temp file name beside `file` (same directory, so the final rename is atomic). */
export function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.sysback-${process.pid}-${Date.now().toString(36)}.part`);
}

/** Size of a local source file, or a clear error when it is missing or not a file. */
export function localSourceSize(file: string): number {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    throw new UserError(`the file to upload, ${file}, does not exist`, 'check the path; nothing was uploaded');
  }
  if (!stat.isFile()) throw new UserError(`the file to upload, ${file}, is not a regular file`, 'nothing was uploaded');
  return stat.size;
}

/** Streams what the grid holds at `dirCap`/`name` into `localFile`, atomically (shared by both transports). */
export async function downloadViaWebApi(api: TahoeClient, dirCap: string, name: string, localFile: string, progress?: TransferProgress): Promise<void> {
  splitTargetName(name);
  const info = await api.info(dirCap, name);
  const size = info?.size;
  const body = await api.get(dirCap, name);
  const temp = tempBeside(localFile);
  try {
    await pipeline(body, counting(progress, size), createWriteStream(temp, { mode: 0o600 }));
    await rename(temp, localFile);
  } catch (error) {
    rmSync(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new NoSpaceError(`the disk filled while downloading ${path.basename(name)}${size !== undefined ? ` (${size} bytes)` : ''} into ${path.dirname(localFile)}; the partial download was removed`);
    }
    throw error;
  }
}

export function createWebApiTransport(api: TahoeClient): Transport {
  return {
    kind: 'webapi',

    async upload(source, dirCap, name, progress) {
      const { parent } = splitTargetName(name);
      const total = source instanceof Readable ? undefined : localSourceSize(source.file);
      if (parent) await api.mkdirIn(dirCap, parent);
      const input = source instanceof Readable ? source : createReadStream(source.file);
      const body = input.pipe(counting(progress, total));
      // a failing source must fail the upload with its own error (not hang, and not pass for an
      // unreachable node); Tahoe links nothing for a request body that never completed
      let sourceError: Error | undefined;
      input.once('error', (error: Error) => {
        sourceError = error;
        body.destroy(error);
      });
      // the body's error is the source's, reported through sourceError; when the client refused the
      // request before reading the body, nobody else listens and it must not become an uncaught error
      body.on('error', () => undefined);
      try {
        return await api.put(body, { dirCap, name });
      } catch (error) {
        throw sourceError ?? error;
      } finally {
        if (!(source instanceof Readable)) input.destroy();
      }
    },

    download(dirCap, name, localFile, progress) {
      return downloadViaWebApi(api, dirCap, name, localFile, progress);
    },

    async close() {
      // nothing held between calls: every request is its own HTTP exchange
    },
  };
}
