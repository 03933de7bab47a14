// Owns the owner's way into the router (DESIGN §5, "the router is administered"): SSH as root with the
// keys in /root/.ssh/authorized_keys, and, for the console, a root password the owner types.
// Decision (README "Admin access"): SSH is key-only (sshd_config.d/sysback.conf); keys come from the
// build config (`adminKeys`, in the image from the first boot on, so SSH works while the question
// waits) and from the answers (`sshKeys`, added here). On the console, when no key is known, the
// owner is asked for one key line (Enter skips) and then, with no key still, for a root password for
// console logins (typed twice, never echoed, handed to chpasswd on stdin, never logged). Both live in
// files.txt (/root/.ssh, /etc/ssh/ssh_host_*; the password in /etc/shadow is not backed up: a
// recovered router's console password is the one its owner sets again, and its SSH keys come back).
// Contract: idempotent (a key already present is not added twice); a headless boot without keys
// says so in the journal and goes on (the console can still be used later with `sysback firstboot`).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Context } from '../core/context.ts';
import type { Prompter } from '../core/prompter.ts';
import type { FlowOptions } from './flows.ts';

export const AUTHORIZED_KEYS = '/root/.ssh/authorized_keys';
const KEY_LINE = /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n]*)?$/;

/** Why `line` is not one OpenSSH public key line, or undefined. */
export function keyLineProblem(line: string): string | undefined {
  return KEY_LINE.test(line.trim()) ? undefined : 'not an OpenSSH public key line (ssh-ed25519 AAAA... comment)';
}

/** The authorized_keys text with `added` appended where missing (pure). */
export function mergeKeys(existing: string, added: readonly string[]): string {
  const lines = existing.split('\n').map((l) => l.trim()).filter(Boolean);
  const body = (l: string) => l.split(/\s+/).slice(0, 2).join(' ');
  for (const key of added.map((k) => k.trim())) if (!lines.some((l) => body(l) === body(key))) lines.push(key);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export async function ensureAdminAccess(ctx: Context, prompter: Prompter, options: Pick<FlowOptions, 'answers'>): Promise<void> {
  const file = ctx.path(AUTHORIZED_KEYS);
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const added = [...(options.answers?.sshKeys ?? [])];
  if (!mergeKeys(existing, added) && prompter.kind === 'console') {
    const typed = await prompter.line('SSH public key for root (one line; Enter to skip)', {
      key: 'sshKey',
      default: '',
      validate: (line) => (line === '' ? undefined : keyLineProblem(line)),
    });
    if (typed) added.push(typed);
  }
  const text = mergeKeys(existing, added);
  if (added.length > 0 && text !== existing) {
    mkdirSync(ctx.path('/root/.ssh'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, text, { mode: 0o600 });
  }
  const keys = text.split('\n').filter(Boolean).length;
  if (keys > 0) {
    prompter.say(`Admin access: SSH as root with ${keys} key${keys === 1 ? '' : 's'} (${AUTHORIZED_KEYS}).`);
    return;
  }
  if (prompter.kind !== 'console') {
    ctx.log.warn('no SSH key for root (add "sshKeys" to the answers, or adminKeys to build.json): log in on the console to add one');
    return;
  }
  const password = await prompter.secret('Root password for console logins', { key: 'rootPassword' });
  const again = await prompter.secret('Root password again', { key: 'rootPasswordConfirm' });
  if (password !== again) {
    prompter.say('  the two passwords differ; the root password is unchanged (set it later with passwd)');
    return;
  }
  const chroot = ctx.root === '/' ? [] : ['--root', ctx.root];
  await ctx.runner.run(['chpasswd', ...chroot], { input: `root:${password}\n`, secrets: [password] });
  prompter.say('Admin access: root logs in on the console with the password you typed; add an SSH key to /root/.ssh/authorized_keys for SSH.');
}
