// Owns the archive format's name alone, so what only needs the name (backup/fingerprint.ts, on the
// unchanged path) does not load the archive writer and its tar code (backup/archive.ts re-exports it).

/** Changes whenever the bytes written for the same tree would change; part of the fingerprint. */
export const ARCHIVE_FORMAT = 'sysback-archive/2 ustar+pax gzip-3(fixed-header) sorted';
