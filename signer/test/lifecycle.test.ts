// Key lifecycle against SoftHSM2: non-extractable keys, the backup ceremony, the key count, and a
// replay log that survives a restart of the signer process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { intentHash, type Intent } from '../src/intent.ts';
import {
  approve, buildPsbt, isoIn, makeApprover, p2wpkhAddress, prepareSigner, randomP2wpkhAddress, randomUtxo, startSigner, testPolicy,
  type SignerHarness,
} from './helpers.ts';

const P = pkcs11js;
const alice = makeApprover('treasury-alice', 'user-alice', 'ed25519');
const bob = makeApprover('treasury-bob', 'user-bob', 'p256');
const prepared = prepareSigner('signer-lifecycle', testPolicy([alice, bob], 2));
let signer: SignerHarness;

before(async () => {
  signer = await startSigner(prepared);
});

after(async () => {
  await signer?.stop();
});

async function createKey(body: Record<string, unknown>): Promise<{ id: string; publicKey: string; tier: string; backup: boolean }> {
  const response = await signer.call('POST', '/keys', body);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

/** Opens the token directly, as an attacker with the PIN on the signer host would. */
function withToken<T>(tier: 'hot' | 'cold', work: (module: pkcs11js.PKCS11, session: Handle) => T): T {
  process.env.SOFTHSM2_CONF = prepared.hsm.confPath;
  const module = new P.PKCS11();
  module.load(prepared.hsm.modulePath);
  module.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  try {
    const label = prepared.hsm.tokens[tier].label;
    const slot = module.C_GetSlotList(true).find((candidate) => module.C_GetTokenInfo(candidate).label.trim() === label);
    assert.ok(slot, `token ${label}`);
    const session = module.C_OpenSession(slot, P.CKF_RW_SESSION | P.CKF_SERIAL_SESSION);
    module.C_Login(session, P.CKU_USER, readFileSync(prepared.hsm.tokens[tier].pinFile, 'utf8').trim());
    return work(module, session);
  } finally {
    module.C_Finalize();
  }
}

function privateHandle(module: pkcs11js.PKCS11, session: Handle, keyId: string): Handle {
  module.C_FindObjectsInit(session, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }, { type: P.CKA_ID, value: Buffer.from(keyId, 'hex') }]);
  const [handle] = module.C_FindObjects(session, 2);
  module.C_FindObjectsFinal(session);
  assert.ok(handle, `private key ${keyId} is in the token`);
  return handle;
}

