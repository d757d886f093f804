// KEY-08 / KEY-06, issue 10 §2.4: intent and approval times are real UTC instants (the exact form
// Date.prototype.toISOString writes, so they round-trip), and an intent is signed only while it
// expires within the policy's intents.maxLifetimeSeconds (48 h by default) from now.
import { describe, test } from 'node:test';
import type { Intent } from '../src/intent.ts';
import { intentHash } from '../src/intent.ts';
import { alice, approveStrings, attackedSigner, bob } from './attacker.ts';
import { approve, buildPsbt, isoIn, randomP2wpkhAddress, randomUtxo } from './helpers.ts';

const ctx = attackedSigner('signer-dates', [['a-hot', 'hot'], ['a-cold', 'cold']]);

describe('4. dates are real instants and intents live a bounded time', () => {
  const destination = randomP2wpkhAddress();
  const hot = (expiresAt: string): { intent: Intent; transaction: { psbt: string } } => ({
    intent: ctx.btcIntent('a-hot', [{ address: destination, amount: 10_000n }], { expiresAt }),
    transaction: { psbt: buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [randomUtxo(20_000n)], outputs: [{ address: destination, value: 10_000n }, { address: ctx.own('a-hot'), value: 9_000n }] }) },
  });
  const day = (offsetDays: number): string => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

  test('KEY-08 an intent expiresAt that is not a real UTC instant is refused: 2026-99-99T99:99:99Z, 24:00, 31 November, an offset, no milliseconds', async () => {
    const tomorrow = day(1);
    const inAnHour = isoIn(3600_000);
    for (const expiresAt of ['2026-99-99T99:99:99Z', `${tomorrow}T24:00:00.000Z`, `${tomorrow.slice(0, 4)}-11-31T12:00:00.000Z`,
      `${inAnHour.slice(0, 19)}+00:00`, `${inAnHour.slice(0, 19)}Z`, `${inAnHour.slice(0, 19)}.000000Z`]) {
      await ctx.assertRefused(hot(expiresAt), 'INTENT_EXPIRY_INVALID');
    }
  });

  test('KEY-08 an intent valid for more than 48 h from now is refused (9999-12-31, 3 days); the service\'s 24 h is signed', async () => {
    await ctx.assertRefused(hot('9999-12-31T23:59:59.999Z'), 'INTENT_LIFETIME_TOO_LONG');
    await ctx.assertRefused(hot(isoIn(3 * 86_400_000)), 'INTENT_LIFETIME_TOO_LONG');
    await ctx.assertRefused(hot(isoIn(48 * 3600_000 + 60_000)), 'INTENT_LIFETIME_TOO_LONG');
    await ctx.assertSigned(hot(isoIn(24 * 3600_000)));
  });

  test('KEY-06 approval times must be real UTC instants with expiresAt after signedAt; signedAt beyond the clock skew is refused', async () => {
    const intent = ctx.btcIntent('a-cold', [{ address: destination, amount: 10_000n }]);
    const transaction = { psbt: buildPsbt({ sourcePublicKey: ctx.key('a-cold').publicKey, utxos: [randomUtxo(20_000n)], outputs: [{ address: destination, value: 10_000n }, { address: ctx.own('a-cold'), value: 9_000n }] }) };
    const hash = intentHash(intent);
    // bob really signed these strings: the signature verifies, the dates are the lie.
    const signedWith = (signedAt: string, expiresAt: string): Record<string, string> => approveStrings(bob, hash, signedAt, expiresAt);
    const tomorrow = day(1);
    const now = new Date().toISOString();
    for (const [signedAt, expiresAt] of [
      ['2026-99-99T99:99:99Z', isoIn(3600_000)], [now, '2026-99-99T99:99:99Z'], [now, `${tomorrow}T24:00:00.000Z`],
      [`${now.slice(0, 19)}Z`, isoIn(3600_000)], [now, `${isoIn(3600_000).slice(0, 19)}+00:00`], [isoIn(20_000), isoIn(10_000)],
    ] as const) {
      await ctx.assertRefused({ intent, transaction, approvals: [approve(alice, hash), signedWith(signedAt, expiresAt)] }, 'APPROVAL_TIME_INVALID');
    }
    await ctx.assertRefused({ intent, transaction, approvals: [approve(alice, hash), signedWith(isoIn(3600_000), isoIn(7200_000))] }, 'APPROVAL_NOT_YET_VALID');
    await ctx.assertSigned({ intent, transaction, approvals: [approve(alice, hash), signedWith(isoIn(30_000), isoIn(3600_000))] });
  });
});
