// Owns the size bound of an identity file, apart from grid/identity.ts so that reading one from the
// grid (grid/public-area.ts) does not load openpgp.js: a recovery loads it in c), to decrypt, and
// the public area only to check a file it publishes.

/** Refuse to even parse anything bigger: a real identity file is about 22 kB armored. */
export const MAX_ARMORED_BYTES = 1_048_576;
