// Pure Bitcoin core against official vectors (fixtures/ cite their sources) plus PSBT, fee and
// block-scan properties. No node needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Block, Transaction, Psbt, payments } from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import {
  bcoinRegtest, buildPsbt, createBitcoinWatchSet, decodeAddress, dustThreshold, p2wpkhFromPublicKey, parsePsbt,
  parseTransaction, scanBlockOutputs, btcPerKvbToSatPerVbyte, btcDecimalToSats, selectCoins, MAX_INPUTS_PER_TX,
  normalizeBitcoinBlock, replacementFeeRate, type BitcoinNetworkName, type Utxo,
} from '../../src/chains/bitcoin/index.ts';
import { isChainError } from '../../src/chains/errors.ts';

const fixture = (name: string): any => JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8'));
const ECPair = ECPairFactory(ecc);

test('BIP-350 valid segwit addresses decode to their scriptPubKey (v0 vectors are BIP-173\'s)', () => {
  const { valid } = fixture('bip350-segwit-addresses.json');
  assert.ok(valid.length >= 8);
  for (const v of valid) {
    const decoded = decodeAddress(v.address, v.network as BitcoinNetworkName);
    assert.equal(decoded.scriptHex, v.scriptHex, v.address);
    assert.equal(decoded.address, v.address.toLowerCase(), 'canonical form is lower case');
  }
});

test('BIP-350 invalid segwit addresses are refused with ADDRESS_INVALID', () => {
  const { invalid } = fixture('bip350-segwit-addresses.json');
  for (const v of invalid) {
    for (const network of ['mainnet', 'testnet'] as const) {
      assert.throws(() => decodeAddress(v.address, network), (e) => isChainError(e, 'ADDRESS_INVALID'), `${v.address}: ${v.reason}`);
    }
  }
});

test('BIP-84 P2WPKH addresses from compressed public keys', () => {
  for (const v of fixture('bip84-p2wpkh.json').vectors) {
    const derived = p2wpkhFromPublicKey(Buffer.from(v.pubkey, 'hex'), 'mainnet');
    assert.equal(derived.address, v.address, v.path);
    assert.equal(derived.kind, 'p2wpkh');
    assert.equal(decodeAddress(v.address, 'mainnet').scriptHex, derived.scriptHex);
  }
});

test('P2WPKH prefixes per network, bcoin regtest is rb1 (COMPONENTS §3)', () => {
  const pub = Buffer.from(fixture('bip84-p2wpkh.json').vectors[0].pubkey, 'hex');
  const prefixes = { mainnet: 'bc1q', testnet: 'tb1q', regtest: 'bcrt1q', 'bcoin-regtest': 'rb1q' } as const;
  const scripts = new Set<string>();
  for (const [network, prefix] of Object.entries(prefixes) as [BitcoinNetworkName, string][]) {
    const a = p2wpkhFromPublicKey(pub, network);
    assert.ok(a.address.startsWith(prefix), `${network}: ${a.address}`);
    assert.equal(decodeAddress(a.address, network).scriptHex, a.scriptHex);
    scripts.add(a.scriptHex);
  }
  assert.equal(scripts.size, 1, 'the script is the same on every network');
  assert.equal(bcoinRegtest.bech32, 'rb');
  assert.equal(bcoinRegtest.pubKeyHash, 0x3c);
  assert.equal(bcoinRegtest.scriptHash, 0x26);
  assert.equal(bcoinRegtest.wif, 0x5a);
});

test('an address of another network raises ADDRESS_WRONG_NETWORK naming that network', () => {
  const pub = Buffer.from(fixture('bip84-p2wpkh.json').vectors[0].pubkey, 'hex');
  const mainnet = p2wpkhFromPublicKey(pub, 'mainnet').address;
  const rb = p2wpkhFromPublicKey(pub, 'bcoin-regtest').address;
  assert.throws(() => decodeAddress(mainnet, 'bcoin-regtest'), (e) => isChainError(e, 'ADDRESS_WRONG_NETWORK') && e.data.addressNetwork === 'mainnet');
  assert.throws(() => decodeAddress(rb, 'mainnet'), (e) => isChainError(e, 'ADDRESS_WRONG_NETWORK') && e.data.addressNetwork === 'bcoin-regtest');
  assert.throws(() => decodeAddress('not an address', 'mainnet'), (e) => isChainError(e, 'ADDRESS_INVALID'));
});

