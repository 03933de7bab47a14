import test from 'ava';
import { filterItems, pickStep, renderPickList } from '../../../core/prompter-pick.ts';

const rules = { pageSize: 3 };
const names = ['alice', 'Alicia', 'malik', 'bob', 'bobby', '42'];

test('filterItems: case-insensitive, names starting with the text first, list order kept', (t) => {
  t.deepEqual(filterItems(names, 'ALI'), ['alice', 'Alicia', 'malik']);
  t.deepEqual(filterItems(names, 'ob'), ['bob', 'bobby']);
  t.deepEqual(filterItems(names, 'zz'), []);
});

test('pickStep: typing part of a name lists the matches (not a failed attempt)', (t) => {
  t.deepEqual(pickStep(names, { shown: undefined }, 'bo', rules), { kind: 'list', query: 'bo', shown: ['bob', 'bobby'], matched: 2 });
});

test('pickStep: the list is cut at pageSize and says how many matched', (t) => {
  const step = pickStep(names, { shown: undefined }, 'i', rules);
  t.deepEqual(step, { kind: 'list', query: 'i', shown: ['alice', 'Alicia', 'malik'], matched: 3 });
  const more = pickStep(names, { shown: undefined }, '', { pageSize: 2 });
  t.deepEqual(more, { kind: 'list', query: '', shown: ['alice', 'Alicia'], matched: 6 });
});

test('pickStep: a number picks from the names on screen; off the list it is refused', (t) => {
  const shown = ['bob', 'bobby'];
  t.deepEqual(pickStep(names, { shown }, '2', rules), { kind: 'chosen', value: 'bobby' });
  t.deepEqual(pickStep(names, { shown }, '3', rules), { kind: 'refused', reason: '3 is not a number on the list (1-2)' });
  t.deepEqual(pickStep(names, { shown }, '0', rules), { kind: 'refused', reason: '0 is not a number on the list (1-2)' });
});

test('pickStep: an exact name wins over a number, even a name made of digits', (t) => {
  t.deepEqual(pickStep(names, { shown: ['bob'] }, '42', rules), { kind: 'chosen', value: '42' });
  t.deepEqual(pickStep(names, { shown: undefined }, 'bob', rules), { kind: 'chosen', value: 'bob' });
});

test('pickStep: a unique case-insensitive exact name is chosen', (t) => {
  t.deepEqual(pickStep(names, { shown: undefined }, 'ALICIA', rules), { kind: 'chosen', value: 'Alicia' });
});

test('pickStep: Enter with one name on screen chooses it; with several it lists all again', (t) => {
  t.deepEqual(pickStep(names, { shown: ['malik'] }, '  ', rules), { kind: 'chosen', value: 'malik' });
  t.is(pickStep(names, { shown: ['bob', 'bobby'] }, '', rules).kind, 'list');
});

test('pickStep: no match is refused with the text in the reason; an empty list cannot be picked from', (t) => {
  t.deepEqual(pickStep(names, { shown: undefined }, 'zed', rules), { kind: 'refused', reason: 'no name contains "zed"' });
  t.deepEqual(pickStep([], { shown: undefined }, '', rules), { kind: 'refused', reason: 'there is nothing to choose from' });
});

test('pickStep: accept lets free text through', (t) => {
  const accept = (s: string) => s.startsWith('URI:');
  t.deepEqual(pickStep(names, { shown: undefined }, 'URI:DIR2-RO:x:y', { ...rules, accept }), { kind: 'chosen', value: 'URI:DIR2-RO:x:y' });
});

test('renderPickList: numbers aligned, a count line, and a "more" line when cut', (t) => {
  const step = { kind: 'list' as const, query: 'r', shown: Array.from({ length: 10 }, (_, i) => `r${i}`), matched: 12 };
  const lines = renderPickList(step, 500);
  t.is(lines[0], '  12 of 500 names match "r":');
  t.is(lines[1], '   1) r0');
  t.is(lines[10], '  10) r9');
  t.is(lines[11], '  ... and 2 more: type more letters to narrow the list');
});
