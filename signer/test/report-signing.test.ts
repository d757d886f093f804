// REC-05 (report signing, issue 12 §4): the signer's report key, as an attacker who controls the
// API would use it. The real signer as a separate process against SoftHSM2. The report key signs
// sha256('amanat-report-v1\n' + canonicalJson(manifest)) for a well-formed manifest the signer
// parsed itself; it takes no digest, no bytes and no key id from the caller, and it never signs a
// transaction; no wallet key ever signs a report.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { canonicalJson } from '../src/canonical-json.js';
import { REPORT_DOMAIN_PREFIX, reportDigest, verifyReportSignature, type ReportManifest } from '../src/report-manifest.ts';
import {
  buildPsbt, isoIn, makeApprover, p2wpkhAddress, prepareSigner, randomEthAddress, randomUtxo, startSigner, testPolicy, unsignedEthTx,
  type SignerHarness,
} from './helpers.ts';

const alice = makeApprover('treasury-alice', 'user-alice', 'ed25519');
const bob = makeApprover('treasury-bob', 'user-bob', 'p256');
let prepared: ReturnType<typeof prepareSigner>;
let signer: SignerHarness;

const hash = (text: string): string => createHash('sha256').update(text).digest('hex');

function manifest(extra: Partial<Record<keyof ReportManifest, unknown>> = {}): Record<string, unknown> {
  return {
    type: 'amanat-report-manifest-v1', kind: 'reconciliation', reportKey: '2026-12-03', contentHash: hash('content'),
    files: { json: hash('json'), csv: hash('csv'), pdf: hash('pdf') }, signedAt: new Date().toISOString(), ...extra,
  };
}

const reportSignatures = (): number => signer.output().split('\n').filter((line) => line.includes('"event":"report-signed"')).length;

async function refused(body: unknown, expectedStatus = 400): Promise<void> {
  const before = reportSignatures();
  const response = await signer.call('POST', '/reports/sign', body);
  assert.equal(response.status, expectedStatus, JSON.stringify(response.body));
  assert.equal(response.body.signature, undefined, 'a refusal carries no signature');
  assert.equal(reportSignatures(), before, 'nothing was signed');
}

before(async () => {
  prepared = prepareSigner('report-signing', testPolicy([alice, bob], 2));
  signer = await startSigner(prepared);
});

after(async () => {
  await signer.stop();
});