test('P2WPKH refuses uncompressed or malformed public keys', () => {
  const uncompressed = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
  assert.throws(() => p2wpkhFromPublicKey(uncompressed, 'mainnet'), (e) => isChainError(e, 'PUBKEY_INVALID'));
  // x = 5 is not on secp256k1 (5^3 + 7 = 132 is not a square mod p)
  const offCurve = Buffer.concat([Buffer.from([2]), Buffer.alloc(31), Buffer.from([5])]);
  assert.throws(() => p2wpkhFromPublicKey(offCurve, 'mainnet'), (e) => isChainError(e, 'PUBKEY_INVALID'));
});

test('BIP-143 native P2WPKH: script from key, sighash, and parse of unsigned and signed tx', () => {
  const v = fixture('bip143-native-p2wpkh.json');
  const key = p2wpkhFromPublicKey(Buffer.from(v.p2wpkhPublicKey, 'hex'), 'mainnet');
  assert.equal(key.scriptHex, v.inputs[1].scriptPubKey);
  const tx = Transaction.fromHex(v.unsignedTx);
  const sighash = tx.hashForWitnessV0(1, Buffer.from(v.p2wpkhScriptCode, 'hex'), BigInt(v.inputs[1].valueSat), Transaction.SIGHASH_ALL);
  assert.equal(Buffer.from(sighash).toString('hex'), v.sigHashAllInput1);

  const prevouts = new Map<string, { value: bigint }>(v.inputs.map((i: any) => [`${i.txid}:${i.vout}`, { value: BigInt(i.valueSat) }]));
  for (const raw of [v.unsignedTx, v.signedTx]) {
    const parsed = parseTransaction(raw, 'mainnet', prevouts);
    assert.deepEqual(parsed.inputs.map((i) => [i.txid, i.vout, i.sequence]), v.inputs.map((i: any) => [i.txid, i.vout, i.sequence]));
    assert.deepEqual(parsed.outputs.map((o) => [o.scriptHex, o.value]), v.outputs.map((o: any) => [o.scriptPubKey, BigInt(o.valueSat)]));
    assert.equal(parsed.outputs[0]!.kind, 'p2pkh');
    assert.equal(parsed.outputs[0]!.address, '1Cu32FVupVCgHkMMRJdYJugxwo2Aprgk7H');
    assert.equal(parsed.fee, 625_000_000n + 600_000_000n - 112_340_000n - 223_450_000n);
    assert.equal(parsed.locktime, 17);
  }
  const signed = parseTransaction(v.signedTx, 'mainnet');
  assert.equal(signed.fee, undefined, 'no prevouts, no fee');
  assert.equal(signed.inputs.length, 2);
  assert.ok(signed.vsize < Buffer.from(v.signedTx, 'hex').length, 'witness bytes are discounted');
});

test('dust thresholds match Bitcoin Core at 3 sat/vB: P2WPKH 294, P2PKH 546', () => {
  assert.equal(dustThreshold(22, true), 294n);
  assert.equal(dustThreshold(25, false), 546n);
});

test('estimatesmartfee BTC/kvB decimals convert to sat/vB without floats, rounding up', () => {
  assert.equal(btcPerKvbToSatPerVbyte(0.00001), 1n);
  assert.equal(btcPerKvbToSatPerVbyte(1e-5), 1n);
  assert.equal(btcPerKvbToSatPerVbyte(0.00012345), 13n);
  assert.equal(btcPerKvbToSatPerVbyte('0.001'), 100n);
  assert.equal(btcDecimalToSats('21000000'), 2_100_000_000_000_000n);
  assert.equal(btcDecimalToSats(1.5e-7), 15n);
  assert.throws(() => btcDecimalToSats('0.000000001'), (e) => isChainError(e, 'AMOUNT_INVALID'));
  assert.throws(() => btcDecimalToSats('-1'), (e) => isChainError(e, 'AMOUNT_INVALID'));
});

