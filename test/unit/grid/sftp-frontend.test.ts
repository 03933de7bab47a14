// The SFTP frontend's files: the accounts line Tahoe 1.20 parses (user, public key, root cap), the
// [sftpd] settings, the known_hosts line, and enabling it on a node directory with the real ssh-keygen
// (mode 0600 accounts file, keys kept on a second run, no cap in any error).
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../../core/errors.ts';
import { createLog } from '../../../core/log.ts';
import { createRunner } from '../../../core/runner.ts';
import { accountsLine, enableSftpFrontend, knownHostsLine, sftpdSettings, sftpFiles } from '../../../grid/sftp-frontend.ts';
import { getCfgValue, readCfg } from '../../../grid/tahoe-cfg.ts';
import { hasProgram, testIf } from '../../support/skip.ts';

const CAP = 'URI:DIR2:cep7iqwb7cyapk4fvuhrk6ffse:hrdiugywpchxcdl522p7vhsk22dvtjmcxsrm7pjxjf3zvoq3mzpa';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLdWi4e+Lmm75zzozZa/MhnJQXQ/4B2voLPLWEpWW1S';

test('an accounts line is USER KEYTYPE KEY ROOTCAP, the key comment dropped', (t) => {
  t.is(accountsLine('sysback', `${KEY} root@router\n`, CAP), `sysback ${KEY} ${CAP}\n`);
});

test('a password-style account, a bad user, a read cap or a file cap is refused without echoing the cap', (t) => {
  for (const [user, key, cap] of [
    ['sysback', 'hunter2', CAP],
    ['Bad User', KEY, CAP],
    ['sysback', KEY, 'URI:DIR2-RO:cep7iqwb7cyapk4fvuhrk6ffse:hrdiugywpchxcdl522p7vhsk22dvtjmcxsrm7pjxjf3zvoq3mzpa'],
    ['sysback', KEY, 'URI:CHK:cep7iqwb7cyapk4fvuhrk6ffse:hrdiugywpchxcdl522p7vhsk22dvtjmcxsrm7pjxjf3zvoq3mzpa:2:3:100'],
    ['sysback', KEY, `${CAP} extra`],
  ] as const) {
    const error = t.throws(() => accountsLine(user, key, cap), { instanceOf: UserError });
    t.false(error!.message.includes('cep7iq'), error!.message);
  }
});

test('the [sftpd] settings listen on 127.0.0.1 only and name files relative to the node directory', (t) => {
  const settings = Object.fromEntries(sftpdSettings(8022).map(([, k, v]) => [k, v]));
  t.deepEqual(settings, {
    enabled: 'true',
    port: 'tcp:8022:interface=127.0.0.1',
    host_pubkey_file: 'private/ssh_host_ed25519_key.pub',
    host_privkey_file: 'private/ssh_host_ed25519_key',
    'accounts.file': 'private/sftp.accounts',
  });
  t.throws(() => sftpdSettings(0), { instanceOf: UserError });
  t.throws(() => sftpdSettings(70000), { instanceOf: UserError });
});

test('the known_hosts line names [127.0.0.1]:port', (t) => {
  t.is(knownHostsLine(4022, `${KEY} sysback-sftp-host\n`), `[127.0.0.1]:4022 ${KEY}\n`);
  t.throws(() => knownHostsLine(4022, 'not a key'), { instanceOf: UserError });
});

const runner = createRunner(createLog({ level: 'warn' }));
const withSshKeygen = testIf(hasProgram('ssh-keygen'), 'ssh-keygen is not installed (apt-get install openssh-client)');

withSshKeygen('enabling the frontend makes both key pairs, a 0600 accounts file and the [sftpd] section; a second run keeps the keys', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-sftp-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'private'));
  writeFileSync(path.join(dir, 'tahoe.cfg'), '[node]\nnickname = c\n\n[client]\nshares.needed = 2\n');
  const first = await enableSftpFrontend(runner, dir, { port: 4022, user: 'sysback', rootCap: CAP });
  const files = sftpFiles(dir);
  t.is(statSync(files.accounts).mode & 0o777, 0o600);
  t.is(statSync(first.keyFile).mode & 0o777, 0o600);
  const clientPub = readFileSync(`${first.keyFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  t.is(readFileSync(files.accounts, 'utf8'), `sysback ${clientPub} ${CAP}\n`);
  t.is(readFileSync(first.knownHostsFile, 'utf8'), `[127.0.0.1]:4022 ${first.hostPublicKey}\n`);
  const cfg = readCfg(dir);
  t.is(getCfgValue(cfg, 'sftpd', 'enabled'), 'true');
  t.is(getCfgValue(cfg, 'client', 'shares.needed'), '2', 'other settings are kept');
  const second = await enableSftpFrontend(runner, dir, { port: 5022, user: 'sysback', rootCap: CAP });
  t.is(second.hostPublicKey, first.hostPublicKey);
  t.is(readFileSync(`${second.keyFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' '), clientPub);
  t.is(getCfgValue(readCfg(dir), 'sftpd', 'port'), 'tcp:5022:interface=127.0.0.1');
  t.is(readCfg(dir).match(/\[sftpd\]/g)?.length, 1);
});

test('enabling the frontend outside a node directory is a UserError', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-sftp-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runner = createRunner(createLog({ level: 'warn' }));
  await t.throwsAsync(enableSftpFrontend(runner, dir, { port: 4022, user: 'sysback', rootCap: CAP }), { instanceOf: UserError });
});