test('KEY-02 reading a private key value from the token fails with CKR_ATTRIBUTE_SENSITIVE', async () => {
  const key = await createKey({ label: 'export-probe', tier: 'hot', clientId: 'client-a' });
  withToken('hot', (module, session) => {
    const handle = privateHandle(module, session, key.id);
    const [sensitive, extractable, neverExtractable] = module.C_GetAttributeValue(session, handle, [{ type: P.CKA_SENSITIVE }, { type: P.CKA_EXTRACTABLE }, { type: P.CKA_NEVER_EXTRACTABLE }]);
    assert.deepEqual([sensitive?.value, extractable?.value, neverExtractable?.value], [Buffer.from([1]), Buffer.from([0]), Buffer.from([1])]);
    assert.throws(() => module.C_GetAttributeValue(session, handle, [{ type: P.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
  });
});

test('KEY-02 a PKCS#11 wrap of a non-backup key fails with CKR_KEY_UNEXTRACTABLE, directly and through the API', async () => {
  const key = await createKey({ label: 'no-backup', tier: 'cold', clientId: 'client-a' });
  withToken('cold', (module, session) => {
    const kek = module.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, [{ type: P.CKA_VALUE_LEN, value: 32 }, { type: P.CKA_TOKEN, value: false }, { type: P.CKA_WRAP, value: true }]);
    assert.throws(() => module.C_WrapKey(session, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kek, privateHandle(module, session, key.id), Buffer.alloc(4096)), /CKR_KEY_UNEXTRACTABLE/);
  });
  const response = await signer.call('POST', `/keys/${key.id}/backup`, { ceremonyId: 'c-1', kekComponents: [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')] });
  assert.equal(response.status, 403);
  assert.equal(response.body.code, 'KEY_NOT_EXTRACTABLE');
  assert.equal(response.body.blob, undefined);
});

test('KEY-04 a key created under the backup ceremony wraps, restores into the backup token and proves the same public key', async () => {
  const key = await createKey({ label: 'ceremony-key', tier: 'cold', clientId: 'client-a', backup: true });
  assert.equal(key.backup, true);
  withToken('cold', (module, session) => {
    // Still sensitive: even a backup key's value cannot be read in the clear.
    assert.throws(() => module.C_GetAttributeValue(session, privateHandle(module, session, key.id), [{ type: P.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
  });
  const components = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
  const wrapped = await signer.call('POST', `/keys/${key.id}/backup`, { ceremonyId: 'ceremony-7', kekComponents: components });
  assert.equal(wrapped.status, 200, JSON.stringify(wrapped.body));
  const blob = Buffer.from(wrapped.body.blob, 'base64');
  assert.ok(blob.length > 32);
  const backupKeys = async (): Promise<number> => (await signer.call('GET', '/keys/count')).body.byTier.backup;
  const backupKeysBefore = await backupKeys();
  const wrong = await signer.call('POST', '/keys/restore', { ceremonyId: 'ceremony-7', kekComponents: [components[0], randomBytes(32).toString('hex')], blob: wrapped.body.blob, sourceKeyId: key.id, label: 'restored', publicKey: key.publicKey });
  // A wrong KEK fails the AES key wrap's integrity check inside the HSM (RFC 5649): nothing is unwrapped.
  assert.deepEqual([wrong.status, wrong.body.code], [502, 'HSM_ERROR'], 'a wrong KEK component cannot restore');
  assert.match(wrong.body.message, /unwrap the backup/);
  assert.equal(await backupKeys(), backupKeysBefore, 'no key landed in the backup token');
  const restored = await signer.call('POST', '/keys/restore', { ceremonyId: 'ceremony-7', kekComponents: components, blob: wrapped.body.blob, sourceKeyId: key.id, label: 'restored', publicKey: key.publicKey });
  assert.equal(restored.status, 201, JSON.stringify(restored.body));
  assert.equal(restored.body.tier, 'backup');
  assert.equal(restored.body.publicKey, key.publicKey);
  const proof = await signer.call('POST', `/keys/${restored.body.id}/prove`, { message: 'drill 2026-Q1' });
  assert.equal(proof.status, 200, JSON.stringify(proof.body));
  assert.equal(secp256k1.verify(Buffer.from(proof.body.signature, 'hex'), Buffer.from(proof.body.digest, 'hex'), Buffer.from(key.publicKey, 'hex'), { prehash: false }), true);
});

test('KEY-09 the key count equals the HSM enumeration per tier and reconciles with the registry', async () => {
  const count = await signer.call('GET', '/keys/count');
  assert.equal(count.status, 200);
  const listed = (await signer.call('GET', '/keys')).body.keys as { tier: string }[];
  const hsmCount = (tier: 'hot' | 'cold'): number => withToken(tier, (module, session) => {
    module.C_FindObjectsInit(session, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }]);
    const handles = module.C_FindObjects(session, 1000);
    module.C_FindObjectsFinal(session);
    return handles.length;
  });
  assert.equal(count.body.byTier.hot, hsmCount('hot'));
  assert.equal(count.body.byTier.cold, hsmCount('cold'));
  assert.equal(count.body.total, listed.length);
  assert.equal(count.body.reconciled, true);
  assert.match(count.body.method, /private-key object/);
});

test('HOT-05 the tier of a key is the token it lives in', async () => {
  const hot = await createKey({ label: 'tier-hot', tier: 'hot', clientId: 'client-t' });
  const cold = await createKey({ label: 'tier-cold', tier: 'cold', clientId: 'client-t' });
  withToken('hot', (module, session) => { privateHandle(module, session, hot.id); });
  withToken('cold', (module, session) => { privateHandle(module, session, cold.id); });
  withToken('hot', (module, session) => {
    module.C_FindObjectsInit(session, [{ type: P.CKA_ID, value: Buffer.from(cold.id, 'hex') }]);
    assert.equal(module.C_FindObjects(session, 2).length, 0, 'the cold key is not in the hot token');
    module.C_FindObjectsFinal(session);
  });
});

test('KEY-08 after a restart the replay log still refuses an outpoint signed before it for a different intent', async () => {
  const key = await createKey({ label: 'restart', tier: 'cold', clientId: 'client-r' });
  const own = p2wpkhAddress(key.publicKey);
  const utxo = randomUtxo(500_000n);
  const makeIntent = (to: string): Intent => ({
    intentId: `restart-${to}`, chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'client-r', initiator: 'user-ivan', sourceKeyId: key.id,
    outputs: [{ address: to, amount: '100000' }], change: { address: own }, feeCap: '10000', expiresAt: isoIn(3600_000),
  });
  const payee = randomP2wpkhAddress();
  const first = makeIntent(payee);
  const psbt = buildPsbt({ sourcePublicKey: key.publicKey, utxos: [utxo], outputs: [{ address: payee, value: 100_000n }, { address: own, value: 395_000n }] });
  const approvals = (intent: Intent): Record<string, string>[] => [approve(alice, intentHash(intent)), approve(bob, intentHash(intent))];
  const replayEntries = async (): Promise<number> => (await signer.call('GET', '/health')).body.replayEntries;
  const entriesBefore = await replayEntries();
  const signed = await signer.call('POST', '/sign', { requestId: 'restart-1', intent: first, transaction: { psbt }, approvals: approvals(first) });
  assert.equal(signed.status, 200, JSON.stringify(signed.body));
  const entriesSigned = await replayEntries();
  assert.ok(entriesSigned > entriesBefore, 'the signature is in the replay log');

  await signer.stop();
  signer = await startSigner(prepared);
  assert.equal(await replayEntries(), entriesSigned, 'every entry read back after the restart');

  const thief = randomP2wpkhAddress();
  const second = makeIntent(thief);
  const psbt2 = buildPsbt({ sourcePublicKey: key.publicKey, utxos: [utxo], outputs: [{ address: thief, value: 100_000n }, { address: own, value: 395_000n }] });
  const refused = await signer.call('POST', '/sign', { requestId: 'restart-2', intent: second, transaction: { psbt: psbt2 }, approvals: approvals(second) });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.code, 'REPLAY_CONFLICT');
  const reused = await signer.call('POST', '/sign', { requestId: 'restart-1', intent: second, transaction: { psbt: psbt2 }, approvals: approvals(second) });
  assert.deepEqual([reused.status, reused.body.code], [409, 'REPLAY_CONFLICT']);
  const again = await signer.call('POST', '/sign', { requestId: 'restart-1', intent: first, transaction: { psbt }, approvals: approvals(first) });
  assert.equal(again.status, 200);
  assert.equal(again.body.txHex, signed.body.txHex, 'the same request after a restart returns the first answer');
  // Keys survive the restart too.
  const listed = (await signer.call('GET', '/keys')).body.keys as { id: string; publicKey: string }[];
  assert.deepEqual(listed.filter((entry) => entry.id === key.id).map((entry) => entry.publicKey), [key.publicKey]);
});
