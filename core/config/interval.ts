// Owns the bounds of `backup.intervalHours`, apart from the schemas so the hourly `--if-due` check
// (backup/backup-due.ts) can use them without loading zod. Contract: plain numbers, no imports.

/** The longest backup interval: 20 days, well inside a Tahoe lease (31 days) that backup runs renew. */
export const MAX_INTERVAL_HOURS = 480;

/** The shortest: one minute. Below one hour the cron line checks every minute (firstboot/cron-entry.ts). */
export const MIN_INTERVAL_HOURS = 1 / 60;
