// The contract every transport to a Tahoe area keeps (DESIGN §4.2). Two implementations exist:
// `mount` (the seed's way: Tahoe's SFTP frontend mounted with sshfs, files copied with rsync) and
// `webapi` (HTTP streaming to the node's web API on 127.0.0.1). One shared contract suite
// (test/integration/transport-contract.test.ts) runs against both on a real grid.
//
// Contract:
// - `upload` stores the bytes of `source` at `name` (a relative path such as
//   `archives/SysBackup-20261127T220000Z.tar.gz`, parents created as needed) under the directory
//   `dirCap`, and returns the cap of the stored file as the grid reports it through the web API.
//   It never trusts the transport's own listing: Tahoe's SFTP writes complete asynchronously after
//   close, so the returned cap comes from the web API once the file is really there.
// - `download` writes the bytes stored at `name` to `localFile` (created or replaced atomically).
// - Neither leaves a mount, a temp file or a process behind, whatever happens (success, failure,
//   an exception, SIGTERM of the caller); `close()` releases whatever the transport holds and may be
//   called more than once.
// - Progress, when given, receives cumulative bytes.
import type { Readable } from 'node:stream';

export type TransportKind = 'mount' | 'webapi';

export interface TransferProgress {
  (bytesDone: number, bytesTotal?: number): void;
}

export interface Transport {
  readonly kind: TransportKind;
  upload(source: Readable | { file: string }, dirCap: string, name: string, progress?: TransferProgress): Promise<string>;
  download(dirCap: string, name: string, localFile: string, progress?: TransferProgress): Promise<void>;
  close(): Promise<void>;
}
