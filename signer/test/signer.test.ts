// Acceptance: the built signer, as a separate process, against SoftHSM2. A compromised API may
// send anything; every spoof below is refused with a specific code and nothing is signed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Transaction, getAddress } from 'ethers';
import { intentHash, type Intent } from '../src/intent.ts';
import { bcoinRegtest } from '../src/bitcoin-check.ts';
import {
  USDT_CONTRACT, approve, buildPsbt, erc20TransferData, isoIn, makeApprover, p2wpkhAddress, prepareSigner, randomEthAddress,
  randomP2wpkhAddress, randomUtxo, startSigner, testPolicy, unsignedEthTx, type SignerHarness,
} from './helpers.ts';

const alice = makeApprover('treasury-alice', 'user-alice', 'ed25519');
const bob = makeApprover('treasury-bob', 'user-bob', 'p256');
const carol = makeApprover('treasury-carol', 'user-carol', 'ed25519');
const mallory = makeApprover('treasury-alice', 'user-mallory', 'ed25519'); // not registered: same id, other key

let signer: SignerHarness;
const keys: Record<string, { id: string; publicKey: string; ethereumAddress: string; tier: string }> = {};

async function createKey(name: string, tier: 'hot' | 'cold', clientId: string): Promise<void> {
  const response = await signer.call('POST', '/keys', { label: name, tier, clientId });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  keys[name] = response.body;
}

function key(name: string): { id: string; publicKey: string; ethereumAddress: string; tier: string } {
  const found = keys[name];
  if (!found) throw new Error(`no key ${name}`);
  return found;
}

