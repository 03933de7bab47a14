// The console reader the e2e and the boot tests type through (test/support/boot-console.ts): what it
// strips, and that a recovery card's cap is read whole when the console delivers it in pieces.
import test from 'ava';
import { setImmediate } from 'node:timers/promises';
import { BootConsole, CARD_CAP, stripAnsi } from '../../support/boot-console.ts';

const CAP = `URI:DIR2-RO:${'k'.repeat(26)}:${'f'.repeat(52)}`;

test('stripAnsi drops what a terminal does not show: the firmware\'s ESC[=3h, systemd\'s palette reset (OSC 104), colours, CR', (t) => {
  const raw = '\u001b[=3h\u001b[=3hBdsDxe: booting\r\n\u001b]104\u0007\u001b]104\u001b\\Is this a new router? \u001b[0;32m[  OK  ]\u001b[0m done\r\n';
  t.is(stripAnsi(raw), 'BdsDxe: booting\nIs this a new router? [  OK  ] done\n');
});

/** Feeds `text` in pieces of `size`, letting a waiting waitFor look at each piece. */
async function inPieces(reader: BootConsole, text: string, size: number): Promise<void> {
  for (let at = 0; at < text.length; at += size) {
    reader.push(text.slice(at, at + size));
    await setImmediate();
  }
}

test('a cap that arrives in pieces is matched only once it is whole (the qemu serial line)', async (t) => {
  const line = `read cap:\r\n${CAP}\r\n`;
  // the open-ended pattern the e2e used matched at the first piece that held a colon after the key: a cut cap
  const before = new BootConsole(() => {});
  const cut = before.waitFor(/URI:DIR2-RO:[a-z2-7]+:[a-z2-7]+/, 5_000);
  await inPieces(before, line, 7);
  t.not((await cut).match[0], CAP);
  const now = new BootConsole(() => {});
  const whole = now.waitFor(CARD_CAP, 5_000);
  await inPieces(now, line, 7);
  t.is((await whole).match[0], CAP);
});
