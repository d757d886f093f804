// The console's pure logic, run in Node 20 (WDR-06, KEY-08): its canonical JSON, intent hash,
// approval and rejection messages are byte for byte those of signer/src/intent.ts and
// src/withdrawals/approvers.ts; its WebCrypto signatures (Ed25519; P-256 turned from P1363 into
// DER) verify exactly as the API and the signer verify them; key files other than PKCS#8 Ed25519
// or P-256 are refused with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign as nodeSign, verify as nodeVerify, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import { approvalMessage as signerApprovalMessage, canonicalJson as signerCanonicalJson, intentHash as signerIntentHash, type Intent } from '../../signer/src/intent.ts';
import { rejectionMessage as apiRejectionMessage } from '../../src/withdrawals/approvers.ts';
import * as console_ from '../../src/console/static/console-core.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The same value with every object's keys in reverse order. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedKeys(v)]));
  return value;
}

/** Any value of the types canonical JSON knows: strings of any code units (lone surrogates and non-NFC text too, which it refuses), booleans, null, bigints, arrays, objects, undefined members. */
const canonicalValue = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.boolean(), fc.constant(null), fc.bigInt()),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.option(tie('node'), { nil: undefined }), { maxKeys: 6 })),
})).node;

/** Its bytes, or the reason it was refused. */
function outcome(canonicalJson: (value: unknown) => string, value: unknown): string {
  try {
    return canonicalJson(value);
  } catch (error) {
    return `refused: ${(error as { reason?: string }).reason ?? String(error)}`;
  }
}

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex);
const digits = fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String);
const instant = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
/** Text as intents and approvals carry it: any Unicode text in NFC (the form canonical JSON accepts). */
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map((t) => t.normalize('NFC'));

/** Intents of the shapes the pipeline builds: BTC with change and several keys, ETH, ERC-20, with and without a screening hash. */
const intentArb: fc.Arbitrary<Intent> = fc.record({
  intentId: fc.uuid(), chain: fc.constantFrom('bitcoin' as const, 'ethereum' as const), network: fc.constantFrom('bcoin-regtest', 'regtest', 'mainnet', '31337', '1'),
  asset: fc.constantFrom('BTC', 'ETH', 'USDT'), tokenContract: fc.option(fc.constant('0x5FbDB2315678afecb367f032d93F642f64180aa3'), { nil: undefined }),
  clientId: fc.uuid(), initiator: text, sourceKeyId: text, sourceKeyIds: fc.option(fc.array(text, { minLength: 1, maxLength: 4 }), { nil: undefined }),
  purpose: fc.option(fc.constantFrom('withdrawal' as const, 'sweep' as const, 'refill' as const), { nil: undefined }),
  outputs: fc.array(fc.record({ address: text, amount: digits, keyId: fc.option(text, { nil: undefined }) }), { minLength: 1, maxLength: 3 }),
  change: fc.option(fc.record({ address: text, keyId: fc.option(text, { nil: undefined }) }), { nil: undefined }),
  feeCap: digits, expiresAt: instant, screeningHash: fc.option(hex64, { nil: undefined }),
});

test('WDR-06 KEY-08 the console’s canonical JSON is the signer’s, byte for byte, for any value, and refuses what the signer refuses (property)', () => {
  fc.assert(fc.property(canonicalValue, (value) => {
    assert.equal(outcome(console_.canonicalJson, value), outcome(signerCanonicalJson, value));
  }), { numRuns: 2000 });
  // Both refuse what must never enter a hash, the same way.
  for (const bad of [0, 1.5, -1, Number.NaN, { amount: 1 }, [1], () => 1, Symbol('s'), [undefined], new Date(0), 'e\u0301', '\ud800']) {
    assert.throws(() => signerCanonicalJson(bad), TypeError);
    assert.throws(() => console_.canonicalJson(bad), TypeError);
  }
});

test('WDR-06 KEY-08 the console’s intent hash, approval message and rejection message are the signer’s and the API’s, byte for byte (property)', async () => {
  await fc.assert(fc.asyncProperty(intentArb, text, instant, instant, text, async (intent, approverId, signedAt, expiresAt, reason) => {
    const hash = signerIntentHash(intent);
    assert.equal(await console_.intentHash(intent), hash);
    // The intent as the console receives it: JSON from the API, its keys in another order (jsonb's).
    assert.equal(await console_.intentHash(reversedKeys(JSON.parse(JSON.stringify(intent)))), hash);
    const statement = { intentHash: hash, approverId, signedAt, expiresAt };
    assert.equal(hex(console_.approvalMessage(statement)), hex(signerApprovalMessage(statement)));
    assert.equal(hex(await console_.rejectionMessage({ ...statement, reason })), hex(apiRejectionMessage({ ...statement, reason })));
    assert.notEqual(hex(console_.approvalMessage(statement)), hex(await console_.rejectionMessage({ ...statement, reason })), 'never the same message');
  }), { numRuns: 300 });
});

