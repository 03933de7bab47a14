// `sysback backup` over the mount transport (Tahoe SFTP + sshfs + rsync, the seed's way), in a
// configured router on the real grid: the transport-dependent cases of test/support/backup-cases.ts
// (GNU tar round trip, unchanged, retention). --list, status and locks do not depend on the transport
// and run in backup-webapi.test.ts. Skipped visibly when the host lacks the FUSE pieces sshfs needs.
import { existsSync } from 'node:fs';
import { registerBackupCases } from '../support/backup-cases.ts';

registerBackupCases('mount', {
  cases: ['round trip', 'unchanged', 'retention'],
  ...(existsSync('/dev/fuse') ? {} : { skipReason: 'this host has no /dev/fuse (sshfs cannot mount)' }),
});
