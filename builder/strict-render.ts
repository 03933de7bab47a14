// Owns strict template rendering for overlays: mustache, except that a name the view does not define is
// an error instead of an empty string (a missing key must never ship an image with a blank setting).
// Contract: `renderStrict` either returns the full text or throws a UserError naming every missing key
// with the template it came from. Sections ({{#x}}) over a missing key are errors too; use false/[] to
// switch a section off explicitly.
import Mustache from 'mustache';
import { UserError } from '../core/errors.ts';

type View = Record<string, unknown>;

/** Names used by a template, as (dotted path, context stack depth) pairs, walked from mustache's parse tree. */
function missingNames(tokens: unknown[], stack: unknown[], missing: Set<string>): void {
  for (const token of tokens as [string, string, number, number, unknown[]?][]) {
    const [type, name, , , children] = token;
    if (type === 'text' || type === '!' || type === '=' || type === '>') continue;
    const value = lookup(stack, name);
    if (value === undefined) {
      missing.add(name);
      continue;
    }
    if ((type === '#' || type === '^') && children) {
      if (type === '#' && Array.isArray(value)) for (const item of value) missingNames(children, [item, ...stack], missing);
      else if (type === '#' && value && typeof value === 'object') missingNames(children, [value, ...stack], missing);
      else if (type === '#' && value) missingNames(children, stack, missing);
      else if (type === '^' && !value) missingNames(children, stack, missing);
    }
  }
}

function lookup(stack: unknown[], name: string): unknown {
  if (name === '.') return stack[0];
  const [head, ...rest] = name.split('.');
  for (const frame of stack) {
    if (frame !== null && typeof frame === 'object' && head! in (frame as object)) {
      let value: unknown = (frame as View)[head!];
      for (const part of rest) {
        if (value === null || typeof value !== 'object' || !(part in (value as object))) return undefined;
        value = (value as View)[part];
      }
      return value === null ? undefined : value;
    }
  }
  return undefined;
}

export function renderStrict(template: string, view: View, source = 'template'): string {
  let tokens: unknown[];
  try {
    tokens = Mustache.parse(template);
  } catch (error) {
    throw new UserError(`${source}: not a valid mustache template: ${(error as Error).message}`);
  }
  const missing = new Set<string>();
  missingNames(tokens, [view], missing);
  if (missing.size > 0) {
    throw new UserError(
      `${source}: no value for ${[...missing].map((m) => `{{${m}}}`).join(', ')}`,
      'every template key must be defined by the build (a missing key is an error, never an empty string)',
    );
  }
  // no HTML escaping: these are config files, not web pages
  return Mustache.render(template, view, undefined, { escape: (text: string) => String(text) });
}
