import test from 'ava';
import { authenticateCommand, bootstrapProgress } from '../../../grid/tor-control.ts';

test('a NULL-auth control port is authenticated with a bare AUTHENTICATE', (t) => {
  t.is(authenticateCommand('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.15"\r\n250 OK\r\n'), 'AUTHENTICATE');
});

test("a cookie-auth control port (the device's system tor) is authenticated with the cookie's hex", (t) => {
  const info = '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/run/tor/control.authcookie"\r\n250 OK\r\n';
  const read = (file: string) => {
    t.is(file, '/run/tor/control.authcookie');
    return Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  };
  t.is(authenticateCommand(info, read), 'AUTHENTICATE deadbeef');
});

test('bootstrap progress is read from the status reply', (t) => {
  t.is(bootstrapProgress('250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"\r\n250 OK'), 100);
  t.is(bootstrapProgress('515 Authentication failed'), undefined);
});
