// KEY-08, issue 10 §2.1: the signer holds the coin values itself. BIP-143 signs each input's own
// value only, so an API that lies about a different input in each of two signings of the same
// transaction gets signatures that combine into a valid transaction paying a hidden fee (the 2020
// segwit fee attack). The replay log records the value and script of every outpoint at its first
// signing and refuses any other; a re-signing spends exactly the first signing's outpoints.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as bitcoin from 'bitcoinjs-lib';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Intent } from '../src/intent.ts';
import { attackedSigner, nextId } from './attacker.ts';
import { buildPsbt, randomP2wpkhAddress, randomUtxo, regtest, type UtxoSpec } from './helpers.ts';

const ctx = attackedSigner('signer-coin-values', [['a-hot', 'hot'], ['a-hot-2', 'hot'], ['a-cold', 'cold']]);

/** Whether every input of a finalised P2WPKH transaction verifies under the REAL values of the coins it spends (BIP-143). */
function validUnderRealValues(tx: bitcoin.Transaction, realValues: bigint[]): boolean[] {
  return tx.ins.map((input, index) => {
    const [derWithType, pubkey] = input.witness;
    if (!derWithType || !pubkey) return false;
    const decoded = bitcoin.script.signature.decode(derWithType);
    const scriptCode = bitcoin.payments.p2pkh({ pubkey }).output ?? new Uint8Array();
    const digest = tx.hashForWitnessV0(index, scriptCode, realValues[index] ?? 0n, decoded.hashType);
    return secp256k1.verify(decoded.signature, digest, pubkey, { prehash: false, lowS: true, format: 'compact' });
  });
}