// ----- PSBT building -----
const keys = Array.from({ length: 6 }, (_, i) => ECPair.fromPrivateKey(Buffer.alloc(32, i + 1), { network: bcoinRegtest }));
const wallet = keys.map((k) => p2wpkhFromPublicKey(k.publicKey, 'bcoin-regtest'));
const txidOf = (n: number): string => n.toString(16).padStart(64, '0');
const utxo = (n: number, value: bigint, owner = 0): Utxo => ({ txid: txidOf(n), vout: n % 3, value, script: wallet[owner]!.script });

test('PSBT: largest-first, deterministic, witnessUtxo with bigint values, change to the change address', () => {
  const utxos = [utxo(1, 10_000n), utxo(2, 250_000n), utxo(3, 40_000n), utxo(4, 250_000n)];
  const request = {
    network: 'bcoin-regtest' as const, utxos, outputs: [{ address: wallet[1]!.address, value: 300_000n }],
    changeAddress: wallet[2]!.address, feeRateSatPerVbyte: 5n, feeMaxSat: 100_000n,
  };
  const a = buildPsbt(request);
  const b = buildPsbt({ ...request, utxos: [...utxos].reverse() });
  assert.equal(a.psbtBase64, b.psbtBase64, 'input order does not change the result');
  assert.deepEqual(a.inputs.map((u) => u.txid), [txidOf(2), txidOf(4)], 'two largest, ties by txid');
  assert.equal(a.fee, BigInt(a.vsize) * 5n);
  assert.equal(a.change, 500_000n - 300_000n - a.fee);
  const parsed = parsePsbt(a.psbtBase64, 'bcoin-regtest');
  assert.equal(parsed.vsizeIsEstimate, true);
  assert.equal(parsed.fee, a.fee);
  assert.deepEqual(parsed.outputs.map((o) => [o.address, o.value]), [[wallet[1]!.address, 300_000n], [wallet[2]!.address, a.change]]);
  assert.equal(typeof a.psbt.data.inputs[0]!.witnessUtxo!.value, 'bigint');
  assert.ok(parsed.inputs.every((i) => i.sequence === 0xfffffffd), 'RBF signalled');
});

test('PSBT: estimated vsize covers the signed transaction (worst-case signatures)', () => {
  const utxos = [utxo(1, 70_000n, 0), utxo(2, 60_000n, 3), utxo(5, 50_000n, 4)];
  const built = buildPsbt({
    network: 'bcoin-regtest', utxos, outputs: [{ address: wallet[1]!.address, value: 150_000n }],
    changeAddress: wallet[2]!.address, feeRateSatPerVbyte: 2n, feeMaxSat: 10_000n,
  });
  const psbt = Psbt.fromBase64(built.psbtBase64, { network: bcoinRegtest });
  built.inputs.forEach((u, i) => {
    const signer = keys[wallet.findIndex((w) => Buffer.from(w.script).equals(Buffer.from(u.script)))]!;
    psbt.signInput(i, signer);
  });
  psbt.finalizeAllInputs();
  const tx = psbt.extractTransaction();
  assert.ok(tx.virtualSize() <= built.vsize, `actual ${tx.virtualSize()} <= estimate ${built.vsize}`);
  assert.ok(built.vsize - tx.virtualSize() <= built.inputs.length, 'estimate is at most 1 vB per input high');
  const parsed = parsePsbt(psbt.toBase64(), 'bcoin-regtest');
  assert.equal(parsed.vsizeIsEstimate, false);
  assert.equal(parsed.vsize, tx.virtualSize());
  assert.equal(parsed.fee, built.fee);
});

