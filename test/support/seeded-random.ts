// Owns the randomness of tests: every random choice a test makes comes from a seeded generator, and
// the seed is printed, so a failing run can be replayed exactly with `SYSBACK_SEED=N`. Contract: the
// same seed gives the same sequence (mulberry32, 32-bit state; not for secrets); without
// SYSBACK_SEED the seed is drawn at random and printed on stderr at once.
import { randomInt } from 'node:crypto';

export interface SeededRandom {
  readonly seed: number;
  /** uniform in [0, 1) */
  next(): number;
  /** an integer in [min, max] */
  int(min: number, max: number): number;
}

/** The mulberry32 generator over `seed` (pure: same seed, same numbers). */
export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
  };
}

/** The seed from SYSBACK_SEED, or a random one; printed with `what` so the run can be replayed. */
export function testSeed(what: string, env: NodeJS.ProcessEnv = process.env): number {
  const given = env.SYSBACK_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`SYSBACK_SEED=${given} is not an integer from 0 to 4294967295`);
    process.stderr.write(`${what}: seed ${seed} (from SYSBACK_SEED)\n`);
    return seed;
  }
  const seed = randomInt(0, 0xffffffff);
  process.stderr.write(`${what}: seed ${seed} (replay with SYSBACK_SEED=${seed})\n`);
  return seed;
}