describe('report key', () => {
  test('REC-05 the report key is created once, survives a restart, and is a house key of its own usage', async () => {
    const [a, b] = await Promise.all([signer.call('GET', '/reports/key'), signer.call('GET', '/reports/key')]);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.keyId, b.body.keyId, 'concurrent first calls create one key');
    assert.match(a.body.publicKey, /^(02|03)[0-9a-f]{64}$/);
    assert.equal(a.body.algorithm, 'ecdsa-secp256k1-sha256');
    const count = await signer.call('GET', '/keys/count');
    assert.equal(count.body.byUsage.report, 1);
    const listed = (await signer.call('GET', '/keys')).body.keys.filter((key: { usage: string }) => key.usage === 'report');
    assert.equal(listed.length, 1);
    assert.equal(listed[0].clientId, 'house');
    await signer.stop();
    signer = await startSigner(prepared);
    const again = await signer.call('GET', '/reports/key');
    assert.equal(again.body.keyId, a.body.keyId);
    assert.equal(again.body.publicKey, a.body.publicKey);
    assert.equal((await signer.call('GET', '/keys/count')).body.byUsage.report, 1);
  });

  test('REC-05 a well-formed manifest is signed over sha256(domain prefix + canonical JSON), and verifies with the report key', async () => {
    const body = manifest();
    const response = await signer.call('POST', '/reports/sign', { manifest: body });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const key = (await signer.call('GET', '/reports/key')).body;
    assert.equal(response.body.publicKey, key.publicKey);
    const digest = createHash('sha256').update(REPORT_DOMAIN_PREFIX + canonicalJson(body)).digest();
    assert.equal(response.body.digest, digest.toString('hex'));
    assert.ok(secp256k1.verify(Buffer.from(response.body.signature, 'hex'), digest, Buffer.from(key.publicKey, 'hex'), { prehash: false, lowS: true, format: 'compact' }));
    assert.deepEqual(verifyReportSignature(body, response.body.signature, key.publicKey), { ok: true });
    // The signature is bound to every field: another file hash does not verify.
    const other = { ...body, files: { ...(body.files as object), pdf: hash('other pdf') } };
    assert.equal(verifyReportSignature(other, response.body.signature, key.publicKey).ok, false);
  });

  test('REC-05 an attacker cannot get a chosen digest, raw bytes or a malformed manifest signed by the report key', async () => {
    const digest = randomBytes(32).toString('hex');
    await refused({ digest });
    await refused({ hash: digest, keyId: (await signer.call('GET', '/reports/key')).body.keyId });
    await refused({ message: 'amanat-report-v1\n{}' });
    await refused({ manifest: manifest(), digest });                                  // extra member beside the manifest
    await refused({ manifest: { ...manifest(), digest } });                           // extra member in the manifest
    await refused({ manifest: { ...manifest(), type: 'amanat-report-manifest-v2' } });
    await refused({ manifest: manifest({ kind: 'transaction' }) });
    await refused({ manifest: manifest({ contentHash: digest.toUpperCase() }) });
    await refused({ manifest: manifest({ contentHash: `${digest}00` }) });
    await refused({ manifest: manifest({ files: { json: digest, csv: digest } }) });
    await refused({ manifest: manifest({ files: { json: digest, csv: digest, pdf: digest, exe: digest } }) });
    await refused({ manifest: manifest({ signedAt: '2026-12-04T10:00:00+01:00' }) });
    await refused({ manifest: manifest({ signedAt: '2026-02-30T10:00:00.000Z' }) });
    await refused({ manifest: manifest({ signedAt: 1_700_000_000 }) });
    await refused({ manifest: manifest({ reportKey: 'a\nb' }) });
    await refused({ manifest: manifest({ reportKey: 'x'.repeat(201) }) });
    await refused({ manifest: manifest({ reportKey: 'caf\u00e9' }) });
    await refused(digest);
    await refused([manifest()]);
    await refused({ manifest: manifest(), ethereumTx: unsignedEthTx({ to: randomEthAddress(), value: 1n, nonce: 0 }) });
    // The signed message always starts with the domain prefix, whatever the caller sends.
    const sent = manifest({ reportKey: 'ab' });
    const signed = await signer.call('POST', '/reports/sign', { manifest: sent });
    assert.equal(signed.status, 200);
    assert.equal(signed.body.digest, reportDigest(sent as ReportManifest).toString('hex'));
    assert.notEqual(signed.body.digest, createHash('sha256').update(canonicalJson(sent)).digest('hex'), 'the prefix is part of what is signed');
  });

  test('REC-05 the report key never signs a transaction: not as the source, not as an input, not as a destination', async () => {
    const reportKey = (await signer.call('GET', '/reports/key')).body;
    const replayBefore = (await signer.call('GET', '/health')).body.replayEntries as number;
    // An Ethereum transaction from the report key's address, for the house.
    const to = randomEthAddress();
    const eth = await signer.call('POST', '/sign', {
      requestId: 'attack-eth', approvals: [],
      intent: { intentId: 'attack-eth', chain: 'ethereum', network: '31337', asset: 'ETH', clientId: 'house', initiator: 'mallory',
        sourceKeyId: reportKey.keyId, outputs: [{ address: to, amount: '1' }], feeCap: '100000000000000', expiresAt: isoIn(600_000) },
      transaction: { ethereumTx: unsignedEthTx({ to, value: 1n, nonce: 0 }) },
    });
    assert.equal(eth.body.code, 'KEY_NOT_ACTIVE', JSON.stringify(eth.body));
    // A Bitcoin spend of a coin locked to the report key.
    const utxo = randomUtxo(100_000n, reportKey.publicKey);
    const destination = p2wpkhAddress(reportKey.publicKey);
    const psbt = buildPsbt({ sourcePublicKey: reportKey.publicKey, utxos: [utxo], outputs: [{ address: destination, value: 90_000n }] });
    const btc = await signer.call('POST', '/sign', {
      requestId: 'attack-btc', approvals: [],
      intent: { intentId: 'attack-btc', chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'house', initiator: 'mallory',
        sourceKeyId: reportKey.keyId, outputs: [{ address: destination, amount: '90000' }], feeCap: '20000', expiresAt: isoIn(600_000) },
      transaction: { psbt },
    });
    assert.equal(btc.body.code, 'KEY_NOT_ACTIVE', JSON.stringify(btc.body));
    // A house hot key may not sweep into the report key either (it is no wallet).
    const house = (await signer.call('POST', '/keys', { label: 'house-hot', tier: 'hot', clientId: 'house' })).body;
    const houseUtxo = randomUtxo(100_000n, house.publicKey);
    const sweepPsbt = buildPsbt({ sourcePublicKey: house.publicKey, utxos: [houseUtxo], outputs: [{ address: destination, value: 90_000n }] });
    const sweep = await signer.call('POST', '/sign', {
      requestId: 'attack-sweep', approvals: [],
      intent: { intentId: 'attack-sweep', chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'house', initiator: 'mallory', purpose: 'sweep',
        sourceKeyId: house.id, outputs: [{ address: destination, amount: '90000', keyId: reportKey.keyId }], feeCap: '20000', expiresAt: isoIn(600_000) },
      transaction: { psbt: sweepPsbt },
    });
    assert.ok(sweep.status >= 400 && sweep.status < 500, JSON.stringify(sweep.body));
    assert.equal(sweep.body.txHex, undefined);
    // Nor is it wrapped for backup.
    const wrap = await signer.call('POST', `/keys/${reportKey.keyId}/backup`, { ceremonyId: 'c1', kekComponents: [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')] });
    assert.equal(wrap.body.code, 'KEY_NOT_ACTIVE');
    assert.equal((await signer.call('GET', '/health')).body.replayEntries, replayBefore, 'nothing was signed');
  });
});
