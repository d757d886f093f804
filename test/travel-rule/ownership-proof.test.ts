// DEP-05 ownership proofs: BIP-137 against bitcoinjs-message's published vectors and against
// signatures made here with @noble/curves; EIP-191 with ethers wallets made in the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { payments } from 'bitcoinjs-lib';
import { Wallet } from 'ethers';
import {
  bitcoinMessageHash, ownershipChallenge, verifyBitcoinSignedMessage, verifyOwnershipProof, type BitcoinMessageAddressType,
} from '../../src/travel-rule/index.ts';
import { bitcoinNetwork, type BitcoinNetworkName } from '../../src/chains/bitcoin/index.ts';
import { HEADER_BASE, signBip137 } from '../helpers/bip137.ts';

const vectors = JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures', 'bip137-bitcoinjs-message.json'), 'utf8'));
const NONCE = 'c2VydmVyLWlzc3VlZC1ub25jZQ';

function addressFor(privateKey: Uint8Array, type: BitcoinMessageAddressType, networkName: BitcoinNetworkName): string {
  const network = bitcoinNetwork(networkName);
  const pubkey = secp256k1.getPublicKey(privateKey, type !== 'p2pkh-uncompressed');
  switch (type) {
    case 'p2pkh-uncompressed':
    case 'p2pkh': return payments.p2pkh({ pubkey, network }).address!;
    case 'p2sh-p2wpkh': return payments.p2sh({ redeem: payments.p2wpkh({ pubkey, network }), network }).address!;
    case 'p2wpkh': return payments.p2wpkh({ pubkey, network }).address!;
  }
}

function tamper(base64: string, index: number): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64');
}

test('DEP-05 the BIP-137 message hash matches bitcoinjs-message\'s magicHash vectors', () => {
  for (const v of vectors.magicHash) assert.equal(Buffer.from(bitcoinMessageHash(v.message)).toString('hex'), v.magicHash, JSON.stringify(v.message));
});

test('DEP-05 known-answer: bitcoinjs-message\'s signed messages verify for all four BIP-137 address types', () => {
  assert.equal(vectors.verify.length, 4);
  for (const v of vectors.verify) {
    assert.deepEqual(verifyBitcoinSignedMessage(v.address, v.message, v.signature, 'mainnet'), { ok: true, addressType: v.type }, v.address);
  }
});

test('DEP-05 known-answer: bitcoinjs-message\'s invalid cases are refused (wrong message, wrong address, compression mismatch)', () => {
  for (const v of vectors.invalid) {
    const result = verifyBitcoinSignedMessage(v.address, v.message, v.signature, 'mainnet');
    assert.equal(result.ok, false, v.description);
  }
});

test('DEP-05 the test signer reproduces bitcoinjs-message\'s d = 1 signatures byte for byte', () => {
  const d = new Uint8Array(32);
  d[31] = 1;
  const v = vectors.sign[0];
  assert.equal(signBip137(d, v.message, 'p2pkh-uncompressed'), v.uncompressed);
  assert.equal(signBip137(d, v.message, 'p2pkh'), v.compressed);
  assert.equal(signBip137(d, v.message, 'p2sh-p2wpkh'), v['p2sh-p2wpkh']);
  assert.equal(signBip137(d, v.message, 'p2wpkh'), v.p2wpkh);
});

test('DEP-05 a BIP-137 proof of the server challenge verifies for every address type on every network, bcoin regtest included', () => {
  const key = secp256k1.utils.randomSecretKey();
  for (const network of ['mainnet', 'testnet', 'regtest', 'bcoin-regtest'] as const) {
    for (const type of Object.keys(HEADER_BASE) as BitcoinMessageAddressType[]) {
      const address = addressFor(key, type, network);
      const message = ownershipChallenge(address, NONCE);
      const result = verifyOwnershipProof({ chain: 'bitcoin', network, address, message, signature: signBip137(key, message, type), nonce: NONCE });
      assert.deepEqual(result, { ok: true, method: 'bip137', addressType: type }, `${network} ${type} ${address}`);
    }
  }
  assert.match(addressFor(key, 'p2wpkh', 'bcoin-regtest'), /^rb1q/);
});

test('DEP-05 Electrum-style proofs (P2PKH-compressed header for a P2WPKH address) verify; an uncompressed-key proof for a P2WPKH address does not', () => {
  const key = secp256k1.utils.randomSecretKey();
  const address = addressFor(key, 'p2wpkh', 'mainnet');
  const message = ownershipChallenge(address, NONCE);
  assert.equal(verifyBitcoinSignedMessage(address, message, signBip137(key, message, 'p2pkh'), 'mainnet').ok, true);
  assert.deepEqual(verifyBitcoinSignedMessage(address, message, signBip137(key, message, 'p2pkh-uncompressed'), 'mainnet'), { ok: false, reason: 'ADDRESS_MISMATCH' });
});

