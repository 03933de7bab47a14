// Owns enabling Tahoe's SFTP frontend on a node directory (DESIGN §4.2, the `mount` transport): the
// host key pair, the client key pair sysback logs in with, the accounts file and the [sftpd] section.
// Tahoe 1.20 has no SFTP passwords: allmydata/frontends/auth.py accepts only lines of the form
//   USER ssh-KEYTYPE BASE64KEY ROOTCAP
// (everything between the user and the last field is the public key; the last field is the root cap
// the account sees as "/"; blank and `#` lines are skipped). The accounts file holds a directory write
// cap, so it is written with mode 0600 and its contents are never logged.
// Contract: idempotent (existing key pairs are kept, the accounts file and [sftpd] are rewritten);
// the server listens on 127.0.0.1 only; the node must be (re)started to pick the settings up.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import type { Runner } from '../core/runner.ts';
import { editCfg } from './tahoe-cfg.ts';

export interface SftpFrontendOptions {
  /** TCP port on 127.0.0.1 */
  port: number;
  /** the SFTP account name */
  user: string;
  /** the directory write cap the account sees as its root (the area's directory) */
  rootCap: string;
  /** where the client's private key goes (default NODE/private/sftp-client-key) */
  clientKeyFile?: string;
}

export interface SftpFrontend {
  port: number;
  user: string;
  /** the client private key (its public half is `${keyFile}.pub`) */
  keyFile: string;
  /** a known_hosts file naming this node's host key for [127.0.0.1]:port */
  knownHostsFile: string;
  /** the host public key line (`ssh-ed25519 AAAA...`) */
  hostPublicKey: string;
}

/** The files the frontend uses inside a node directory (relative paths are what tahoe.cfg holds). */
export function sftpFiles(nodeDir: string) {
  return {
    hostKey: path.join(nodeDir, 'private', 'ssh_host_ed25519_key'),
    accounts: path.join(nodeDir, 'private', 'sftp.accounts'),
    clientKey: path.join(nodeDir, 'private', 'sftp-client-key'),
    knownHosts: path.join(nodeDir, 'private', 'sftp-known-hosts'),
  };
}

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const PUBKEY = /^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+$/;
const DIRCAP = /^URI:DIR2(-MDMF)?:[a-z2-7]+:[a-z2-7]+$/;

/** One accounts-file line (pure). Refuses anything Tahoe would misparse, without echoing the cap. */
export function accountsLine(user: string, publicKey: string, rootCap: string): string {
  if (!USER.test(user)) throw new UserError(`SFTP user name "${user}" is not valid`, 'use lower-case letters, digits, _ and -');
  const key = publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
  if (!PUBKEY.test(key)) throw new UserError('the SFTP client public key is not an OpenSSH public key line');
  if (!DIRCAP.test(rootCap)) throw new UserError('the SFTP root cap is not a directory write cap (URI:DIR2:...)');
  return `${user} ${key} ${rootCap}\n`;
}

/** The [sftpd] settings (pure); file names relative to the node directory, as Tahoe resolves them. */
export function sftpdSettings(port: number): Array<[string, string, string]> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`SFTP port ${port} is not a TCP port`);
  return [
    ['sftpd', 'enabled', 'true'],
    ['sftpd', 'port', `tcp:${port}:interface=127.0.0.1`],
    ['sftpd', 'host_pubkey_file', 'private/ssh_host_ed25519_key.pub'],
    ['sftpd', 'host_privkey_file', 'private/ssh_host_ed25519_key'],
    ['sftpd', 'accounts.file', 'private/sftp.accounts'],
  ];
}

/** A known_hosts line for the frontend (pure): ssh names non-22 ports as [host]:port. */
export function knownHostsLine(port: number, hostPublicKey: string): string {
  const key = hostPublicKey.trim().split(/\s+/).slice(0, 2).join(' ');
  if (!PUBKEY.test(key)) throw new UserError('the SFTP host public key is not an OpenSSH public key line');
  return `[127.0.0.1]:${port} ${key}\n`;
}

async function ensureKeyPair(runner: Runner, file: string, comment: string): Promise<void> {
  if (existsSync(file) && existsSync(`${file}.pub`)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  // no passphrase: Tahoe and sshfs run unattended (Tahoe's docs: the host key must have none)
  await runner.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], {
    hint: 'install openssh-client (ssh-keygen)',
  });
  chmodSync(file, 0o600);
}

/** Enables the SFTP frontend on `nodeDir`; restart the node afterwards. */
export async function enableSftpFrontend(runner: Runner, nodeDir: string, options: SftpFrontendOptions): Promise<SftpFrontend> {
  if (!existsSync(path.join(nodeDir, 'tahoe.cfg'))) {
    throw new UserError(`${nodeDir} is not a Tahoe node directory`, 'create the node first');
  }
  const files = sftpFiles(nodeDir);
  const keyFile = options.clientKeyFile ?? files.clientKey;
  await ensureKeyPair(runner, files.hostKey, 'sysback-sftp-host');
  await ensureKeyPair(runner, keyFile, 'sysback-sftp-client');
  const clientPublic = readFileSync(`${keyFile}.pub`, 'utf8');
  const hostPublicKey = readFileSync(`${files.hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');

  writeFileSync(files.accounts, accountsLine(options.user, clientPublic, options.rootCap), { mode: 0o600 });
  chmodSync(files.accounts, 0o600);
  writeFileSync(files.knownHosts, knownHostsLine(options.port, hostPublicKey), { mode: 0o644 });
  editCfg(nodeDir, sftpdSettings(options.port));
  return { port: options.port, user: options.user, keyFile, knownHostsFile: files.knownHosts, hostPublicKey };
}
