// `sysback backup` over the web API transport, in a configured router on the real grid: every case of
// test/support/backup-cases.ts (GNU tar round trip, unchanged, --list, status --json, locks, retention).
import { registerBackupCases } from '../support/backup-cases.ts';

registerBackupCases('webapi');