let counter = 0;
function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(3).toString('hex')}`;
}

function btcIntent(source: string, outputs: { address: string; amount: bigint }[], extra: Partial<Intent> = {}): Intent {
  return {
    intentId: nextId('intent'), chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'client-a', initiator: 'user-ivan',
    sourceKeyId: key(source).id, outputs: outputs.map((output) => ({ address: output.address, amount: output.amount.toString() })),
    change: { address: p2wpkhAddress(key(source).publicKey), keyId: key(source).id }, feeCap: '20000', expiresAt: isoIn(3600_000), ...extra,
  };
}

function ethIntent(source: string, to: string, amount: bigint, extra: Partial<Intent> = {}): Intent {
  return {
    intentId: nextId('intent'), chain: 'ethereum', network: '31337', asset: 'ETH', clientId: 'client-a', initiator: 'user-ivan',
    sourceKeyId: key(source).id, outputs: [{ address: to, amount: amount.toString() }], feeCap: '100000000000000', expiresAt: isoIn(3600_000), ...extra,
  };
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

before(async () => {
  signer = await startSigner(prepareSigner('signer-test', testPolicy([alice, bob, carol], 2)));
  await createKey('a-hot', 'hot', 'client-a');
  await createKey('a-cold', 'cold', 'client-a');
  await createKey('a-change', 'hot', 'client-a');
  await createKey('b-hot', 'hot', 'client-b');
  await createKey('b-cold', 'cold', 'client-b');
  await createKey('a-eth-hot', 'hot', 'client-a');
  await createKey('a-eth-cold', 'cold', 'client-a');
});

after(async () => {
  await signer?.stop();
});

describe('good requests', () => {
  test('KEY-08 a hot-key PSBT whose outputs equal the intent is signed; bitcoinjs-lib verifies it', async () => {
    const destination = randomP2wpkhAddress();
    const intent = btcIntent('a-hot', [{ address: destination, amount: 50_000n }]);
    const psbt = buildPsbt({ sourcePublicKey: key('a-hot').publicKey, utxos: [randomUtxo(80_000n), randomUtxo(30_000n)], outputs: [{ address: destination, value: 50_000n }, { address: p2wpkhAddress(key('a-hot').publicKey), value: 55_000n }] });
    const response = await sign({ intent, transaction: { psbt } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.intentHash, intentHash(intent));
    assert.equal(response.body.feeSat, '5000');
    const signed = bitcoin.Psbt.fromBase64(response.body.psbt, { network: bitcoin.networks.regtest });
    assert.equal(signed.validateSignaturesOfAllInputs(ecdsaValidator), true);
    const tx = bitcoin.Transaction.fromHex(response.body.txHex);
    assert.equal(tx.getId(), response.body.txid);
    assert.equal(tx.ins.length, 2);
    for (const [index, input] of tx.ins.entries()) {
      const [derWithType, pubkey] = input.witness;
      assert.ok(derWithType && pubkey);
      const decoded = bitcoin.script.signature.decode(derWithType);
      assert.equal(Buffer.from(pubkey).toString('hex'), key('a-hot').publicKey);
      assert.equal(secp256k1.Signature.fromBytes(decoded.signature, 'compact').hasHighS(), false, 'low-S');
      const hash = tx.hashForWitnessV0(index, bitcoin.payments.p2pkh({ pubkey }).output ?? new Uint8Array(), index === 0 ? 80_000n : 30_000n, bitcoin.Transaction.SIGHASH_ALL);
      assert.equal(ecdsaValidator(pubkey, hash, decoded.signature), true);
    }
    const repeat = await signer.call('POST', '/sign', { requestId: response.body.requestId, intent, transaction: { psbt }, approvals: [] });
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body.repeated, true);
    assert.equal(repeat.body.txHex, response.body.txHex, 'same request, same answer');
  });

  test('KEY-06 a cold-key PSBT with 2 of 3 treasury approvals (Ed25519 + P-256) is signed', async () => {
    const destination = randomP2wpkhAddress();
    const intent = btcIntent('a-cold', [{ address: destination, amount: 1_000_000n }]);
    const psbt = buildPsbt({ sourcePublicKey: key('a-cold').publicKey, utxos: [randomUtxo(2_000_000n)], outputs: [{ address: destination, value: 1_000_000n }, { address: p2wpkhAddress(key('a-cold').publicKey), value: 995_000n }] });
    const response = await sign({ intent, transaction: { psbt }, approvals: quorum(intent) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.approvedBy, ['treasury-alice', 'treasury-bob']);
    assert.equal(bitcoin.Psbt.fromBase64(response.body.psbt).validateSignaturesOfAllInputs(ecdsaValidator), true);
  });

  test('KEY-08 bcoin regtest (rb1…) addresses are checked as scripts for that network', async () => {
    const destination = bitcoin.payments.p2wpkh({ hash: randomBytes(20), network: bcoinRegtest }).address ?? '';
    assert.match(destination, /^rb1/);
    const own = p2wpkhAddress(key('a-hot').publicKey, bcoinRegtest);
    const intent = btcIntent('a-hot', [{ address: destination, amount: 10_000n }], { network: 'bcoin-regtest', change: { address: own } });
    const psbt = buildPsbt({ network: bcoinRegtest, sourcePublicKey: key('a-hot').publicKey, utxos: [randomUtxo(20_000n)], outputs: [{ address: destination, value: 10_000n }, { address: own, value: 9_000n }] });
    const response = await sign({ intent, transaction: { psbt } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  });

  test('KEY-08 an EIP-1559 ETH transfer is signed; ethers recovers the key address and verifies', async () => {
    const to = randomEthAddress();
    const intent = ethIntent('a-eth-hot', to, 10n ** 18n);
    const unsigned = unsignedEthTx({ to, value: 10n ** 18n, nonce: 0 });
    const response = await sign({ intent, transaction: { ethereumTx: unsigned } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const tx = Transaction.from(response.body.signedTx);
    assert.equal(tx.from, getAddress(key('a-eth-hot').ethereumAddress));
    assert.equal(tx.to, to);
    assert.equal(tx.value, 10n ** 18n);
    assert.equal(tx.chainId, 31337n);
    assert.ok(tx.signature);
    assert.equal(tx.signature.yParity, response.body.signature.yParity);
    assert.ok(BigInt(tx.signature.s) <= secp256k1.Point.CURVE().n / 2n, 'low-S');
    assert.equal(tx.hash, response.body.txHash);
  });

  test('KEY-06 an ERC-20 transfer from a cold key with quorum is signed and decodes to the intent', async () => {
    const to = randomEthAddress();
    const intent = ethIntent('a-eth-cold', to, 2_500_000n, { asset: 'USDT', tokenContract: USDT_CONTRACT, feeCap: '120000000000000' });
    const unsigned = unsignedEthTx({ to: USDT_CONTRACT, data: erc20TransferData(to, 2_500_000n), nonce: 0, gasLimit: 60_000n });
    const response = await sign({ intent, transaction: { ethereumTx: unsigned }, approvals: quorum(intent) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const tx = Transaction.from(response.body.signedTx);
    assert.equal(tx.from, getAddress(key('a-eth-cold').ethereumAddress));
    assert.equal(tx.to, getAddress(USDT_CONTRACT));
  });
});

describe('compromised-API spoofs (KEY-08, KEY-06, HOT-03)', () => {
  const destination = randomP2wpkhAddress();
  function coldBtc(outputs: { address?: string; script?: Buffer; value: bigint }[], intentExtra: Partial<Intent> = {}, utxoValue = 300_000n) {
    const intent = btcIntent('a-cold', [{ address: destination, amount: 100_000n }], intentExtra);
    const psbt = buildPsbt({ sourcePublicKey: key('a-cold').publicKey, utxos: [randomUtxo(utxoValue)], outputs });
    return { intent, psbt };
  }
  const change = (): string => p2wpkhAddress(key('a-cold').publicKey);

  test('KEY-08 output 1 satoshi off the approved amount is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_001n }, { address: change(), value: 195_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'AMOUNT_MISMATCH');
  });

  test('KEY-08 a swapped destination is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: randomP2wpkhAddress(), value: 100_000n }, { address: change(), value: 195_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'DESTINATION_MISMATCH');
  });

  test('KEY-08 an extra output the intent does not name is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: randomP2wpkhAddress(), value: 50_000n }, { address: change(), value: 145_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'UNEXPECTED_OUTPUT');
  });

  test('HOT-03 change to another client\'s wallet is refused', async () => {
    const other = p2wpkhAddress(key('b-hot').publicKey);
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: other, value: 195_000n }], { change: { address: other, keyId: key('b-hot').id } });
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'CHANGE_NOT_OWN_WALLET');
  });

  test('HOT-03 a sweep into another client\'s cold wallet is refused', async () => {
    const other = p2wpkhAddress(key('b-cold').publicKey);
    const intent: Intent = { ...btcIntent('a-hot', []), purpose: 'sweep', outputs: [{ address: other, amount: '100000', keyId: key('b-cold').id }] };
    const psbt = buildPsbt({ sourcePublicKey: key('a-hot').publicKey, utxos: [randomUtxo(101_000n)], outputs: [{ address: other, value: 100_000n }] });
    await assertRefused({ intent, transaction: { psbt } }, 'CROSS_CLIENT_TRANSFER');
  });

  test('KEY-08 a fee above the intent\'s cap is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 170_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'FEE_ABOVE_CAP');
  });

  test('KEY-08 a per-transaction amount above the policy cap is refused even with quorum', async () => {
    const intent = btcIntent('a-cold', [{ address: destination, amount: 2_000_000_000n }]);
    const psbt = buildPsbt({ sourcePublicKey: key('a-cold').publicKey, utxos: [randomUtxo(2_000_010_000n)], outputs: [{ address: destination, value: 2_000_000_000n }] });
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'AMOUNT_ABOVE_POLICY_CAP');
  });

  test('KEY-08 an input that does not belong to the source key is refused', async () => {
    const intent = btcIntent('a-hot', [{ address: destination, amount: 10_000n }], { change: undefined });
    const psbt = buildPsbt({ sourcePublicKey: key('b-hot').publicKey, utxos: [randomUtxo(11_000n)], outputs: [{ address: destination, value: 10_000n }] });
    await assertRefused({ intent, transaction: { psbt } }, 'INPUT_NOT_SOURCE_KEY');
  });

  test('KEY-08 a malformed PSBT is refused', async () => {
    const { intent } = coldBtc([]);
    await assertRefused({ intent, transaction: { psbt: Buffer.from('psbt\xff not really').toString('base64') }, approvals: quorum(intent) }, 'MALFORMED_PSBT');
  });

  test('KEY-08 an unknown key is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }]);
    await assertRefused({ intent: { ...intent, sourceKeyId: randomBytes(16).toString('hex') }, transaction: { psbt }, approvals: [] }, 'KEY_UNKNOWN');
  });

  test('KEY-06 a cold key with no approvals is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: [] }, 'APPROVALS_REQUIRED');
  });

  test('KEY-06 approvals below quorum are refused (a single approver cannot unlock cold signing)', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, intentHash(intent))] }, 'APPROVALS_BELOW_QUORUM');
  });

  test('KEY-06 two approvals by the same approver count once', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    const hash = intentHash(intent);
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, hash), approve(alice, hash, { signedAt: new Date(Date.now() - 1000) })] }, 'APPROVALS_BELOW_QUORUM');
  });

  test('KEY-06 an approval by the initiator is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }], { initiator: 'user-bob' });
    await assertRefused({ intent, transaction: { psbt }, approvals: quorum(intent) }, 'APPROVAL_BY_INITIATOR');
  });

  test('KEY-08 an expired approval is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    const hash = intentHash(intent);
    const expired = approve(bob, hash, { signedAt: new Date(Date.now() - 7200_000), expiresAt: new Date(Date.now() - 60_000) });
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, hash), expired] }, 'APPROVAL_EXPIRED');
  });

  test('KEY-08 an approval whose expiry was stretched after signing is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    const hash = intentHash(intent);
    const stretched = { ...approve(bob, hash, { expiresAt: new Date(Date.now() + 60_000) }), expiresAt: isoIn(7200_000) };
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, hash), stretched] }, 'APPROVAL_SIGNATURE_INVALID');
  });

  test('KEY-08 an approval replayed from another intent is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    const otherIntent = btcIntent('a-cold', [{ address: destination, amount: 100_000n }]);
    const replayed = approve(bob, intentHash(otherIntent));
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(alice, intentHash(intent)), replayed] }, 'APPROVAL_INTENT_MISMATCH');
  });

  test('WDR-04 KEY-08 the screening hash is part of the intent: approvals over it sign; a swapped screening hash is refused', async () => {
    const screeningHash = 'a'.repeat(64);
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }], { screeningHash });
    assert.notEqual(intentHash(intent), intentHash({ ...intent, screeningHash: undefined }), 'the hash covers screeningHash');
    const swapped = { ...intent, screeningHash: 'b'.repeat(64) };
    await assertRefused({ intent: swapped, transaction: { psbt }, approvals: quorum(intent) }, 'APPROVAL_INTENT_MISMATCH');
    await assertRefused({ intent: { ...intent, screeningHash: 'A'.repeat(64) }, transaction: { psbt }, approvals: quorum(intent) }, 'INVALID_REQUEST');
    const signed = await sign({ intent, transaction: { psbt }, approvals: quorum(intent) });
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    assert.equal(signed.body.intentHash, intentHash(intent), 'the signature is over the intent with its screening hash');
  });

  test('KEY-06 an approval under a registered id but signed by another key is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(mallory, intentHash(intent)), approve(bob, intentHash(intent))] }, 'APPROVAL_SIGNATURE_INVALID');
  });

  test('KEY-06 an approval by an unregistered approver is refused', async () => {
    const { intent, psbt } = coldBtc([{ address: destination, value: 100_000n }, { address: change(), value: 195_000n }]);
    const stranger = makeApprover('treasury-zed', 'user-zed', 'ed25519');
    await assertRefused({ intent, transaction: { psbt }, approvals: [approve(stranger, intentHash(intent)), approve(bob, intentHash(intent))] }, 'APPROVER_UNKNOWN');
  });

  test('KEY-08 the same outpoint under another intent is refused', async () => {
    const utxo = randomUtxo(300_000n);
    const first = btcIntent('a-hot', [{ address: destination, amount: 100_000n }]);
    const own = p2wpkhAddress(key('a-hot').publicKey);
    const psbt1 = buildPsbt({ sourcePublicKey: key('a-hot').publicKey, utxos: [utxo], outputs: [{ address: destination, value: 100_000n }, { address: own, value: 195_000n }] });
    assert.equal((await sign({ intent: first, transaction: { psbt: psbt1 } })).status, 200);
    const other = randomP2wpkhAddress();
    const second = btcIntent('a-hot', [{ address: other, amount: 100_000n }]);
    const psbt2 = buildPsbt({ sourcePublicKey: key('a-hot').publicKey, utxos: [utxo], outputs: [{ address: other, value: 100_000n }, { address: own, value: 195_000n }] });
    await assertRefused({ intent: second, transaction: { psbt: psbt2 } }, 'REPLAY_CONFLICT');
  });

  test('KEY-08 a request id reused for a different intent is refused', async () => {
    const own = p2wpkhAddress(key('a-hot').publicKey);
    const first = btcIntent('a-hot', [{ address: destination, amount: 1_000n }]);
    const requestId = nextId('req');
    const psbt1 = buildPsbt({ sourcePublicKey: key('a-hot').publicKey, utxos: [randomUtxo(10_000n)], outputs: [{ address: destination, value: 1_000n }, { address: own, value: 8_000n }] });
    assert.equal((await sign({ requestId, intent: first, transaction: { psbt: psbt1 } })).status, 200);
    const second = btcIntent('a-hot', [{ address: destination, amount: 2_000n }]);
    const psbt2 = buildPsbt({ sourcePublicKey: key('a-hot').publicKey, utxos: [randomUtxo(10_000n)], outputs: [{ address: destination, value: 2_000n }, { address: own, value: 7_000n }] });
    await assertRefused({ requestId, intent: second, transaction: { psbt: psbt2 } }, 'REPLAY_CONFLICT');
  });

  test('KEY-08 ETH: value 1 wei off the intent is refused', async () => {
    const to = randomEthAddress();
    await assertRefused({ intent: ethIntent('a-eth-hot', to, 1000n), transaction: { ethereumTx: unsignedEthTx({ to, value: 1001n, nonce: 50 }) } }, 'AMOUNT_MISMATCH');
  });

  test('KEY-08 ETH: a wrong chain id is refused', async () => {
    const to = randomEthAddress();
    await assertRefused({ intent: ethIntent('a-eth-hot', to, 1000n), transaction: { ethereumTx: unsignedEthTx({ to, value: 1000n, nonce: 51, chainId: 1n }) } }, 'CHAIN_ID_MISMATCH');
  });

  test('KEY-08 ETH: gasLimit*maxFeePerGas above the fee cap is refused', async () => {
    const to = randomEthAddress();
    await assertRefused({ intent: ethIntent('a-eth-hot', to, 1000n, { feeCap: '21000000000000' }), transaction: { ethereumTx: unsignedEthTx({ to, value: 1000n, nonce: 52, maxFeePerGas: 1_000_000_001n }) } }, 'FEE_ABOVE_CAP');
  });

  test('KEY-08 ERC-20: a wrong token contract is refused', async () => {
    const to = randomEthAddress();
    const intent = ethIntent('a-eth-cold', to, 5n, { asset: 'USDT', tokenContract: USDT_CONTRACT });
    const unsigned = unsignedEthTx({ to: randomEthAddress(), data: erc20TransferData(to, 5n), nonce: 53, gasLimit: 60_000n });
    await assertRefused({ intent, transaction: { ethereumTx: unsigned }, approvals: quorum(intent) }, 'TOKEN_CONTRACT_MISMATCH');
  });

  test('KEY-08 ERC-20: a swapped recipient in the calldata is refused', async () => {
    const to = randomEthAddress();
    const intent = ethIntent('a-eth-cold', to, 5n, { asset: 'USDT', tokenContract: USDT_CONTRACT });
    const unsigned = unsignedEthTx({ to: USDT_CONTRACT, data: erc20TransferData(randomEthAddress(), 5n), nonce: 54, gasLimit: 60_000n });
    await assertRefused({ intent, transaction: { ethereumTx: unsigned }, approvals: quorum(intent) }, 'DESTINATION_MISMATCH');
  });

  test('KEY-08 ETH: the same nonce under another intent is refused', async () => {
    const to = randomEthAddress();
    const first = await sign({ intent: ethIntent('a-eth-hot', to, 7n), transaction: { ethereumTx: unsignedEthTx({ to, value: 7n, nonce: 9 }) } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const thief = randomEthAddress();
    await assertRefused({ intent: ethIntent('a-eth-hot', thief, 7n), transaction: { ethereumTx: unsignedEthTx({ to: thief, value: 7n, nonce: 9 }) } }, 'REPLAY_CONFLICT');
  });

  test('KEY-08 ETH: re-signing one intent under a new nonce (double payment) is refused', async () => {
    const to = randomEthAddress();
    const intent = ethIntent('a-eth-hot', to, 8n);
    assert.equal((await sign({ intent, transaction: { ethereumTx: unsignedEthTx({ to, value: 8n, nonce: 20 }) } })).status, 200);
    await assertRefused({ intent, transaction: { ethereumTx: unsignedEthTx({ to, value: 8n, nonce: 21 }) } }, 'REPLAY_CONFLICT');
    // A fee bump on the same nonce is a replacement, not a second payment: allowed.
    const bump = await sign({ intent, transaction: { ethereumTx: unsignedEthTx({ to, value: 8n, nonce: 20, maxFeePerGas: 3_000_000_000n }) } });
    assert.equal(bump.status, 200, JSON.stringify(bump.body));
  });

  test('KEY-08 a source key of another client is refused', async () => {
    const to = randomEthAddress();
    const intent = { ...ethIntent('a-eth-hot', to, 7n), sourceKeyId: key('b-hot').id };
    await assertRefused({ intent, transaction: { ethereumTx: unsignedEthTx({ to, value: 7n, nonce: 60 }) } }, 'SOURCE_NOT_CLIENT_WALLET');
  });
});
