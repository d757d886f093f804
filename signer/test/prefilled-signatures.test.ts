// KEY-08, issue 10 §2.3: a PSBT that already carries signature or final fields (or taproot fields
// on a P2WPKH input) is refused before the HSM is asked; it used to be signed and then answered 500.
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Intent } from '../src/intent.ts';
import { attackedSigner } from './attacker.ts';
import { buildPsbt, randomP2wpkhAddress, randomUtxo, regtest } from './helpers.ts';

const ctx = attackedSigner('signer-prefilled', [['a-hot', 'hot']]);

describe('3. signatures already in the PSBT', () => {
  const destination = randomP2wpkhAddress();
  function prefilled(fill: (psbt: bitcoin.Psbt) => void): { intent: Intent; psbt: string } {
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }]);
    const psbt = bitcoin.Psbt.fromBase64(buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [randomUtxo(300_000n)], outputs: [{ address: destination, value: 100_000n }, { address: ctx.own('a-hot'), value: 195_000n }] }), { network: regtest });
    fill(psbt);
    return { intent, psbt: psbt.toBase64() };
  }
  const derSignature = (): Buffer => {
    const compact = secp256k1.sign(randomBytes(32), secp256k1.utils.randomSecretKey(), { prehash: false });
    return Buffer.from(bitcoin.script.signature.encode(compact, bitcoin.Transaction.SIGHASH_ALL));
  };

  test('KEY-08 refuses a PSBT that carries a partialSig before asking the HSM', async () => {
    // Under the source key's own public key (the signer would add a second one and then fail), and under a stranger's.
    const own = prefilled((psbt) => psbt.updateInput(0, { partialSig: [{ pubkey: Buffer.from(ctx.key('a-hot').publicKey, 'hex'), signature: derSignature() }] }));
    await ctx.assertRefused({ intent: own.intent, transaction: { psbt: own.psbt } }, 'PSBT_ALREADY_SIGNED');
    const stranger = prefilled((psbt) => psbt.updateInput(0, { partialSig: [{ pubkey: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)), signature: derSignature() }] }));
    await ctx.assertRefused({ intent: stranger.intent, transaction: { psbt: stranger.psbt } }, 'PSBT_ALREADY_SIGNED');
  });

  test('KEY-08 refuses PSBT inputs carrying tapKeySig, tapScriptSig, finalScriptSig or finalScriptWitness', async () => {
    const fills: ((psbt: bitcoin.Psbt) => void)[] = [
      (psbt) => psbt.updateInput(0, { tapKeySig: randomBytes(64) }),
      (psbt) => psbt.updateInput(0, { tapScriptSig: [{ pubkey: randomBytes(32), leafHash: randomBytes(32), signature: randomBytes(64) }] }),
      (psbt) => psbt.updateInput(0, { finalScriptSig: Buffer.from([0x00]) }),
      (psbt) => psbt.updateInput(0, { finalScriptWitness: Buffer.from([0x02, 0x01, 0x01, 0x01, 0x02]) }),
    ];
    for (const fill of fills) {
      const { intent, psbt } = prefilled(fill);
      await ctx.assertRefused({ intent, transaction: { psbt } }, 'PSBT_ALREADY_SIGNED');
    }
  });

  test('KEY-08 taproot fields on a P2WPKH input are refused, never a 500', async () => {
    const fills: ((psbt: bitcoin.Psbt) => void)[] = [
      (psbt) => psbt.updateInput(0, { tapInternalKey: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).subarray(1) }),
      (psbt) => psbt.updateInput(0, { tapMerkleRoot: randomBytes(32) }),
    ];
    for (const fill of fills) {
      const { intent, psbt } = prefilled(fill);
      await ctx.assertRefused({ intent, transaction: { psbt } }, 'INPUT_NOT_SOURCE_KEY');
    }
  });
});
