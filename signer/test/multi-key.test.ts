// Multi-key Bitcoin spends: one HSM key per deposit address, so a withdrawal spends UTXOs of several
// keys of the same client and the same tier (token). The real signer as a separate process against
// SoftHSM2; every input is signed by its own key and checked here with bitcoinjs-lib.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { intentHash, type Intent } from '../src/intent.ts';
import {
  approve, buildPsbt, isoIn, makeApprover, p2wpkhAddress, prepareSigner, randomEthAddress, randomP2wpkhAddress, randomUtxo,
  regtest, startSigner, testPolicy, unsignedEthTx, type SignerHarness, type UtxoSpec,
} from './helpers.ts';

const alice = makeApprover('treasury-alice', 'user-alice', 'ed25519');
const bob = makeApprover('treasury-bob', 'user-bob', 'p256');
const carol = makeApprover('treasury-carol', 'user-carol', 'ed25519');

let signer: SignerHarness;
interface TestKey { id: string; publicKey: string; ethereumAddress: string; tier: string }
const keys: Record<string, TestKey> = {};

function key(name: string): TestKey {
  const found = keys[name];
  if (!found) throw new Error(`no key ${name}`);
  return found;
}

let counter = 0;
function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** A BTC withdrawal from `names` (the first is the primary sourceKeyId), change back to the primary. */
function btcIntent(names: string[], outputs: { address: string; amount: bigint }[], extra: Partial<Intent> = {}): Intent {
  const [primary] = names;
  if (primary === undefined) throw new Error('no primary key');
  return {
    intentId: nextId('intent'), chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'client-a', initiator: 'user-ivan',
    sourceKeyId: key(primary).id, sourceKeyIds: names.map((name) => key(name).id),
    outputs: outputs.map((output) => ({ address: output.address, amount: output.amount.toString() })),
    change: { address: p2wpkhAddress(key(primary).publicKey), keyId: key(primary).id }, feeCap: '20000', expiresAt: isoIn(3600_000), ...extra,
  };
}

function utxo(name: string, value: bigint): UtxoSpec {
  return randomUtxo(value, key(name).publicKey);
}

/** Pays `amount` to `destination` and the rest minus a 5,000 sat fee back to the primary key. */
function psbtFor(primary: string, utxos: UtxoSpec[], destination: string, amount: bigint): string {
  const total = utxos.reduce((sum, spec) => sum + spec.value, 0n);
  return buildPsbt({
    sourcePublicKey: key(primary).publicKey, utxos,
    outputs: [{ address: destination, value: amount }, { address: p2wpkhAddress(key(primary).publicKey), value: total - amount - 5_000n }],
  });
}

function quorum(intent: Intent): Record<string, string>[] {
  const hash = intentHash(intent);
  return [approve(alice, hash), approve(bob, hash)];
}

async function sign(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  return signer.call('POST', '/sign', { requestId: nextId('req'), approvals: [], ...body });
}

async function replayEntries(): Promise<number> {
  return (await signer.call('GET', '/health')).body.replayEntries as number;
}

