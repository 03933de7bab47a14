// Owns turning a schema check into sysback's config errors: one pure function per file that returns
// *every* problem with its field path (`introducers[1].furl: not a fURL`), in the style of changesets.
// zod does the checking: it is well kept, runs on Node 20, and reports all issues with their paths.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem, UserError } from '../errors.ts';

export type Validation<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out || '(top level)';
}

export function validateWith<S extends z.ZodType>(schema: S, input: unknown): Validation<z.infer<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
  };
}

/** Reads and validates a JSON config file; throws ConfigError listing every problem. */
export function loadJsonConfig<T>(file: string, validate: (input: unknown) => Validation<T>): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`, 'check the path');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [{ path: '(file)', message: `not JSON: ${(error as Error).message}` }]);
  }
  const result = validate(parsed);
  if (!result.ok) throw new ConfigError(file, result.problems);
  return result.value;
}
