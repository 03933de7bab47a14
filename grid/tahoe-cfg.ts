// Owns reading and editing tahoe.cfg (an INI file) where the tahoe CLI has no flag for a setting,
// and writing private/introducers.yaml (the only way to give a node several introducers).
// Contract: edits keep every other line, comment and section as they were.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function readCfg(nodeDir: string): string {
  return readFileSync(path.join(nodeDir, 'tahoe.cfg'), 'utf8');
}

/** Value of `key` in `[section]`, or undefined. */
export function getCfgValue(text: string, section: string, key: string): string | undefined {
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      current = header[1]!.trim();
      continue;
    }
    if (current !== section) continue;
    const kv = /^\s*([^#;=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line);
    if (kv && kv[1] === key) return kv[2];
  }
  return undefined;
}

/** Returns `text` with `key = value` set in `[section]` (added, or replaced in place). */
export function setCfgValue(text: string, section: string, key: string, value: string): string {
  const lines = text.split('\n');
  let current = '';
  let sectionEnd = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      if (current === section) break;
      current = header[1]!.trim();
      if (current === section) sectionEnd = i + 1;
      continue;
    }
    if (current !== section) continue;
    const kv = /^\s*([^#;=\s][^=]*?)\s*=/.exec(line);
    if (kv && kv[1] === key) {
      lines[i] = `${key} = ${value}`;
      return lines.join('\n');
    }
    if (line.trim() !== '') sectionEnd = i + 1;
  }
  if (sectionEnd === -1) {
    const body = text.endsWith('\n') || text === '' ? text : `${text}\n`;
    return `${body}\n[${section}]\n${key} = ${value}\n`;
  }
  lines.splice(sectionEnd, 0, `${key} = ${value}`);
  return lines.join('\n');
}

export function editCfg(nodeDir: string, settings: ReadonlyArray<[section: string, key: string, value: string]>): void {
  let text = readCfg(nodeDir);
  for (const [section, key, value] of settings) text = setCfgValue(text, section, key, value);
  writeFileSync(path.join(nodeDir, 'tahoe.cfg'), text);
}

/** private/introducers.yaml for several introducers (Tahoe ≥ 1.12). */
export function introducersYaml(introducers: ReadonlyArray<{ name: string; furl: string }>): string {
  const lines = ['introducers:'];
  for (const intro of introducers) {
    if (!/^[A-Za-z0-9_-]+$/.test(intro.name)) throw new Error(`bad introducer name: ${intro.name}`);
    lines.push(`  ${intro.name}:`, `    furl: ${JSON.stringify(intro.furl)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function writeIntroducers(nodeDir: string, introducers: ReadonlyArray<{ name: string; furl: string }>): void {
  writeFileSync(path.join(nodeDir, 'private', 'introducers.yaml'), introducersYaml(introducers), { mode: 0o600 });
}
