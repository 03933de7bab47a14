// Owns the size bound of an identity file, apart from grid/identity.ts so that reading one from the
// grid (grid/public-area.ts) does not load OpenPGP: the flows decrypt in a worker
// (grid/identity-crypto.ts), and the flow's own thread loads openpgp.js only to publish.

/** Refuse to even parse anything bigger: a real identity file is about 22 kB armored. */
export const MAX_ARMORED_BYTES = 1_048_576;
