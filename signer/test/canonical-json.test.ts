// KEY-08: the signer hashes an intent with the one canonical JSON module (src/canonical-json.js),
// which refuses text that is not NFC or not well-formed. An intent with such text (one the API
// could send, since the request schema takes any string) is refused INVALID_INTENT with nothing
// signed and the replay log unchanged, never a 500; the same intent with its text in NFC is signed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { intentHash } from '../src/intent.ts';
import { attackedSigner } from './attacker.ts';
import { buildPsbt, randomP2wpkhAddress, randomUtxo } from './helpers.ts';

const ctx = attackedSigner('signer-canonical-json', [['a-hot', 'hot']]);

describe('an intent without canonical JSON', () => {
  const destination = randomP2wpkhAddress();
  const psbtFor = () => buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [randomUtxo(300_000n)],
    outputs: [{ address: destination, value: 100_000n }, { address: ctx.own('a-hot'), value: 195_000n }] });

  test('KEY-08 an initiator or intent id that is not NFC, or holds a lone surrogate, is refused INVALID_INTENT: nothing signed, replay log unchanged, no 500', async () => {
    for (const extra of [{ initiator: 'Jose\u0301' }, { initiator: 'user-\ud800' }, { intentId: 'intent-\udc00-1' }, { initiator: '\u212b' }]) {
      const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }], extra);
      await ctx.assertRefused({ intent, transaction: { psbt: psbtFor() } }, 'INVALID_INTENT');
    }
  });

  test('KEY-08 the same intent with its text in NFC is signed, under the hash the service and the console compute', async () => {
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }], { initiator: 'Jose\u0301'.normalize('NFC') });
    const signed = await ctx.assertSigned({ intent, transaction: { psbt: psbtFor() } });
    assert.equal(signed.intentHash, intentHash(intent));
  });
});
