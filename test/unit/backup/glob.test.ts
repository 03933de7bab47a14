import test from 'ava';
import { compileGlob, coveredByGlob, globProblem, isGlob, matchGlob } from '../../../backup/glob.ts';
import { UserError } from '../../../core/errors.ts';

test('isGlob tells literal paths from patterns, escapes included', (t) => {
  t.false(isGlob('/etc/hostname'));
  t.true(isGlob('/etc/*.conf'));
  t.true(isGlob('/etc/host?ame'));
  t.true(isGlob('/etc/[ab]'));
  t.false(isGlob('/etc/weird\\*name'));
});

test('* matches inside one segment only', (t) => {
  t.true(matchGlob('/etc/*.conf', '/etc/resolv.conf'));
  t.false(matchGlob('/etc/*.conf', '/etc/ssh/sshd.conf'));
  t.false(matchGlob('/etc/*.conf', '/etc/resolv.conf.bak'));
  t.true(matchGlob('/etc/*', '/etc/hostname'));
  t.false(matchGlob('/etc/*', '/etc'));
});

test('* matches dotfiles too (a backup must not silently skip /root/.ssh)', (t) => {
  t.true(matchGlob('/root/*', '/root/.ssh'));
  t.true(matchGlob('/root/.*rc', '/root/.bashrc'));
});

test('? matches exactly one character, never a slash', (t) => {
  t.true(matchGlob('/etc/rc?.d', '/etc/rc2.d'));
  t.false(matchGlob('/etc/rc?.d', '/etc/rc.d'));
  t.false(matchGlob('/a?b', '/a/b'));
});

test('character classes, ranges and negation', (t) => {
  t.true(matchGlob('/etc/rc[0-6].d', '/etc/rc5.d'));
  t.false(matchGlob('/etc/rc[0-6].d', '/etc/rcS.d'));
  t.true(matchGlob('/etc/rc[!0-6].d', '/etc/rcS.d'));
  t.false(matchGlob('/etc/rc[!0-6].d', '/etc/rc1.d'));
});

test('a backslash makes a wildcard literal', (t) => {
  t.true(matchGlob('/etc/a\\*b', '/etc/a*b'));
  t.false(matchGlob('/etc/a\\*b', '/etc/axxb'));
});

test('regex metacharacters in names are literal', (t) => {
  t.true(matchGlob('/etc/a+b(c).*', '/etc/a+b(c).conf'));
  t.false(matchGlob('/etc/a.b', '/etc/axb'));
});

test('** matches zero or more whole segments', (t) => {
  const glob = compileGlob('/etc/**/*.conf');
  t.true(matchGlob(glob, '/etc/a.conf'));
  t.true(matchGlob(glob, '/etc/x/a.conf'));
  t.true(matchGlob(glob, '/etc/x/y/z/a.conf'));
  t.false(matchGlob(glob, '/var/a.conf'));
  t.true(matchGlob('/**', '/anything/at/all'));
});

test('doubled and trailing slashes do not matter', (t) => {
  t.true(matchGlob('/etc//ssh/', '/etc/ssh'));
});

test('coveredByGlob: a path below a matching directory is covered', (t) => {
  t.true(coveredByGlob('/var/spool/cron', '/var/spool/cron/crontabs/root'));
  t.true(coveredByGlob('/etc/wire*', '/etc/wireguard/wg0.conf'));
  t.false(coveredByGlob('/etc/wire*', '/etc/hostname'));
  t.false(coveredByGlob('/var/spool/cron', '/var/spool'));
  t.true(coveredByGlob('/', '/etc/anything'));
});

test('an invalid pattern is a reason, never a SyntaxError: a backwards range, an unclosed [, a trailing \\', (t) => {
  t.regex(globProblem('/etc/[z-a]') ?? '', /runs backwards/);
  t.regex(globProblem('/etc/[abc') ?? '', /never closed/);
  t.regex(globProblem('/etc/abc\\') ?? '', /escapes nothing/);
  t.is(globProblem('/etc/[a-z]'), undefined);
  t.is(globProblem('/etc/[]]x'), undefined, 'a ] right after [ is a member');
  t.throws(() => compileGlob('/etc/[z-a]'), { instanceOf: UserError });
});

test('classes: a ] first is a member, \\ escapes inside, - first or last is a member, ^ negates too', (t) => {
  t.true(matchGlob('/[]]', '/]'));
  t.true(matchGlob('/[\\]a]', '/]'));
  t.true(matchGlob('/[a-]', '/-'));
  t.true(matchGlob('/[^a]', '/b'));
  t.false(matchGlob('/[^a]', '/a'));
  t.true(matchGlob('/[é-ü]', '/ö'), 'ranges over code points');
});

test('matching is linear: many ** against a deep path that almost matches (exponential backtracking before)', (t) => {
  const pattern = compileGlob(`/${'**/'.repeat(40)}x/y`);
  const deep = `/${Array.from({ length: 200 }, () => 'a').join('/')}/x/z`;
  t.false(matchGlob(pattern, deep));
  t.false(coveredByGlob(pattern, deep));
  t.true(matchGlob(pattern, `/${Array.from({ length: 200 }, () => 'a').join('/')}/x/y`));
});

test('matching is linear inside a name too: many * against a long name that almost matches', (t) => {
  const pattern = compileGlob(`/${'*a'.repeat(30)}b`);
  t.false(matchGlob(pattern, `/${'a'.repeat(250)}`));
  t.true(matchGlob(pattern, `/${'a'.repeat(250)}b`));
});