test('WDR-06 KEY-08 table: fixed intents hash and sign the same in the console and in the signer', async () => {
  const base: Intent = {
    intentId: '5f0c2b1e-8d1a-4c55-9a55-0e6f4e0d6a11', chain: 'bitcoin', network: 'bcoin-regtest', asset: 'BTC', clientId: '0b7c8f52-59a6-4f0f-9a57-3b5cb0c0b1f2',
    initiator: 'client-user-1', sourceKeyId: 'btc-cold-1', outputs: [{ address: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', amount: '1000000' }],
    change: { address: 'bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf2ynl', keyId: 'btc-cold-2' }, feeCap: '200000', expiresAt: '2026-11-23T10:00:00.000Z',
  };
  const table: [string, Intent][] = [
    ['cold BTC', base],
    ['several source keys', { ...base, sourceKeyIds: ['btc-cold-1', 'btc-cold-3'] }],
    ['with a screening hash', { ...base, screeningHash: 'ab'.repeat(32) }],
    ['optional members undefined are dropped', { ...base, tokenContract: undefined, purpose: undefined, change: undefined }],
    ['ETH', { ...base, chain: 'ethereum', network: '31337', asset: 'ETH', change: undefined, outputs: [{ address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', amount: '1500000000000000000' }], feeCap: '2100000000000000' }],
    ['USDT (ERC-20)', { ...base, chain: 'ethereum', network: '31337', asset: 'USDT', tokenContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3', change: undefined, outputs: [{ address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', amount: '25000000' }], feeCap: '9' }],
    ['unicode and escapes', { ...base, initiator: 'Айгерим "\\" \u2028 \ud83d\ude00 é', sourceKeyId: 'ключ\t1' }],
    ['sweep', { ...base, purpose: 'sweep', outputs: [{ address: base.change!.address, amount: '5', keyId: 'btc-hot-1' }] }],
  ];
  for (const [what, intent] of table) {
    const hash = signerIntentHash(intent);
    assert.equal(await console_.intentHash(intent), hash, what);
    const statement = { intentHash: hash, approverId: 'dev-officer-1', signedAt: '2026-11-22T10:00:00.000Z', expiresAt: '2026-11-22T11:00:00.000Z' };
    assert.equal(hex(console_.approvalMessage(statement)), hex(signerApprovalMessage(statement)), what);
    const reason = 'Destination flagged by the fraud desk – клиент уведомлён';
    assert.equal(hex(await console_.rejectionMessage({ ...statement, reason })), hex(apiRejectionMessage({ ...statement, reason })), what);
  }
  // One pinned vector, so that a change to canonical JSON on both sides at once is still noticed.
  assert.equal(signerCanonicalJson({ b: [true, null, 1n], a: 'x', c: undefined }), '{"a":"x","b":[true,null,"1"]}');
  assert.equal(console_.canonicalJson({ b: [true, null, 1n], a: 'x', c: undefined }), '{"a":"x","b":[true,null,"1"]}');
  assert.equal(await console_.sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('KEY-08 P1363 → DER: the console’s encoding of r || s is the canonical DER (noble’s), for any r and s, and the edge cases', () => {
  fc.assert(fc.property(fc.bigInt({ min: 1n, max: p256.Point.CURVE().n - 1n }), fc.bigInt({ min: 1n, max: p256.Point.CURVE().n - 1n }), (r, s) => {
    const compact = Uint8Array.from(Buffer.from(r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0'), 'hex'));
    assert.equal(hex(console_.p1363ToDer(compact)), hex(p256.Signature.fromBytes(compact, 'compact').toBytes('der')));
  }), { numRuns: 2000 });
  const edge = (rHex: string, sHex: string) => hex(console_.p1363ToDer(Uint8Array.from(Buffer.from(rHex + sHex, 'hex'))));
  const one = '00'.repeat(31) + '01';
  const high = '80' + '00'.repeat(31);
  assert.equal(edge(one, one), '3006020101020101', 'leading zeros stripped');
  assert.equal(edge(high, one), `3026022100${high}020101`, 'a high bit gets a 0x00 in front');
  assert.equal(edge(`0080${'00'.repeat(30)}`, high), `3045022000${'80'}${'00'.repeat(30)}022100${high}`, 'a zero byte before a high bit is kept, once');
  assert.equal(edge('00'.repeat(32), one), '3006020100020101', 'zero is one zero byte');
  for (const bad of [new Uint8Array(63), new Uint8Array(65), new Uint8Array(0)]) assert.throws(() => console_.p1363ToDer(bad), /64 bytes/);
});

function pemOf(algorithm: 'ed25519' | 'p256') {
  const pair = algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: pair.publicKey, privateKey: pair.privateKey };
}

test('KEY-08 WDR-06 the console signs approvals and rejections with an Ed25519 and a P-256 PKCS#8 key as the API verifies them; the key is not extractable', async () => {
  for (const algorithm of ['ed25519', 'p256'] as const) {
    const { pem, publicKey, privateKey } = pemOf(algorithm);
    const signingKey = await console_.importSigningKey(pem);
    assert.equal(signingKey.algorithm, algorithm);
    assert.equal(signingKey.key.extractable, false, 'imported non-extractable');
    assert.deepEqual(signingKey.key.usages, ['sign']);
    await assert.rejects(globalThis.crypto.subtle.exportKey('pkcs8', signingKey.key), 'cannot be read back');
    const intentHash = randomBytes(32).toString('hex');
    const now = new Date('2026-11-22T10:00:00.000Z');
    const approval = await console_.signApproval({ signingKey, approverId: 'officer-x', intentHash, now, validMinutes: 30 });
    assert.deepEqual({ ...approval, signature: undefined }, { approverId: 'officer-x', algorithm, intentHash, signature: undefined,
      signedAt: '2026-11-22T10:00:00.000Z', expiresAt: '2026-11-22T10:30:00.000Z' });
    const message = signerApprovalMessage({ intentHash, approverId: 'officer-x', signedAt: approval.signedAt, expiresAt: approval.expiresAt });
    const signature = Buffer.from(approval.signature, 'base64');
    // Exactly ApproverRegistry.check's verification (and the signer's).
    const verifies = (msg: Buffer, sig: Buffer) => (algorithm === 'ed25519' ? nodeVerify(null, msg, publicKey, sig) : nodeVerify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, sig));
    assert.ok(verifies(message, signature), `${algorithm} approval verifies`);
    if (algorithm === 'p256') assert.equal(signature[0], 0x30, 'DER, not P1363');
    const rejection = await console_.signRejection({ signingKey, approverId: 'officer-x', intentHash, reason: 'Client called: not theirs', now });
    const rejectionBytes = apiRejectionMessage({ intentHash, approverId: 'officer-x', signedAt: rejection.signedAt, expiresAt: rejection.expiresAt, reason: rejection.reason });
    assert.ok(verifies(rejectionBytes, Buffer.from(rejection.signature, 'base64')), `${algorithm} rejection verifies`);
    assert.ok(!verifies(message, Buffer.from(rejection.signature, 'base64')), 'a rejection is no approval');
    // Ed25519 is deterministic: node:crypto with the same key (as `treasury approve` signs) gives the same bytes.
    if (algorithm === 'ed25519') assert.equal(approval.signature, nodeSign(null, message, privateKey).toString('base64'));
  }
  const { pem } = pemOf('ed25519');
  const signingKey = await console_.importSigningKey(pem);
  const hash = 'ab'.repeat(32);
  for (const [validMinutes, ok] of [[1, true], [1440, true], [0, false], [1441, false], [1.5, false], [Number.NaN, false]] as const) {
    const attempt = console_.signApproval({ signingKey, approverId: 'a', intentHash: hash, validMinutes });
    if (ok) await attempt; else await assert.rejects(attempt, { code: 'VALIDITY_INVALID' });
  }
  await assert.rejects(console_.signApproval({ signingKey, approverId: '', intentHash: hash }), { code: 'APPROVER_ID_INVALID' });
  await assert.rejects(console_.signApproval({ signingKey, approverId: 'a', intentHash: 'AB'.repeat(32) }), { code: 'INTENT_HASH_INVALID' });
  for (const reason of ['', '   ', 'line\nbreak', 'tab\there', 'x'.repeat(501)]) {
    await assert.rejects(console_.signRejection({ signingKey, approverId: 'a', intentHash: hash, reason }), { code: 'REASON_INVALID' }, JSON.stringify(reason));
  }
  assert.equal(console_.reasonProblem('x'.repeat(500)), null);
  assert.equal(console_.reasonProblem('Ünïcödé reason 🙂'), null);
});

test('KEY-08 the console refuses key files it cannot use, saying why: encrypted, SEC1, public, RSA, secp256k1, P-384, Ed448, damaged', async () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cases: [string, string, string][] = [
    ['encrypted PKCS#8', generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString(), 'KEY_FILE_UNSUPPORTED'],
    ['SEC1 EC key', ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString(), 'KEY_FILE_UNSUPPORTED'],
    ['public key', ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'KEY_FILE_UNSUPPORTED'],
    ['RSA', generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'KEY_ALGORITHM_UNSUPPORTED'],
    ['secp256k1', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'KEY_ALGORITHM_UNSUPPORTED'],
    ['P-384', generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'KEY_ALGORITHM_UNSUPPORTED'],
    ['Ed448', generateKeyPairSync('ed448').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'KEY_ALGORITHM_UNSUPPORTED'],
    ['not PEM', 'hello', 'KEY_FILE_INVALID'],
    ['bad base64', '-----BEGIN PRIVATE KEY-----\nnot*base64\n-----END PRIVATE KEY-----', 'KEY_FILE_INVALID'],
    ['truncated DER', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----', 'KEY_FILE_INVALID'],
    ['huge file', `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(20_000)}\n-----END PRIVATE KEY-----`, 'KEY_FILE_INVALID'],
  ];
  for (const [what, pem, code] of cases) {
    await assert.rejects(console_.importSigningKey(pem), (error: { code?: string; message?: string }) => {
      assert.equal(error.code, code, `${what}: ${error.message}`);
      const body = pem.replace(/-----[A-Z0-9 ]+-----|\s/g, '');
      for (let i = 0; i + 16 <= body.length; i += 16) assert.ok(!(error.message ?? '').includes(body.slice(i, i + 16)), `${what}: the message never echoes the key`);
      return true;
    }, what);
  }
  assert.equal(console_.describeError(new console_.ConsoleError('KEY_FILE_UNSUPPORTED', 'x')), 'KEY_FILE_UNSUPPORTED: x');
  // A PEM with text around it (as some tools write) is fine.
  const { pem } = pemOf('p256');
  assert.equal((await console_.importSigningKey(`Bag Attributes\n${pem}\n`)).algorithm, 'p256');
  assert.equal(createPublicKey(pem).asymmetricKeyType, 'ec');
});

test('WDR-06 the console will not sign an intent that does not hash to the hash it is asked to sign, or that disagrees with the withdrawal shown', async () => {
  const intent: Intent = {
    intentId: 'w-1', chain: 'bitcoin', network: 'bcoin-regtest', asset: 'BTC', clientId: 'c0ffee00-0000-4000-8000-000000000001', initiator: 'u',
    sourceKeyId: 'k', outputs: [{ address: 'bcrt1qdest', amount: '1000000' }], feeCap: '200000', expiresAt: '2026-11-23T10:00:00.000Z',
  };
  const item = {
    withdrawal: { id: 'c0ffee00-0000-4000-8000-0000000000aa', clientId: intent.clientId, asset: 'BTC', chain: 'bitcoin', amount: '0.01', destination: 'bcrt1qdest',
      destinationType: 'self_hosted', state: 'approvals', sourceTier: 'cold', approvalsRequired: 2, policy: null },
    intent: intent as unknown as Record<string, unknown>, intentHash: signerIntentHash(intent), approvals: [],
  };
  const assets = new Map([['BTC', { code: 'BTC', decimals: 8 }]]);
  assert.deepEqual(await console_.checkIntent(item, assets), { ok: true, computedHash: item.intentHash, problems: [] });
  const tampered: [string, typeof item][] = [
    ['another destination in the intent', { ...item, intent: { ...intent, outputs: [{ address: 'bcrt1qattacker', amount: '1000000' }] } }],
    ['another amount in the intent', { ...item, intent: { ...intent, outputs: [{ address: 'bcrt1qdest', amount: '100000000' }] } }],
    ['a second output', { ...item, intent: { ...intent, outputs: [...intent.outputs, { address: 'bcrt1qattacker', amount: '1' }] } }],
    ['the hash of another intent', { ...item, intentHash: 'ab'.repeat(32) }],
    ['another client', { ...item, withdrawal: { ...item.withdrawal, clientId: 'c0ffee00-0000-4000-8000-000000000002' } }],
    ['a number smuggled into the intent', { ...item, intent: { ...intent, feeCap: 5 } as unknown as Record<string, unknown> }],
    ['an asset the registry does not know', { ...item, withdrawal: { ...item.withdrawal, asset: 'DOGE' }, intent: { ...intent, asset: 'DOGE' } }],
  ];
  const { pem } = pemOf('ed25519');
  const signingKey = await console_.importSigningKey(pem);
  let calls = 0;
  const api = console_.createApiClient({ apiKey: 'amk_test', fetch: async () => { calls++; return new Response('{}'); } });
  for (const [what, bad] of tampered) {
    // Re-hash where the tampering is in the intent, so only the cross-check can catch it.
    const rehashed = what.startsWith('the hash') || what.startsWith('a number') ? bad : { ...bad, intentHash: signerIntentHash(bad.intent as unknown as Intent) };
    const check = await console_.checkIntent(rehashed, assets);
    assert.equal(check.ok, false, what);
    await assert.rejects(console_.approveWithdrawal({ api, signingKey, approverId: 'a', item: rehashed, assets }), { code: 'INTENT_CHECK_FAILED' }, what);
    await assert.rejects(console_.rejectWithdrawal({ api, signingKey, approverId: 'a', item: rehashed, assets, reason: 'r' }), { code: 'INTENT_CHECK_FAILED' }, what);
  }
  assert.equal(calls, 0, 'nothing was sent');
});

test('WDR-06 the console’s API client sends the key as a bearer token only, an Idempotency-Key on writes, and keeps problem+json whole', async () => {
  const seen: { url: string; init: RequestInit }[] = [];
  const fake = async (url: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(url), init: init ?? {} });
    return new Response(JSON.stringify({ type: 'urn:amanat:problem:approval-invalid', title: 'APPROVAL_INVALID', status: 422, code: 'APPROVAL_INVALID',
      detail: 'approval by x does not verify under the registered key', reason: 'APPROVAL_SIGNATURE_INVALID' }), { status: 422, headers: { 'content-type': 'application/problem+json' } });
  };
  const api = console_.createApiClient({ apiKey: '  amk_secret-value  ', baseUrl: 'http://api.test', fetch: fake, idempotencyKey: () => 'idem-1' });
  const body = { approverId: 'x', algorithm: 'ed25519' as const, intentHash: 'ab'.repeat(32), signature: 'c2ln', signedAt: 'a', expiresAt: 'b' };
  const error = await api.approve('c0ffee00-0000-4000-8000-0000000000aa', body).catch((e: unknown) => e);
  assert.ok(error instanceof console_.ApiError);
  assert.equal(console_.describeError(error), '422 APPROVAL_INVALID: approval by x does not verify under the registered key (reason: APPROVAL_SIGNATURE_INVALID)');
  assert.ok(!console_.describeError(error).includes('amk_secret-value'), 'never the key');
  const sent = seen[0]!;
  assert.equal(sent.url, 'http://api.test/v1/treasury/approvals/c0ffee00-0000-4000-8000-0000000000aa');
  const headers = sent.init.headers as Record<string, string>;
  assert.equal(headers.authorization, 'Bearer amk_secret-value');
  assert.equal(headers['idempotency-key'], 'idem-1');
  assert.equal(sent.init.credentials, 'omit', 'no cookies: the bearer token is the only credential');
  assert.ok(!sent.url.includes('secret'), 'never in the URL');
  assert.deepEqual(JSON.parse(String(sent.init.body)), body);
  await assert.rejects(api.approve('../../v1/api-keys', body), { code: 'WITHDRAWAL_ID_INVALID' });
  assert.throws(() => console_.createApiClient({ apiKey: '' }), { code: 'API_KEY_MISSING' });
  assert.throws(() => console_.createApiClient({ apiKey: 'has space' }), { code: 'API_KEY_MISSING' });
  const offline = console_.createApiClient({ apiKey: 'k', fetch: async () => { throw new TypeError('fetch failed'); } });
  await assert.rejects(offline.pending(), { code: 'NETWORK_ERROR' });
});
