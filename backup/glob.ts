// Owns the glob syntax of /etc/sysback/files.txt (and of a restore's allowed list): pure matching of a
// device path against a pattern, segment by segment, with no file system access.
// Contract:
// - patterns are absolute device paths; `/` separates segments and is never matched by a wildcard;
// - `*` matches any run of characters inside one segment (names starting with `.` too: a backup that
//   silently skipped /root/.ssh would be worse than one that saves a file too many), `?` one character,
//   `[abc]`, `[a-z]`, `[!x]` a character class, `\x` the character x literally;
// - a segment that is exactly `**` matches zero or more whole segments;
// - a pattern without any of `* ? [` is literal (`isGlob` says which).
// Node 20 has no fs.glob, and the list's semantics (dotfiles, no symlink following) are ours anyway.

export interface CompiledGlob {
  pattern: string;
  /** one entry per segment: `**`, or an anchored regular expression for that segment */
  segments: readonly GlobSegment[];
}

export type GlobSegment = { kind: 'globstar' } | { kind: 'literal'; name: string } | { kind: 'wild'; regex: RegExp };

const WILD = /(?<!\\)[*?[]/;

/** True when `pattern` contains a wildcard (`*`, `?` or `[`) that is not escaped. */
export function isGlob(pattern: string): boolean {
  return WILD.test(pattern);
}

/** Splits an absolute device path into its non-empty segments (`/a//b/` -> [a, b]). */
export function pathSegments(devicePath: string): string[] {
  return devicePath.split('/').filter((s) => s !== '' && s !== '.');
}

function segmentRegex(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '\\' && i + 1 < segment.length) {
      out += escapeRegex(segment[++i]!);
    } else if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else {
      out += escapeRegex(c);
    }
  }
  return new RegExp(`^${out}$`, 'u');
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, (m) => `\\${m}`);
}

function unescape(segment: string): string {
  return segment.replace(/\\(.)/g, '$1');
}

/** Compiles a pattern once; match it many times with `matchGlob`. */
export function compileGlob(pattern: string): CompiledGlob {
  const segments: GlobSegment[] = pathSegments(pattern).map((segment) => {
    if (segment === '**') return { kind: 'globstar' };
    if (!isGlob(segment)) return { kind: 'literal', name: unescape(segment) };
    return { kind: 'wild', regex: segmentRegex(segment) };
  });
  return { pattern, segments };
}

/** Does one segment (not `**`) accept `name`? */
export function segmentMatches(segment: GlobSegment, name: string): boolean {
  if (segment.kind === 'literal') return segment.name === name;
  if (segment.kind === 'wild') return segment.regex.test(name);
  return true;
}

/** True when the whole device path matches the whole pattern. */
export function matchGlob(glob: CompiledGlob | string, devicePath: string): boolean {
  const compiled = typeof glob === 'string' ? compileGlob(glob) : glob;
  return matchFrom(compiled.segments, 0, pathSegments(devicePath), 0);
}

function matchFrom(pattern: readonly GlobSegment[], pi: number, names: readonly string[], ni: number): boolean {
  while (pi < pattern.length) {
    const segment = pattern[pi]!;
    if (segment.kind === 'globstar') {
      for (let skip = ni; skip <= names.length; skip++) {
        if (matchFrom(pattern, pi + 1, names, skip)) return true;
      }
      return false;
    }
    if (ni >= names.length || !segmentMatches(segment, names[ni]!)) return false;
    pi++;
    ni++;
  }
  return ni === names.length;
}

/**
 * True when `devicePath` is covered by the pattern: it matches it, or lies below a path that does
 * (a listed directory stands for its whole tree).
 */
export function coveredByGlob(glob: CompiledGlob | string, devicePath: string): boolean {
  const compiled = typeof glob === 'string' ? compileGlob(glob) : glob;
  const names = pathSegments(devicePath);
  for (let n = names.length; n >= 0; n--) {
    if (matchFrom(compiled.segments, 0, names.slice(0, n), 0)) return true;
  }
  return false;
}
