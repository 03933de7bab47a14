// The "recover" flow's step c) (the seed: "Prompt user to enter password to decrypt the selected
// file"): bounded retries (PASSWORD_ATTEMPTS); each typed password is tried on the identity file, so
// a wrong one is refused at once and exhausting the attempts is exit 12 (WrongPasswordError) with
// nothing changed. Returns the opened identity (its keys are put in place by step d) and the password
// (the identity is re-encrypted with it in step g).
import { WrongPasswordError } from '../../core/errors.ts';
import type { Prompter } from '../../core/prompter.ts';
import { decryptIdentity, type Identity } from '../../grid/identity.ts';

export const PASSWORD_ATTEMPTS = 3;

export async function askPassword(prompter: Prompter, armored: string): Promise<{ identity: Identity; password: string }> {
  let identity: Identity | undefined;
  let password = '';
  let tries = 0;
  await prompter.secret('Password', {
    key: 'password',
    attempts: PASSWORD_ATTEMPTS,
    validate: async (typed) => {
      tries += 1;
      try {
        identity = await decryptIdentity(armored, typed);
        password = typed;
        return undefined;
      } catch (error) {
        if (error instanceof WrongPasswordError) return 'wrong password';
        throw error;
      }
    },
    // an answers file gives one password: say how many were really tried
    onExhausted: () => new WrongPasswordError(`wrong password, ${tries} ${tries === 1 ? 'time' : 'times'}; nothing was changed`),
  });
  return { identity: identity!, password };
}