test('WDR RBF: spendAll builds the replacement over exactly the original inputs, same payment, higher fee from the change', () => {
  const utxos = [utxo(1, 10_000n), utxo(2, 250_000n), utxo(3, 40_000n), utxo(4, 250_000n)];
  const base = { network: 'bcoin-regtest' as const, outputs: [{ address: wallet[1]!.address, value: 300_000n }], changeAddress: wallet[2]!.address, feeMaxSat: 100_000n };
  const original = buildPsbt({ ...base, utxos, feeRateSatPerVbyte: 2n });
  assert.equal(original.inputs.length, 2, 'selection alone would take the two largest');
  const replacement = buildPsbt({ ...base, utxos: original.inputs, feeRateSatPerVbyte: 7n, spendAll: true });
  assert.deepEqual(replacement.inputs.map((u) => `${u.txid}:${u.vout}`).sort(), original.inputs.map((u) => `${u.txid}:${u.vout}`).sort());
  assert.equal(replacement.vsize, original.vsize);
  assert.equal(replacement.fee, BigInt(original.vsize) * 7n);
  assert.equal(replacement.change, original.change - (replacement.fee - original.fee), 'the bump comes out of the change only');
  // Selection would have stopped at the first coin; spendAll keeps every one, so both transactions conflict on all inputs.
  const all = buildPsbt({ ...base, outputs: [{ address: wallet[1]!.address, value: 1_000n }], utxos: original.inputs, feeRateSatPerVbyte: 7n, spendAll: true });
  assert.equal(all.inputs.length, 2);
  assert.throws(() => buildPsbt({ ...base, utxos: original.inputs, feeRateSatPerVbyte: 7n, spendAll: true, feeMaxSat: original.fee }), (e) => isChainError(e, 'FEE_TOO_HIGH'));
  assert.throws(() => buildPsbt({ ...base, utxos: [utxo(1, 10_000n)], feeRateSatPerVbyte: 1n, spendAll: true }), (e) => isChainError(e, 'INSUFFICIENT_FUNDS'));
});

test('PSBT: change below dust goes to the fee instead of an output', () => {
  // 100,000 in; pay 99,500 at 1 sat/vB: the no-change fee is 110, leaving 390 which is above
  // dust (294) only when the change output's own 31 vB are not paid for: with change it is 359-31.
  const single = [utxo(1, 100_000n)];
  const noChange = buildPsbt({
    network: 'bcoin-regtest', utxos: single, outputs: [{ address: wallet[1]!.address, value: 99_700n }],
    changeAddress: wallet[2]!.address, feeRateSatPerVbyte: 1n, feeMaxSat: 10_000n,
  });
  assert.equal(noChange.change, 0n);
  assert.equal(noChange.changeIndex, -1);
  assert.equal(noChange.fee, 300n, 'the whole remainder is fee');
  assert.equal(noChange.psbt.txOutputs.length, 1);
});

test('PSBT: fails closed on dust outputs, fee caps, insufficient funds, input limit, foreign scripts, wrong network', () => {
  const base = { network: 'bcoin-regtest' as const, changeAddress: wallet[2]!.address, feeRateSatPerVbyte: 1n, feeMaxSat: 10_000n };
  assert.throws(() => buildPsbt({ ...base, utxos: [utxo(1, 100_000n)], outputs: [{ address: wallet[1]!.address, value: 293n }] }), (e) => isChainError(e, 'AMOUNT_INVALID'));
  assert.throws(() => buildPsbt({ ...base, feeMaxSat: 100n, utxos: [utxo(1, 100_000n)], outputs: [{ address: wallet[1]!.address, value: 50_000n }] }), (e) => isChainError(e, 'FEE_TOO_HIGH'));
  assert.throws(() => buildPsbt({ ...base, utxos: [utxo(1, 1_000n)], outputs: [{ address: wallet[1]!.address, value: 50_000n }] }), (e) => isChainError(e, 'INSUFFICIENT_FUNDS'));
  const many = Array.from({ length: 20 }, (_, i) => utxo(i + 1, 1_000n));
  assert.throws(() => buildPsbt({ ...base, maxInputs: 10, utxos: many, outputs: [{ address: wallet[1]!.address, value: 15_000n }] }), (e) => isChainError(e, 'TOO_MANY_INPUTS'));
  const p2pkh = payments.p2pkh({ pubkey: keys[0]!.publicKey, network: bcoinRegtest }).output!;
  assert.throws(() => buildPsbt({ ...base, utxos: [{ txid: txidOf(1), vout: 0, value: 100_000n, script: p2pkh }], outputs: [{ address: wallet[1]!.address, value: 50_000n }] }), (e) => isChainError(e, 'ADDRESS_UNSUPPORTED'));
  const mainnetAddress = p2wpkhFromPublicKey(keys[1]!.publicKey, 'mainnet').address;
  assert.throws(() => buildPsbt({ ...base, utxos: [utxo(1, 100_000n)], outputs: [{ address: mainnetAddress, value: 50_000n }] }), (e) => isChainError(e, 'ADDRESS_WRONG_NETWORK'));
  assert.throws(() => buildPsbt({ ...base, feeRateSatPerVbyte: 0n, utxos: [utxo(1, 100_000n)], outputs: [{ address: wallet[1]!.address, value: 50_000n }] }), (e) => isChainError(e, 'FEE_RATE_INVALID'));
  assert.throws(() => buildPsbt({ ...base, utxos: [utxo(1, 100_000n), utxo(1, 100_000n)], outputs: [{ address: wallet[1]!.address, value: 50_000n }] }), (e) => isChainError(e, 'TX_INVALID'));
  assert.throws(() => selectCoins({ utxos: [], outputScriptLengths: [22], amount: 1n, changeScriptLength: 22, feeRateSatPerVbyte: 1n, maxInputs: MAX_INPUTS_PER_TX + 1 }), RangeError);
});

