// The "recover" flow's step b) (the seed: "Prompt user to select file from the list that matches who
// is"): the person picks their alias from the aliases listed in a), by typing part of it (or pastes
// the read cap printed on their recovery card: one copied wrong is asked again with what is wrong);
// the answers file may name the alias or the card.
// Returns the armored identity file; an alias nobody published is exit 13 (UnknownAliasError).
import { EXIT, SysbackError, UnknownAliasError } from '../../core/errors.ts';
import type { Prompter } from '../../core/prompter.ts';
import type { FlowOptions } from '../../firstboot/flows.ts';
import { UnknownCardError, fetchIdentity, fetchIdentityByCard } from '../../grid/public-area.ts';
import type { RetryPolicy, TahoeClient } from '../../grid/tahoe-client.ts';

const CARD = /^URI:DIR2-RO:/;
const isCard = (typed: string): boolean => CARD.test(typed.replace(/\s+/g, ''));

/**
 * A card typed on the console is read for at most this long of waits, with no restart of the node:
 * Tahoe answers a fingerprint mistyped (the part after the second colon) as it answers shares on
 * servers not connected yet (HTTP 410), so the person is told both and types the cap again (or the
 * same one, to wait once more), instead of waiting the whole wait for servers on a typo.
 */
const TYPED_CARD_WAIT_MS = 60_000;

/**
 * `reads`: how the identity is read (recovery/patient-reads.ts on a router: while the servers holding
 * its shares are still connecting, it keeps trying and says so, for up to the wait for servers).
 */
export async function selectIdentity(
  prompter: Prompter,
  publicApi: TahoeClient,
  publicDirectory: string,
  aliases: readonly string[] | undefined,
  options: FlowOptions,
  reads: RetryPolicy,
): Promise<string> {
  const { onStalled: _noRestart, ...waiting } = reads;
  const typedCard: RetryPolicy = { ...waiting, waitBudgetMs: Math.min(waiting.waitBudgetMs ?? TYPED_CARD_WAIT_MS, TYPED_CARD_WAIT_MS) };
  const card = options.answers?.recoveryCard;
  if (card || aliases === undefined) return fetchIdentityByCard(publicApi, card ?? '', reads);
  let byCard: string | undefined;
  const chosen = await prompter.pick('Which router is yours? Type part of its alias (or paste your recovery card read cap)', [...aliases], {
    key: 'alias',
    accept: isCard,
    // a card copied wrong (a group missing, a character mistyped: nothing published there) is a
    // failed attempt with its reason, asked again, not a failed step; a grid that cannot be read throws
    validate: async (typed) => {
      if (!isCard(typed)) return undefined;
      try {
        byCard = await fetchIdentityByCard(publicApi, typed, typedCard);
        return undefined;
      } catch (error) {
        if (error instanceof UnknownCardError || (error instanceof SysbackError && error.exitCode === EXIT.usage)) return error.hint ? `${error.message}; ${error.hint}` : error.message;
        throw error;
      }
    },
    // no published alias matched what was typed (or what the answers file says): exit 13, not 2
    onExhausted: (reason) =>
      options.answers?.alias
        ? new UnknownAliasError(options.answers.alias)
        : new SysbackError(`no published alias was chosen: ${reason}`, {
            hint: 'check the spelling, or type the read cap printed on your recovery card',
            exitCode: EXIT.unknownAlias,
          }),
  });
  // a card was read while it was checked (validate); an alias is read now
  return byCard ?? fetchIdentity(publicApi, publicDirectory, chosen, reads);
}