test('DEP-05 BIP-137 refusals: another key\'s address, another message, a tampered signature, another network, a bad header', () => {
  const key = secp256k1.utils.randomSecretKey();
  const otherKey = secp256k1.utils.randomSecretKey();
  const address = addressFor(key, 'p2wpkh', 'bcoin-regtest');
  const message = ownershipChallenge(address, NONCE);
  const signature = signBip137(key, message, 'p2wpkh');
  const proof = { chain: 'bitcoin' as const, network: 'bcoin-regtest', address, message, signature, nonce: NONCE };
  assert.equal(verifyOwnershipProof(proof).ok, true, 'the untouched proof verifies (control)');

  const otherAddress = addressFor(otherKey, 'p2wpkh', 'bcoin-regtest');
  assert.deepEqual(verifyBitcoinSignedMessage(otherAddress, message, signature, 'bcoin-regtest'), { ok: false, reason: 'ADDRESS_MISMATCH' });
  assert.equal(verifyOwnershipProof({ ...proof, address: otherAddress, message: ownershipChallenge(otherAddress, NONCE) }).reason, 'ADDRESS_MISMATCH');
  assert.equal(verifyOwnershipProof({ ...proof, message: `${message} ` }).reason, 'CHALLENGE_MISMATCH');
  assert.equal(verifyOwnershipProof({ ...proof, nonce: 'another-server-nonce-123' }).reason, 'CHALLENGE_MISMATCH');
  assert.equal(verifyBitcoinSignedMessage(address, ownershipChallenge(address, 'another-server-nonce-123'), signature, 'bcoin-regtest').ok, false);
  for (const index of [1, 20, 33, 64]) {
    assert.equal(verifyOwnershipProof({ ...proof, signature: tamper(signature, index) }).ok, false, `byte ${index} flipped`);
  }
  assert.equal(verifyOwnershipProof({ ...proof, network: 'regtest' }).reason, 'ADDRESS_INVALID', 'an rb1 address is not a Core regtest address');
  assert.equal(verifyOwnershipProof({ ...proof, network: 'signet' }).reason, 'NETWORK_UNKNOWN');
  const badHeader = Buffer.from(signature, 'base64');
  badHeader[0] = 43;
  assert.equal(verifyOwnershipProof({ ...proof, signature: badHeader.toString('base64') }).reason, 'SIGNATURE_MALFORMED');
  assert.equal(verifyOwnershipProof({ ...proof, signature: signature.slice(0, -4) }).reason, 'SIGNATURE_MALFORMED');
  assert.equal(verifyOwnershipProof({ ...proof, signature: `${signature}\n` }).reason, 'SIGNATURE_MALFORMED');
});

test('DEP-05 EIP-191 personal_sign proofs from an ethers wallet verify; wrong address, message or signature are refused', async () => {
  const wallet = Wallet.createRandom();
  const other = Wallet.createRandom();
  const message = ownershipChallenge(wallet.address, NONCE);
  const signature = await wallet.signMessage(message);
  const proof = { chain: 'ethereum' as const, network: 'hardhat', address: wallet.address, message, signature, nonce: NONCE };
  assert.deepEqual(verifyOwnershipProof(proof), { ok: true, method: 'eip191' });

  assert.deepEqual(verifyOwnershipProof({ ...proof, address: other.address, message: ownershipChallenge(other.address, NONCE) }), { ok: false, method: 'eip191', reason: 'ADDRESS_MISMATCH' });
  assert.equal(verifyOwnershipProof({ ...proof, message: message.replace(NONCE, 'x'.repeat(20)) }).reason, 'CHALLENGE_MISMATCH');
  const otherNonceMessage = ownershipChallenge(wallet.address, 'another-server-nonce-123');
  assert.equal(verifyOwnershipProof({ ...proof, message: otherNonceMessage, nonce: 'another-server-nonce-123' }).reason, 'ADDRESS_MISMATCH', 'signature over another challenge');
  const tampered = `${signature.slice(0, 10)}${signature[10] === 'a' ? 'b' : 'a'}${signature.slice(11)}`;
  assert.equal(verifyOwnershipProof({ ...proof, signature: tampered }).ok, false);
  assert.equal(verifyOwnershipProof({ ...proof, signature: signature.slice(0, -2) }).reason, 'SIGNATURE_MALFORMED');
  const wrongChecksum = wallet.address.slice(0, 2) + [...wallet.address.slice(2)].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
  assert.notEqual(wrongChecksum, wallet.address, 'a random address has letters (all digits: odds ~1e-8)');
  assert.equal(verifyOwnershipProof({ ...proof, address: wrongChecksum, message: ownershipChallenge(wrongChecksum, NONCE) }).reason, 'ADDRESS_INVALID');
  // Lower-case addresses carry no checksum and are the same account.
  const lower = wallet.address.toLowerCase();
  const lowerMessage = ownershipChallenge(lower, NONCE);
  assert.equal(verifyOwnershipProof({ ...proof, address: lower, message: lowerMessage, signature: await wallet.signMessage(lowerMessage) }).ok, true);
});

test('DEP-05 the challenge text names the address and the nonce, and refuses malformed nonces', () => {
  const text = ownershipChallenge('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', NONCE);
  assert.ok(text.includes('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4') && text.includes(NONCE));
  assert.throws(() => ownershipChallenge('addr', 'short'));
  assert.throws(() => ownershipChallenge('addr\nforged line', NONCE));
  assert.throws(() => ownershipChallenge('addr', `${NONCE}\nmore`));
});
