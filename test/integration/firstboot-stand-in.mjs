#!/usr/bin/env node
// TEST-ONLY stand-in for `sysback firstboot`, installed as the app of TEST images (never in the product
// overlay) while firstboot/firstboot-command.ts does not exist yet. It keeps the real command's outward
// contract that the boot tests check: the mode comes from `sysback.mode=` on the kernel command line
// (in a container: PID 1's arguments), else from /etc/sysback/answers.json, else it asks exactly
// "Is this a new router, or do you want to recover one? [new/recover]: " on its terminal; it writes
// /var/lib/sysback/state.json only once it has an answer, and exits 0.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const PROMPT = 'Is this a new router, or do you want to recover one? [new/recover]: ';
const [command] = process.argv.slice(2);
if (command !== 'firstboot') {
  process.stderr.write(`firstboot stand-in: "${command}" is not implemented in test images\n`);
  process.exit(2);
}

function read(file) {
  try { return readFileSync(file, 'utf8').split('\0').join(' '); } catch { return ''; }
}
const cmdline = `${read('/proc/cmdline')} ${read('/proc/1/cmdline')}`;
let mode = /(?:^|\s)sysback\.mode=(new|recover)(?=\s|$)/.exec(cmdline)?.[1];
let source = mode ? 'kernel command line' : undefined;
if (!mode && existsSync('/etc/sysback/answers.json')) {
  mode = JSON.parse(readFileSync('/etc/sysback/answers.json', 'utf8')).mode;
  source = 'answers file';
}
if (!mode) {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
  process.stdout.write(PROMPT);
  for await (const line of rl) {
    const answer = line.trim().toLowerCase();
    if (answer === 'new' || answer === 'recover') { mode = answer; break; }
    process.stdout.write(`Please type "new" or "recover".\n${PROMPT}`);
  }
  rl.close();
  if (!mode) process.exit(1); // the console went away: ask again next boot
  source = 'console';
}
process.stdout.write(`FIRSTBOOT-MODE=${mode} (from the ${source})\n`);
mkdirSync('/var/lib/sysback', { recursive: true });
writeFileSync('/var/lib/sysback/state.json.tmp', `${JSON.stringify({ format: 'stand-in', mode, configuredAt: new Date().toISOString() })}\n`);
renameSync('/var/lib/sysback/state.json.tmp', '/var/lib/sysback/state.json');
process.stdout.write('FIRSTBOOT-DONE\n');