describe('1. coin values: the signer holds them itself (the 2020 segwit fee attack)', () => {
  test('KEY-08 fee theft by split input values: two signings of one cold intent under the same approvals, each lying about another input, are never both signed', async () => {
    // Two real coins of 1,000,000 sat. The approved payment is 100,000 sat with a fee cap of 20,000.
    // The API asks twice for the SAME unsigned transaction: first claiming coin A is worth 100,000,
    // then claiming coin B is. Each request looks like a 5,000 sat fee; the real fee is 905,000.
    const destination = randomP2wpkhAddress();
    const coinA = randomUtxo(1_000_000n);
    const coinB = randomUtxo(1_000_000n);
    const intent = ctx.btcIntent('a-cold', [{ address: destination, amount: 100_000n }]);
    const outputs = [{ address: destination, value: 100_000n }, { address: ctx.own('a-cold'), value: 995_000n }];
    const lyingAboutA = buildPsbt({ sourcePublicKey: ctx.key('a-cold').publicKey, utxos: [{ ...coinA, value: 100_000n }, coinB], outputs });
    const lyingAboutB = buildPsbt({ sourcePublicKey: ctx.key('a-cold').publicKey, utxos: [coinA, { ...coinB, value: 100_000n }], outputs });
    const approvals = ctx.quorum(intent);
    const first = await ctx.assertSigned({ intent, transaction: { psbt: lyingAboutA }, approvals });
    assert.equal(first.feeSat, '5000', 'the signer believed the first lie');

    const before = await ctx.snapshot();
    const second = await ctx.sign({ intent, transaction: { psbt: lyingAboutB }, approvals });
    if (second.status === 200) {
      // Show the theft: input 0 from the second answer (coin A at its real value), input 1 from the
      // first (coin B at its real value) make one transaction whose every signature is valid.
      const combined = bitcoin.Transaction.fromHex(first.txHex);
      const fromSecond = bitcoin.Transaction.fromHex(second.body.txHex);
      assert.equal(fromSecond.getId(), combined.getId(), 'same unsigned transaction');
      combined.ins[0]!.witness = fromSecond.ins[0]!.witness;
      const valid = validUnderRealValues(combined, [coinA.value, coinB.value]);
      const realFee = coinA.value + coinB.value - combined.outs.reduce((sum, output) => sum + output.value, 0n);
      assert.fail(`both lies were signed: their signatures combine into ${combined.getId()}, inputs valid under the real coin values: `
        + `${JSON.stringify(valid)}, real fee ${realFee} sat against a fee cap of ${intent.feeCap} sat`);
    }
    await ctx.assertRefusal(second, 'INPUT_VALUE_MISMATCH', before);
  });

  test('KEY-08 a known outpoint declared with another value is refused, under the same intent or another one', async () => {
    const destination = randomP2wpkhAddress();
    const coin = randomUtxo(300_000n);
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }]);
    const outputs = [{ address: destination, value: 100_000n }, { address: ctx.own('a-hot'), value: 195_000n }];
    await ctx.assertSigned({ intent, transaction: { psbt: buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [coin], outputs }) } });
    // Same intent, the coin now "worth" more: the fee looks like 5,000 sat less than what was signed.
    const inflated = buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [{ ...coin, value: 301_000n }], outputs: [outputs[0]!, { address: ctx.own('a-hot'), value: 196_000n }] });
    await ctx.assertRefused({ intent, transaction: { psbt: inflated } }, 'INPUT_VALUE_MISMATCH');
    // Another intent, another value: the value lie is named before the outpoint conflict.
    const other = ctx.btcIntent('a-hot', [{ address: randomP2wpkhAddress(), amount: 100_000n }]);
    const stolen = buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [{ ...coin, value: 299_000n }], outputs: [{ address: other.outputs[0]!.address, value: 100_000n }, { address: ctx.own('a-hot'), value: 194_000n }] });
    await ctx.assertRefused({ intent: other, transaction: { psbt: stolen } }, 'INPUT_VALUE_MISMATCH');
  });

  test('KEY-08 a known outpoint declared with another script (another listed key) is refused', async () => {
    const destination = randomP2wpkhAddress();
    const coin = randomUtxo(300_000n, ctx.key('a-hot').publicKey);
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }], { sourceKeyIds: [ctx.key('a-hot').id, ctx.key('a-hot-2').id] });
    const outputs = [{ address: destination, value: 100_000n }, { address: ctx.own('a-hot'), value: 195_000n }];
    await ctx.assertSigned({ intent, transaction: { psbt: buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [coin], outputs }) } });
    const otherScript = buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [{ ...coin, publicKey: ctx.key('a-hot-2').publicKey }], outputs });
    await ctx.assertRefused({ intent, transaction: { psbt: otherScript } }, 'INPUT_VALUE_MISMATCH');
  });

  test('KEY-08 a re-signing of one intent must spend exactly the first signing\'s outpoints; a fee bump on the same coins is signed', async () => {
    const destination = randomP2wpkhAddress();
    const [coinA, coinB, coinC] = [randomUtxo(60_000n), randomUtxo(60_000n), randomUtxo(60_000n)];
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }]);
    const psbtFor = (utxos: UtxoSpec[], fee: bigint): string => {
      const total = utxos.reduce((sum, utxo) => sum + utxo.value, 0n);
      const outputs = [{ address: destination, value: 100_000n }];
      if (total - 100_000n - fee > 0n) outputs.push({ address: ctx.own('a-hot'), value: total - 100_000n - fee });
      return buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos, outputs });
    };
    await ctx.assertSigned({ intent, transaction: { psbt: psbtFor([coinA, coinB], 5_000n) } });
    // Shares coin A (so it conflicts on-chain) but spends coin C, which the approvers never saw.
    await ctx.assertRefused({ intent, transaction: { psbt: psbtFor([coinA, coinC], 6_000n) } }, 'REPLAY_CONFLICT');
    await ctx.assertRefused({ intent, transaction: { psbt: psbtFor([coinA, coinB, coinC], 6_000n) } }, 'REPLAY_CONFLICT');
    // What the service's replacement does: the same coins (spendAll), the same values, a higher fee.
    const bump = await ctx.assertSigned({ intent, transaction: { psbt: psbtFor([coinB, coinA], 9_000n) } });
    assert.equal(bump.feeSat, '9000');
  });

  test('KEY-08 a nonWitnessUtxo that disagrees with the outpoint or the witnessUtxo is refused INPUT_UTXO_MISMATCH, never a 500; one that agrees is signed', async () => {
    const destination = randomP2wpkhAddress();
    const script = Buffer.from(bitcoin.payments.p2wpkh({ pubkey: Buffer.from(ctx.key('a-hot').publicKey, 'hex'), network: regtest }).output ?? []);
    const previous = new bitcoin.Transaction();
    previous.version = 2;
    previous.addInput(randomBytes(32), 0);
    previous.addOutput(Buffer.from(bitcoin.payments.p2wpkh({ hash: randomBytes(20) }).output ?? []), 5_000n);
    previous.addOutput(script, 300_000n);
    const previousBytes = previous.toBuffer();
    const coin: UtxoSpec = { txid: previous.getId(), vout: 1, value: 300_000n, nonWitnessUtxo: previousBytes };
    const outputs = [{ address: destination, value: 100_000n }, { address: ctx.own('a-hot'), value: 195_000n }];
    const psbtWith = (utxo: UtxoSpec, outs = outputs): string => buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [utxo], outputs: outs });
    const intent = (): Intent => ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }]);

    // witnessUtxo says 200,000 (a 5,000 fee), the full previous transaction says 300,000.
    await ctx.assertRefused({ intent: intent(), transaction: { psbt: psbtWith({ ...coin, value: 200_000n }, [outputs[0]!, { address: ctx.own('a-hot'), value: 95_000n }]) } }, 'INPUT_UTXO_MISMATCH');
    // The previous transaction is not the one the outpoint names.
    await ctx.assertRefused({ intent: intent(), transaction: { psbt: psbtWith({ ...coin, txid: randomBytes(32).toString('hex') }) } }, 'INPUT_UTXO_MISMATCH');
    // The outpoint's output index does not exist in it, or is another output.
    await ctx.assertRefused({ intent: intent(), transaction: { psbt: psbtWith({ ...coin, vout: 7 }) } }, 'INPUT_UTXO_MISMATCH');
    await ctx.assertRefused({ intent: intent(), transaction: { psbt: psbtWith({ ...coin, vout: 0, value: 5_000n }, [{ address: destination, value: 100_000n }]) } }, 'INPUT_UTXO_MISMATCH');
    const signed = await ctx.assertSigned({ intent: intent(), transaction: { psbt: psbtWith(coin) } });
    assert.equal(signed.feeSat, '5000');
  });

  test('KEY-08 coin values are read back from the replay log after a restart, also from lines written before values were recorded', async () => {
    const destination = randomP2wpkhAddress();
    const coin = randomUtxo(400_000n);
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: 100_000n }]);
    const outputs = [{ address: destination, value: 100_000n }, { address: ctx.own('a-hot'), value: 295_000n }];
    const psbt = buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [coin], outputs });
    const requestId = nextId('req');
    const first = await ctx.signer.call('POST', '/sign', { requestId, intent, transaction: { psbt }, approvals: [] });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const lying = (): string => buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [{ ...coin, value: 500_000n }], outputs: [outputs[0]!, { address: ctx.own('a-hot'), value: 395_000n }] });

    await ctx.restart();
    await ctx.assertRefused({ intent, transaction: { psbt: lying() } }, 'INPUT_VALUE_MISMATCH');

    // A log written before coin values were recorded: the same entries without them, re-chained.
    const path = join(ctx.prepared.dir, 'data', 'replay-log.jsonl');
    let lines = 0;
    await ctx.restart(() => {
      let prev = '0'.repeat(64);
      const legacy = readFileSync(path, 'utf8').split('\n').filter((line) => line !== '').map((line) => {
        const { inputs: _inputs, ...entry } = JSON.parse(line) as Record<string, unknown>;
        const text = JSON.stringify({ ...entry, prev });
        prev = createHash('sha256').update(text).digest('hex');
        return text;
      });
      assert.ok(legacy.every((line) => !line.includes('"inputs"')));
      lines = legacy.length;
      writeFileSync(path, `${legacy.join('\n')}\n`);
    });
    assert.equal((await ctx.signer.call('GET', '/health')).body.replayEntries, lines, 'every old line is read back');
    // The value comes from the signed PSBT stored in the old line's answer.
    await ctx.assertRefused({ intent, transaction: { psbt: lying() } }, 'INPUT_VALUE_MISMATCH');
    const again = await ctx.signer.call('POST', '/sign', { requestId, intent, transaction: { psbt }, approvals: [] });
    assert.equal(again.status, 200);
    assert.equal(again.body.repeated, true);
    assert.equal(again.body.txHex, first.body.txHex);
  });
});