async function assertRefused(body: Record<string, unknown>, code: string): Promise<void> {
  const before = await replayEntries();
  const response = await sign(body);
  assert.equal(response.body.code, code, `expected ${code}, got ${response.status} ${JSON.stringify(response.body)}`);
  assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`);
  assert.deepEqual(Object.keys(response.body).filter((name) => !['code', 'message', 'details'].includes(name)), [], 'a refusal carries no signature');
  assert.equal(await replayEntries(), before, 'nothing was signed');
}

const ecdsaValidator = (pubkey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean =>
  secp256k1.verify(signature, message, pubkey, { prehash: false, lowS: true, format: 'compact' });

/**
 * Checks a signed answer the way a node would need it: every input carries exactly one signature by
 * the key that owns the spent script, low-S, verifying over the BIP-143 digest; the PSBT finalises
 * with bitcoinjs into the same transaction the signer returned.
 */
function verifySignedAnswer(body: any, inputs: { name: string; value: bigint }[]): bitcoin.Transaction {
  const signed = bitcoin.Psbt.fromBase64(body.psbt, { network: regtest });
  assert.equal(signed.data.inputs.length, inputs.length);
  assert.equal(signed.validateSignaturesOfAllInputs(ecdsaValidator), true, 'every input validates');
  for (const [index, input] of signed.data.inputs.entries()) {
    const expected = inputs[index];
    assert.ok(expected);
    assert.equal(input.partialSig?.length, 1, `input ${index} has one signature`);
    assert.equal(Buffer.from(input.partialSig?.[0]?.pubkey ?? []).toString('hex'), key(expected.name).publicKey, `input ${index} is signed by ${expected.name}`);
    assert.equal(body.signatures[index].keyId, key(expected.name).id);
  }
  signed.finalizeAllInputs();
  const tx = signed.extractTransaction();
  assert.equal(tx.toHex(), body.txHex, 'bitcoinjs finalises the returned PSBT into the returned transaction');
  assert.equal(tx.getId(), body.txid);
  for (const [index, input] of tx.ins.entries()) {
    const expected = inputs[index];
    assert.ok(expected);
    const [derWithType, pubkey] = input.witness;
    assert.ok(derWithType && pubkey);
    assert.equal(input.witness.length, 2);
    assert.equal(Buffer.from(pubkey).toString('hex'), key(expected.name).publicKey);
    const decoded = bitcoin.script.signature.decode(derWithType);
    assert.equal(decoded.hashType, bitcoin.Transaction.SIGHASH_ALL);
    assert.equal(secp256k1.Signature.fromBytes(decoded.signature, 'compact').hasHighS(), false, `input ${index} is low-S`);
    const scriptCode = bitcoin.payments.p2pkh({ pubkey }).output ?? new Uint8Array();
    const digest = tx.hashForWitnessV0(index, scriptCode, expected.value, bitcoin.Transaction.SIGHASH_ALL);
    assert.equal(ecdsaValidator(pubkey, digest, decoded.signature), true, `input ${index} verifies over its BIP-143 digest`);
  }
  return tx;
}

before(async () => {
  signer = await startSigner(prepareSigner('signer-multikey', testPolicy([alice, bob, carol], 2)));
  const specs: [string, 'hot' | 'cold', string][] = [
    ['a-hot-1', 'hot', 'client-a'], ['a-hot-2', 'hot', 'client-a'], ['a-hot-3', 'hot', 'client-a'], ['a-hot-unlisted', 'hot', 'client-a'],
    ['a-cold-1', 'cold', 'client-a'], ['a-cold-2', 'cold', 'client-a'], ['a-cold-3', 'cold', 'client-a'],
    ['b-hot-1', 'hot', 'client-b'], ['a-eth-1', 'hot', 'client-a'], ['a-eth-2', 'hot', 'client-a'],
  ];
  for (const [name, tier, clientId] of specs) {
    const response = await signer.call('POST', '/keys', { label: name, tier, clientId });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    keys[name] = response.body;
  }
});

after(async () => {
  await signer?.stop();
});

describe('multi-key bitcoin spends (KEY-08, HOT-03, HOT-05, KEY-06)', () => {
  test('KEY-08 a PSBT spending UTXOs of 3 keys of one client and tier is signed input by input; bitcoinjs verifies and finalises it', async () => {
    const destination = randomP2wpkhAddress();
    const inputs = [
      { name: 'a-hot-2', value: 40_000n }, { name: 'a-hot-1', value: 25_000n }, { name: 'a-hot-3', value: 60_000n }, { name: 'a-hot-2', value: 15_000n },
    ];
    const intent = btcIntent(['a-hot-1', 'a-hot-2', 'a-hot-3'], [{ address: destination, amount: 120_000n }]);
    const psbt = psbtFor('a-hot-1', inputs.map((input) => utxo(input.name, input.value)), destination, 120_000n);
    const response = await sign({ intent, transaction: { psbt } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.keyId, key('a-hot-1').id, 'the primary key names the signing');
    assert.deepEqual(response.body.keyIds, ['a-hot-1', 'a-hot-2', 'a-hot-3'].map((name) => key(name).id));
    assert.equal(response.body.feeSat, '5000');
    assert.equal(response.body.outpoints.length, 4);
    // The hash covers sourceKeyIds: without them it is another intent.
    assert.equal(response.body.intentHash, intentHash(intent));
    const { sourceKeyIds: _listed, ...withoutList } = intent;
    assert.notEqual(intentHash(withoutList), response.body.intentHash);
    const tx = verifySignedAnswer(response.body, inputs);
    assert.equal(tx.ins.length, 4);
    assert.equal(tx.outs.length, 2);
    const repeat = await signer.call('POST', '/sign', { requestId: response.body.requestId, intent, transaction: { psbt }, approvals: [] });
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body.repeated, true);
    assert.equal(repeat.body.txHex, response.body.txHex);
  });

  test('KEY-08 sourceKeyIds equal to [sourceKeyId] signs like a single-key intent', async () => {
    const destination = randomP2wpkhAddress();
    const intent = btcIntent(['a-hot-3'], [{ address: destination, amount: 10_000n }]);
    const response = await sign({ intent, transaction: { psbt: psbtFor('a-hot-3', [utxo('a-hot-3', 30_000n)], destination, 10_000n) } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    verifySignedAnswer(response.body, [{ name: 'a-hot-3', value: 30_000n }]);
  });

  test('HOT-03 a key of another client in sourceKeyIds is refused', async () => {
    const destination = randomP2wpkhAddress();
    const intent = btcIntent(['a-hot-1', 'b-hot-1'], [{ address: destination, amount: 50_000n }]);
    const psbt = psbtFor('a-hot-1', [utxo('a-hot-1', 30_000n), utxo('b-hot-1', 30_000n)], destination, 50_000n);
    await assertRefused({ intent, transaction: { psbt } }, 'SOURCE_KEY_FOREIGN');
  });

  test('HOT-05 a key of the other tier (token) in sourceKeyIds is refused, hot primary or cold primary with quorum', async () => {
    const destination = randomP2wpkhAddress();
    const hot = btcIntent(['a-hot-1', 'a-cold-1'], [{ address: destination, amount: 50_000n }]);
    await assertRefused({ intent: hot, transaction: { psbt: psbtFor('a-hot-1', [utxo('a-hot-1', 30_000n), utxo('a-cold-1', 30_000n)], destination, 50_000n) } }, 'SOURCE_KEY_TIER_MISMATCH');
    const cold = btcIntent(['a-cold-1', 'a-hot-2'], [{ address: destination, amount: 50_000n }]);
    const psbt = psbtFor('a-cold-1', [utxo('a-cold-1', 30_000n), utxo('a-hot-2', 30_000n)], destination, 50_000n);
    await assertRefused({ intent: cold, transaction: { psbt }, approvals: quorum(cold) }, 'SOURCE_KEY_TIER_MISMATCH');
  });

  test('KEY-08 an input of a key the intent does not list is refused, even a key of the same client and tier', async () => {
    const destination = randomP2wpkhAddress();
    const intent = btcIntent(['a-hot-1', 'a-hot-2'], [{ address: destination, amount: 50_000n }]);
    const psbt = psbtFor('a-hot-1', [utxo('a-hot-1', 30_000n), utxo('a-hot-unlisted', 30_000n)], destination, 50_000n);
    await assertRefused({ intent, transaction: { psbt } }, 'INPUT_NOT_SOURCE_KEY');
  });

  test('KEY-08 duplicate key ids in sourceKeyIds are refused', async () => {
    const destination = randomP2wpkhAddress();
    const intent = { ...btcIntent(['a-hot-1', 'a-hot-2'], [{ address: destination, amount: 50_000n }]), sourceKeyIds: [key('a-hot-1').id, key('a-hot-2').id, key('a-hot-1').id] };
    const psbt = psbtFor('a-hot-1', [utxo('a-hot-1', 30_000n), utxo('a-hot-2', 30_000n)], destination, 50_000n);
    await assertRefused({ intent, transaction: { psbt } }, 'SOURCE_KEY_DUPLICATE');
  });

  test('KEY-08 an unknown key id in sourceKeyIds is refused', async () => {
    const destination = randomP2wpkhAddress();
    const intent = { ...btcIntent(['a-hot-1'], [{ address: destination, amount: 10_000n }]), sourceKeyIds: [key('a-hot-1').id, randomBytes(16).toString('hex')] };
    await assertRefused({ intent, transaction: { psbt: psbtFor('a-hot-1', [utxo('a-hot-1', 30_000n)], destination, 10_000n) } }, 'KEY_UNKNOWN');
  });

  test('KEY-08 sourceKeyIds that leave out the primary sourceKeyId are refused', async () => {
    const destination = randomP2wpkhAddress();
    const intent = { ...btcIntent(['a-hot-1'], [{ address: destination, amount: 10_000n }]), sourceKeyIds: [key('a-hot-2').id, key('a-hot-3').id] };
    await assertRefused({ intent, transaction: { psbt: psbtFor('a-hot-1', [utxo('a-hot-2', 30_000n)], destination, 10_000n) } }, 'SOURCE_KEY_NOT_LISTED');
  });

  test('KEY-08 an empty or oversized sourceKeyIds list is an invalid request', async () => {
    const destination = randomP2wpkhAddress();
    const psbt = psbtFor('a-hot-1', [utxo('a-hot-1', 30_000n)], destination, 10_000n);
    const base = btcIntent(['a-hot-1'], [{ address: destination, amount: 10_000n }]);
    await assertRefused({ intent: { ...base, sourceKeyIds: [] }, transaction: { psbt } }, 'INVALID_REQUEST');
    const tooMany = [key('a-hot-1').id, ...Array.from({ length: 250 }, () => randomBytes(16).toString('hex'))];
    await assertRefused({ intent: { ...base, sourceKeyIds: tooMany }, transaction: { psbt } }, 'INVALID_REQUEST');
  });

  test('KEY-06 a cold multi-key withdrawal needs the quorum over the hash that binds the key list, then signs every input', async () => {
    const destination = randomP2wpkhAddress();
    const inputs = [{ name: 'a-cold-1', value: 500_000n }, { name: 'a-cold-2', value: 700_000n }, { name: 'a-cold-3', value: 300_000n }];
    const intent = btcIntent(['a-cold-1', 'a-cold-2', 'a-cold-3'], [{ address: destination, amount: 1_200_000n }]);
    const psbt = psbtFor('a-cold-1', inputs.map((input) => utxo(input.name, input.value)), destination, 1_200_000n);
    await assertRefused({ intent, transaction: { psbt }, approvals: [] }, 'APPROVALS_REQUIRED');
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, intentHash(intent))] }, 'APPROVALS_BELOW_QUORUM');
    // Approvals given for a smaller key set, or the same keys in another order, do not carry over.
    const narrower = { ...intent, sourceKeyIds: [key('a-cold-1').id, key('a-cold-2').id] };
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, intentHash(intent)), approve(bob, intentHash(narrower))] }, 'APPROVAL_INTENT_MISMATCH');
    const reordered = { ...intent, sourceKeyIds: [key('a-cold-3').id, key('a-cold-1').id, key('a-cold-2').id] };
    await assertRefused({ intent: reordered, transaction: { psbt }, approvals: quorum(intent) }, 'APPROVAL_INTENT_MISMATCH');
    const response = await sign({ intent, transaction: { psbt }, approvals: quorum(intent) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.approvedBy, ['treasury-alice', 'treasury-bob']);
    verifySignedAnswer(response.body, inputs);
  });

  test('KEY-08 an outpoint of a secondary key signed in a multi-key spend is never signed for another intent', async () => {
    const destination = randomP2wpkhAddress();
    const shared = utxo('a-hot-2', 40_000n);
    const first = btcIntent(['a-hot-1', 'a-hot-2'], [{ address: destination, amount: 50_000n }]);
    const signed = await sign({ intent: first, transaction: { psbt: psbtFor('a-hot-1', [utxo('a-hot-1', 20_000n), shared], destination, 50_000n) } });
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    const thief = randomP2wpkhAddress();
    const second = btcIntent(['a-hot-2'], [{ address: thief, amount: 30_000n }]);
    await assertRefused({ intent: second, transaction: { psbt: psbtFor('a-hot-2', [shared], thief, 30_000n) } }, 'REPLAY_CONFLICT');
  });

  test('KEY-08 ETH: an ethereum intent with more than one source key is refused; [sourceKeyId] alone is signed', async () => {
    const to = randomEthAddress();
    const intent: Intent = {
      intentId: nextId('intent'), chain: 'ethereum', network: '31337', asset: 'ETH', clientId: 'client-a', initiator: 'user-ivan',
      sourceKeyId: key('a-eth-1').id, sourceKeyIds: [key('a-eth-1').id, key('a-eth-2').id],
      outputs: [{ address: to, amount: '1000' }], feeCap: '100000000000000', expiresAt: isoIn(3600_000),
    };
    await assertRefused({ intent, transaction: { ethereumTx: unsignedEthTx({ to, value: 1000n, nonce: 0 }) } }, 'INVALID_INTENT');
    const single = { ...intent, intentId: nextId('intent'), sourceKeyIds: [key('a-eth-1').id] };
    const response = await sign({ intent: single, transaction: { ethereumTx: unsignedEthTx({ to, value: 1000n, nonce: 0 }) } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.from, key('a-eth-1').ethereumAddress);
  });
});