// ----- block scanning -----
test('DEP-08 block scan: outputs to watched scripts are found with owner, vout and exact satoshis', () => {
  const watch = createBitcoinWatchSet('bcoin-regtest', [
    { address: wallet[0]!.address, owner: 'wallet-A' },
    { address: wallet[1]!.address, owner: 'wallet-B' },
  ]);
  const tx1 = new Transaction();
  tx1.addInput(Buffer.alloc(32, 7), 0);
  tx1.addOutput(wallet[3]!.script, 1_000n);
  tx1.addOutput(wallet[0]!.script, 123_456_789n);
  tx1.addOutput(wallet[1]!.script, 1n);
  const tx2 = new Transaction();
  tx2.addInput(Buffer.alloc(32, 8), 1);
  tx2.addOutput(wallet[0]!.script, 2_100_000_000_000_000n);
  tx2.addOutput(Buffer.from('6a0401020304', 'hex'), 0n);
  const block = new Block();
  block.version = 0x20000000;
  block.prevHash = Buffer.alloc(32, 9);
  block.merkleRoot = Block.calculateMerkleRoot([tx1, tx2]);
  block.timestamp = 1_700_000_000;
  block.bits = 0x207fffff;
  block.nonce = 0;
  block.transactions = [tx1, tx2];
  const deposits = scanBlockOutputs(block, watch);
  assert.deepEqual(deposits.map((d) => [d.txid, d.vout, d.owner, d.address, d.amount]), [
    [tx1.getId(), 1, 'wallet-A', wallet[0]!.address, 123_456_789n],
    [tx1.getId(), 2, 'wallet-B', wallet[1]!.address, 1n],
    [tx2.getId(), 0, 'wallet-A', wallet[0]!.address, 2_100_000_000_000_000n],
  ]);
  const normalized = normalizeBitcoinBlock(block.toHex(), 5, watch);
  assert.equal(normalized.hash, block.getId());
  assert.equal(normalized.parentHash, Buffer.alloc(32, 9).toString('hex'));
  assert.equal(normalized.deposits.length, 3);
});

test('SEG-02 watch set refuses one address for two owners', () => {
  assert.throws(() => createBitcoinWatchSet('bcoin-regtest', [
    { address: wallet[0]!.address, owner: 'a' }, { address: wallet[0]!.address.toUpperCase(), owner: 'b' },
  ]), (e) => isChainError(e, 'ADDRESS_INVALID'));
});

test('WDR RBF fee rate: +25 % (at least +1 sat/vB, the incremental relay fee) over the previous rate, or the estimate if higher, within the cap', () => {
  assert.equal(replacementFeeRate(1_410n, 141, 5n, 200n), 12n, '10 sat/vB paid: 10 + 10/4');
  assert.equal(replacementFeeRate(1_411n, 141, 5n, 200n), 13n, 'the previous rate rounds up (11), then + 2');
  assert.equal(replacementFeeRate(141n, 141, 1n, 200n), 2n, '1 sat/vB paid: + the 1 sat/vB incremental relay fee');
  assert.equal(replacementFeeRate(1_410n, 141, 30n, 200n), 30n, 'the node now asks for more');
  assert.equal(replacementFeeRate(1_410n, 141, 5n, 11n), undefined, 'above the cap: no bump');
  assert.throws(() => replacementFeeRate(1_410n, 0, 5n, 200n), RangeError);
});
