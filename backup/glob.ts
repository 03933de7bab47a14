// Owns the glob syntax of /etc/sysback/files.txt (and of a restore's allowed list): pure matching of a
// device path against a pattern, segment by segment, with no file system access.
// Contract:
// - patterns are absolute device paths; `/` separates segments and is never matched by a wildcard;
// - `*` matches any run of characters inside one segment (names starting with `.` too: a backup that
//   silently skipped /root/.ssh would be worse than one that saves a file too many), `?` one character,
//   `[abc]`, `[a-z]`, `[!x]` (or `[^x]`) a character class (a `]` right after `[` or `[!` is a member),
//   `\x` the character x literally, inside a class too;
// - a segment that is exactly `**` matches zero or more whole segments;
// - a pattern without any of `* ? [` is literal (`isGlob` says which);
// - an invalid pattern (a range backwards like `[z-a]`, a `[` never closed, a trailing `\`) is refused
//   by `globProblem` with a reason, and `compileGlob` throws a UserError for it: never a SyntaxError;
// - matching never backtracks: both levels are simulated as automata over sets of positions (the
//   path's segments against the pattern's segments, and a name's characters against a segment's
//   tokens), so a match costs O(path length x pattern length) whatever the number of `*` and `**`.
// Node 20 has no fs.glob, and the list's semantics (dotfiles, no symlink following) are ours anyway.
import { UserError } from '../core/errors.ts';

export interface CompiledGlob {
  pattern: string;
  /** one entry per segment: `**`, a literal name, or the tokens of a segment with wildcards */
  segments: readonly GlobSegment[];
}

export type Token =
  | { kind: 'char'; char: string }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'class'; negate: boolean; ranges: ReadonlyArray<readonly [number, number]> };

export type GlobSegment = { kind: 'globstar' } | { kind: 'literal'; name: string } | { kind: 'wild'; tokens: readonly Token[] };

const WILD = /(?<!\\)[*?[]/;

/** True when `pattern` contains a wildcard (`*`, `?` or `[`) that is not escaped. */
export function isGlob(pattern: string): boolean {
  return WILD.test(pattern);
}

/** Splits an absolute device path into its non-empty segments (`/a//b/` -> [a, b]). */
export function pathSegments(devicePath: string): string[] {
  return devicePath.split('/').filter((s) => s !== '' && s !== '.');
}

class GlobSyntax extends Error {}

/** The tokens of one segment (code points, so a class range over non-ASCII letters works). */
function tokenize(segment: string): Token[] {
  const chars = Array.from(segment);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      if (i + 1 >= chars.length) throw new GlobSyntax('a "\\" at the end of a name escapes nothing (write "\\\\" for a backslash)');
      tokens.push({ kind: 'char', char: chars[++i]! });
    } else if (c === '*') {
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
    } else if (c === '[') {
      let j = i + 1;
      const negate = chars[j] === '!' || chars[j] === '^';
      if (negate) j++;
      const members: number[] = [];
      const ranges: Array<[number, number]> = [];
      let closed = false;
      for (let first = true; j < chars.length; j++, first = false) {
        let m = chars[j]!;
        if (m === ']' && !first) {
          closed = true;
          break;
        }
        if (m === '\\') {
          if (j + 1 >= chars.length) break;
          m = chars[++j]!;
        }
        members.push(m.codePointAt(0)!);
        // a range: member, "-", member (a "-" first or last is itself a member)
        if (chars[j + 1] === '-' && j + 2 < chars.length && chars[j + 2] !== ']') {
          let hi = chars[j + 2]!;
          j += 2;
          if (hi === '\\') {
            if (j + 1 >= chars.length) break;
            hi = chars[++j]!;
          }
          const lo = members.pop()!;
          const high = hi.codePointAt(0)!;
          if (high < lo) throw new GlobSyntax(`the range "${String.fromCodePoint(lo)}-${hi}" runs backwards (write "[${hi}-${String.fromCodePoint(lo)}]")`);
          ranges.push([lo, high]);
        }
      }
      if (!closed) throw new GlobSyntax('a "[" is never closed by "]" (write "\\[" for a literal bracket)');
      for (const m of members) ranges.push([m, m]);
      tokens.push({ kind: 'class', negate, ranges });
      i = j;
    } else {
      tokens.push({ kind: 'char', char: c });
    }
  }
  return tokens;
}

function unescape(segment: string): string {
  return segment.replace(/\\(.)/gu, '$1');
}

function compileSegment(segment: string): GlobSegment {
  if (segment === '**') return { kind: 'globstar' };
  if (!isGlob(segment)) {
    if (/(?<!\\)(\\\\)*\\$/.test(segment)) throw new GlobSyntax('a "\\" at the end of a name escapes nothing (write "\\\\" for a backslash)');
    return { kind: 'literal', name: unescape(segment) };
  }
  return { kind: 'wild', tokens: tokenize(segment) };
}

