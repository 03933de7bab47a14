// The password floor and alias rules of identity files (grid/password-policy.ts): zxcvbn's estimate
// (with the alias and the grid's name in its user dictionary, and two cracker rules it misses) must
// reach 10^10 guesses; each refusal says why in one line, never repeating the password.
import test from 'ava';
import { UserError } from '../../../core/errors.ts';
import { assertAlias, assertPasswordStrong, checkAlias, checkPassword, MIN_GUESSES, passwordStrength } from '../../../grid/password-policy.ts';

const CONTEXT = { alias: 'home-router', gridName: 'riverside-mesh' };

/** The verdicts table (the closing note quotes it): password, accepted, what the reason says. */
const VERDICTS: Array<[string, boolean, RegExp?]> = [
  ['aa bb cc dd', false, /doubled|common/],
  ['zxcvbnm12345', false, /commonly used password/],
  ['marble tiger violin orchard', true],
  ['kettle-raven-copper-meadow', true],
  ['unicorn saddle brisket tundra', true],
  ['vq8#Lm2!zR7@pK', true],
  ['Ein Haus am Meer im Nebel', true],
  ['correct horse battery staple', true], // zxcvbn's verdict: 10^14.8 (the old hand-written list refused it by name)
  ['Tr0ub4dor&3', true],
  ['Xk9#mP2q', false, /too short|simple/],
  ['p@ssw0rd2024!', false, /commonly used/],
  ['qwertyuiop12', false, /commonly used|sequence/],
  ['horse horse horse horse', false],
  ['passwordpassword', false],
  ['xyz1xyz1xyz1xyz1', false, /repeat/],
  ['ab cd ef gh', false],
  ['mm nn oo pp', false],
  ['my-home-router-is-great', true], // the alias counts as one cheap word: 10^10.5 from the rest
  ['riverside-mesh-2026!', false, /alias or the grid's name/],
  ['HOME-ROUTER-4ever!', false, /alias or the grid's name/],
];

for (const [password, accepted, says] of VERDICTS) {
  test(`verdict: ${JSON.stringify(password)} is ${accepted ? 'accepted' : 'refused'}`, async (t) => {
    const reason = await checkPassword(password, CONTEXT);
    const strength = await passwordStrength(password, CONTEXT);
    t.log(`10^${strength.log10.toFixed(1)} guesses (${strength.form})${reason ? `: ${reason}` : ''}`);
    if (accepted) {
      t.is(reason, undefined);
      t.true(strength.guesses >= MIN_GUESSES);
    } else {
      t.truthy(reason);
      t.true(strength.guesses < MIN_GUESSES);
      if (says) t.regex(reason!, says);
      t.false(reason!.includes(password), 'the reason never repeats the password');
      t.false(reason!.includes('\n'), 'one line');
    }
  });
}

test('the alias and the grid name are public: a password made of them is refused only when they are known', async (t) => {
  t.regex((await checkPassword('HOME-ROUTER-4ever!', { alias: 'home-router' }))!, /alias/);
  const known = await passwordStrength('riverside-mesh-2026!', { gridName: 'riverside-mesh' });
  const unknown = await passwordStrength('riverside-mesh-2026!', {});
  t.true(known.guesses < unknown.guesses, 'the grid name makes the estimate lower');
  t.regex((await checkPassword('riverside-mesh-2026!', { gridName: 'riverside-mesh' }))!, /grid's name/);
});

test('empty and leading or trailing spaces are refused (they get lost when typing the password again)', async (t) => {
  t.regex((await checkPassword(''))!, /a password is needed/);
  t.regex((await checkPassword(' marble tiger violin orchard'))!, /spaces/);
});

test('assertPasswordStrong throws a UserError whose message and hint never contain the password', async (t) => {
  const secret = 'P@ssw0rd2024!!';
  const error = await t.throwsAsync(assertPasswordStrong(secret), { instanceOf: UserError });
  t.false(error!.message.includes(secret));
  t.false(String(error!.hint).includes(secret));
  t.regex(error!.message, /too weak/);
  await t.notThrowsAsync(assertPasswordStrong('marble tiger violin orchard'));
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
