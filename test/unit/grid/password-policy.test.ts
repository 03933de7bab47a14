// The password floor and alias rules of identity files (grid/password-policy.ts): each refusal has its
// own reason, the reason never repeats the password, and good passwords and passphrases pass.
import test from 'ava';
import { UserError } from '../../../core/errors.ts';
import { assertAlias, assertPasswordStrong, checkAlias, checkPassword } from '../../../grid/password-policy.ts';

test('strong passwords and passphrases are accepted', (t) => {
  for (const good of [
    'Tr0ub4dor&3-Xylo',
    'vq8#Lm2!zR7@pK',
    'marble tiger violin orchard',
    'kettle-raven-copper-meadow',
    'ox an be it', // 4 distinct words, shorter than 12 characters
    'Ein Haus am Meer im Nebel',
    'mój rower jest zielony i szybki',
  ]) {
    t.is(checkPassword(good, { alias: 'home-router' }), undefined, good);
  }
});

test('a short password is refused with the length rule in the reason', (t) => {
  t.regex(checkPassword('Xk9#mP2q')!, /too short: use at least 12 characters, or a passphrase of 4 or more words/);
  t.regex(checkPassword('two words')!, /too short/);
  t.regex(checkPassword('')!, /a password is needed/);
});

test('one character repeated, a repeated pattern and few distinct characters are refused', (t) => {
  t.regex(checkPassword('aaaaaaaaaaaaaaaa')!, /one character repeated/);
  t.regex(checkPassword('abababababababab')!, /short pattern repeated/);
  t.regex(checkPassword('xyz1xyz1xyz1xyz1')!, /short pattern repeated/);
  t.regex(checkPassword('aabbaabbcaabbaab')!, /3 different characters or fewer/);
  t.regex(checkPassword('horse horse horse horse')!, /pattern repeated|one word repeated/);
});

test('keyboard, alphabet and digit sequences are refused, forwards, backwards and with digits added', (t) => {
  for (const run of ['abcdefghijklmn', '123456789012', '9876543210987', 'qwertyuiopasdf', 'zyxwvutsrqpon', 'qwertyuiop12', 'ABCDEFGHIJKL!']) {
    t.regex(checkPassword(run)!, /sequence/, run);
  }
});

test('a password containing the alias is refused, with or without its separators', (t) => {
  t.regex(checkPassword('my-home-router-is-great', { alias: 'home-router' })!, /contains the alias/);
  t.regex(checkPassword('XhomerouterX77', { alias: 'home-router' })!, /contains the alias/);
  t.regex(checkPassword('HOME-ROUTER-4ever!', { alias: 'home-router' })!, /contains the alias/);
  t.is(checkPassword('HOME-ROUTER-4ever!'), undefined, 'without an alias the same password passes');
});

test('common passwords are refused, also with l33t spelling and digits or symbols added', (t) => {
  for (const common of ['passwordpassword', 'Password2024!', 'p@ssw0rd12345', 'letmein123456', 'iloveyou2025', 'correct horse battery staple', 'Sunshine!!!!99', 'adminadmin123']) {
    t.regex(checkPassword(common)!, /common password|pattern repeated/, common);
  }
});

test('leading or trailing spaces are refused (they get lost when typing the password again)', (t) => {
  t.regex(checkPassword(' marble tiger violin orchard')!, /spaces/);
});

test('assertPasswordStrong throws a UserError whose message and hint never contain the password', (t) => {
  const secret = 'P@ssw0rd2024!!';
  const error = t.throws(() => assertPasswordStrong(secret), { instanceOf: UserError })!;
  t.false(error.message.includes(secret));
  t.false(String(error.hint).includes(secret));
  t.regex(error.message, /too weak/);
  t.notThrows(() => assertPasswordStrong('marble tiger violin orchard'));
});

test('aliases: lowercase letters, digits, dash, underscore and dots, 3 to 64 characters', (t) => {
  for (const good of ['home', 'home-router', 'r2.d2_x', 'abc', 'a'.repeat(64), '7th-floor']) t.is(checkAlias(good), undefined, good);
  t.regex(checkAlias('ab')!, /at least 3/);
  t.regex(checkAlias('a'.repeat(65))!, /at most 64/);
  t.regex(checkAlias('Home')!, /lowercase/);
  for (const bad of ['../etc', 'a/b/c', '.hidden', '-dash', 'with space', 'caf\u00e9', 'x\ny', 'semi;colon']) {
    t.truthy(checkAlias(bad), bad);
  }
  t.throws(() => assertAlias('../x'), { instanceOf: UserError, message: /not a valid alias/ });
});