/** Why `pattern` is not a valid glob, or undefined. Pure; files.txt's parser reports it with the line. */
export function globProblem(pattern: string): string | undefined {
  try {
    for (const segment of pathSegments(pattern)) compileSegment(segment);
    return undefined;
  } catch (error) {
    if (error instanceof GlobSyntax) return error.message;
    throw error;
  }
}

/** Compiles a pattern once; match it many times with `matchGlob`. UserError for an invalid pattern. */
export function compileGlob(pattern: string): CompiledGlob {
  try {
    return { pattern, segments: pathSegments(pattern).map(compileSegment) };
  } catch (error) {
    if (error instanceof GlobSyntax) throw new UserError(`"${pattern.slice(0, 200)}" is not a valid pattern: ${error.message}`, 'fix the pattern in /etc/sysback/files.txt');
    throw error;
  }
}

function tokenAccepts(token: Token, codePoint: number): boolean {
  if (token.kind === 'any') return true;
  if (token.kind === 'char') return token.char.codePointAt(0) === codePoint;
  if (token.kind === 'class') {
    const inside = token.ranges.some(([lo, hi]) => codePoint >= lo && codePoint <= hi);
    return inside !== token.negate;
  }
  return false;
}

/** A name against a segment's tokens: a set of positions advanced one character at a time. */
function tokensMatch(tokens: readonly Token[], name: string): boolean {
  const n = tokens.length;
  let current = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  const close = (set: Uint8Array) => {
    // a star may match nothing: from a star's position the one after it is reachable too
    for (let p = 0; p < n; p++) if (set[p] && tokens[p]!.kind === 'star') set[p + 1] = 1;
  };
  current[0] = 1;
  close(current);
  for (const char of name) {
    const cp = char.codePointAt(0)!;
    next.fill(0);
    let any = false;
    for (let p = 0; p < n; p++) {
      if (!current[p]) continue;
      const token = tokens[p]!;
      if (token.kind === 'star') {
        next[p] = 1;
        any = true;
      } else if (tokenAccepts(token, cp)) {
        next[p + 1] = 1;
        any = true;
      }
    }
    if (!any) return false;
    close(next);
    [current, next] = [next, current];
  }
  return current[n] === 1;
}

/** Does one segment (not `**`) accept `name`? */
export function segmentMatches(segment: GlobSegment, name: string): boolean {
  if (segment.kind === 'literal') return segment.name === name;
  if (segment.kind === 'wild') return tokensMatch(segment.tokens, name);
  return true;
}

/**
 * Runs the path's segments through the pattern's segments as a set of positions; `onPrefix` sees,
 * after each prefix of the path (the empty one first), whether the pattern matched it whole.
 */
function simulate(pattern: readonly GlobSegment[], names: readonly string[], onPrefix: (matched: boolean) => boolean): void {
  const m = pattern.length;
  let current = new Uint8Array(m + 1);
  let next = new Uint8Array(m + 1);
  const close = (set: Uint8Array) => {
    for (let p = 0; p < m; p++) if (set[p] && pattern[p]!.kind === 'globstar') set[p + 1] = 1;
  };
  current[0] = 1;
  close(current);
  if (onPrefix(current[m] === 1)) return;
  for (const name of names) {
    next.fill(0);
    let any = false;
    for (let p = 0; p < m; p++) {
      if (!current[p]) continue;
      const segment = pattern[p]!;
      if (segment.kind === 'globstar') {
        next[p] = 1;
        any = true;
      } else if (segmentMatches(segment, name)) {
        next[p + 1] = 1;
        any = true;
      }
    }
    if (!any) return;
    close(next);
    [current, next] = [next, current];
    if (onPrefix(current[m] === 1)) return;
  }
}

/** True when the whole device path matches the whole pattern. */
export function matchGlob(glob: CompiledGlob | string, devicePath: string): boolean {
  const compiled = typeof glob === 'string' ? compileGlob(glob) : glob;
  const names = pathSegments(devicePath);
  let seen = 0;
  let whole = false;
  simulate(compiled.segments, names, (matched) => {
    if (seen++ === names.length) whole = matched;
    return false;
  });
  return whole;
}

/**
 * True when `devicePath` is covered by the pattern: it matches it, or lies below a path that does
 * (a listed directory stands for its whole tree).
 */
export function coveredByGlob(glob: CompiledGlob | string, devicePath: string): boolean {
  const compiled = typeof glob === 'string' ? compileGlob(glob) : glob;
  let covered = false;
  simulate(compiled.segments, pathSegments(devicePath), (matched) => (covered = matched));
  return covered;
}
