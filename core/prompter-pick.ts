// Owns the type-ahead filter behind `Prompter.pick`: choosing one name among hundreds on a plain
// serial line, with no full-screen UI. The person types part of a name, sees the numbered matches
// (at most a page of them), then types a number, or more letters to narrow the list. Contract: the
// step function is pure; typing an exact name (or a text the caller accepts, such as a read cap)
// chooses at once, which is also how an answers file answers; a refusal always carries a reason.

export interface PickState {
  /** the numbered names on screen, if a list was shown */
  shown: readonly string[] | undefined;
}

export type PickStep =
  /** a name (or an accepted free text) was chosen */
  | { kind: 'chosen'; value: string }
  /** not a choice yet: show these numbered matches and ask again (not a failed attempt) */
  | { kind: 'list'; query: string; shown: readonly string[]; matched: number }
  /** a failed attempt, with the reason to print */
  | { kind: 'refused'; reason: string };

export interface PickRules {
  /** how many matches are numbered on screen at most */
  pageSize: number;
  /** free text the caller takes as it is (for example a recovery card's read cap) */
  accept?: (typed: string) => boolean;
}

/** Names containing `query` (case-insensitive): those starting with it first, each group in list order. */
export function filterItems(items: readonly string[], query: string): string[] {
  const q = query.toLowerCase();
  const starts: string[] = [];
  const contains: string[] = [];
  for (const item of items) {
    const lower = item.toLowerCase();
    if (lower.startsWith(q)) starts.push(item);
    else if (lower.includes(q)) contains.push(item);
  }
  return [...starts, ...contains];
}

function listOf(items: readonly string[], query: string, pageSize: number): PickStep {
  const matches = query === '' ? [...items] : filterItems(items, query);
  if (matches.length === 0) return { kind: 'refused', reason: `no name contains "${query}"` };
  return { kind: 'list', query, shown: matches.slice(0, pageSize), matched: matches.length };
}

/** One round of the filter: what to do with the line the person typed. */
export function pickStep(items: readonly string[], state: PickState, typed: string, rules: PickRules): PickStep {
  const text = typed.trim();
  if (text === '') {
    if (state.shown && state.shown.length === 1) return { kind: 'chosen', value: state.shown[0]! };
    if (items.length === 0) return { kind: 'refused', reason: 'there is nothing to choose from' };
    return listOf(items, '', rules.pageSize);
  }
  if (items.includes(text)) return { kind: 'chosen', value: text };
  if (/^\d+$/.test(text) && state.shown) {
    const n = Number(text);
    if (n >= 1 && n <= state.shown.length) return { kind: 'chosen', value: state.shown[n - 1]! };
    return { kind: 'refused', reason: `${text} is not a number on the list (1-${state.shown.length})` };
  }
  if (rules.accept?.(text)) return { kind: 'chosen', value: text };
  const exact = items.filter((item) => item.toLowerCase() === text.toLowerCase());
  if (exact.length === 1) return { kind: 'chosen', value: exact[0]! };
  return listOf(items, text, rules.pageSize);
}

/** The lines that show a list step on the console. */
export function renderPickList(step: Extract<PickStep, { kind: 'list' }>, total: number): string[] {
  const head =
    step.query === ''
      ? `  ${total} ${total === 1 ? 'name' : 'names'}:`
      : `  ${step.matched} of ${total} ${total === 1 ? 'name matches' : 'names match'} "${step.query}":`;
  const width = String(step.shown.length).length;
  const lines = [head, ...step.shown.map((name, i) => `  ${String(i + 1).padStart(width)}) ${name}`)];
  const hidden = step.matched - step.shown.length;
  if (hidden > 0) lines.push(`  ... and ${hidden} more: type more letters to narrow the list`);
  return lines;
}
