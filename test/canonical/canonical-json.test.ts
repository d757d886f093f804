// One canonical JSON (KEY-08, WDR-06; issue 11 §2): what is hashed and signed comes from one module,
// signer/src/canonical-json.js. The same table of inputs goes through the service's entry point
// (src/platform/canonical.ts), the signer's (signer/src/intent.ts) and the console's
// (src/console/static/console-core.js, imported in Node as the browser imports it): the valid ones
// give byte-identical output (pinned here), the others the same refusal (reason and path). The
// hashes of today's inputs are pinned as the three implementations computed them before they became
// one, and the old implementations are kept below as oracles for property tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import * as service from '../../src/platform/canonical.ts';
import * as signer from '../../signer/src/intent.ts';
import { SignerError } from '../../signer/src/errors.ts';
import * as consoleCore from '../../src/console/static/console-core.js';
import { CanonicalJsonError, MAX_DEPTH } from '../../signer/src/canonical-json.js';
import { rejectionMessage as apiRejectionMessage } from '../../src/withdrawals/approvers.ts';
import { buildScreeningRecord, screeningHash, type ScreeningResult } from '../../src/screening/index.ts';
import { CANONICAL_JSON_FILE, CONSOLE_STATIC_DIR } from '../../src/console/console-routes.ts';

const root = path.resolve(import.meta.dirname, '../..');
const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

/** The three entry points, by name. */
const ENTRY_POINTS: [string, (value: unknown) => string][] = [
  ['service (src/platform/canonical.ts)', service.canonicalJson],
  ['signer (signer/src/intent.ts)', signer.canonicalJson],
  ['console (console-core.js)', consoleCore.canonicalJson],
];

const btcIntent: signer.Intent = {
  intentId: '5f0c2b1e-8d1a-4c55-9a55-0e6f4e0d6a11', chain: 'bitcoin', network: 'bcoin-regtest', asset: 'BTC', clientId: '0b7c8f52-59a6-4f0f-9a57-3b5cb0c0b1f2',
  initiator: 'client-user-1', sourceKeyId: 'btc-cold-1', sourceKeyIds: ['btc-cold-1', 'btc-cold-3'], purpose: 'withdrawal',
  outputs: [{ address: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', amount: '1000000' }],
  change: { address: 'bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf2ynl', keyId: 'btc-cold-2' }, feeCap: '200000', expiresAt: '2026-11-23T10:00:00.000Z',
  screeningHash: 'ab'.repeat(32),
};
const usdtIntent: signer.Intent = {
  intentId: '7d3f1a9c-2b4e-4f60-8a1d-9c0e5b7a3f21', chain: 'ethereum', network: '31337', asset: 'USDT', tokenContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  clientId: '0b7c8f52-59a6-4f0f-9a57-3b5cb0c0b1f2', initiator: 'Айгерим', sourceKeyId: 'eth-hot-1', outputs: [{ address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', amount: '25000000' }],
  feeCap: '2100000000000000', expiresAt: '2026-11-23T10:00:00.000Z',
};
const statement = { intentHash: 'c39bc356693f59ddacc73b8c5a617e239a2245cdc991037a58f528724e61842e', approverId: 'dev-officer-1', signedAt: '2026-11-22T10:00:00.000Z', expiresAt: '2026-11-22T11:00:00.000Z' };

const nest = (levels: number): unknown => (levels === 0 ? 'x' : [nest(levels - 1)]);

/** Valid inputs and their bytes, written out. */
const VALID: [string, unknown, string][] = [
  ['the cold BTC intent (several keys, screening hash)', btcIntent,
    '{"asset":"BTC","chain":"bitcoin","change":{"address":"bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf2ynl","keyId":"btc-cold-2"},'
    + '"clientId":"0b7c8f52-59a6-4f0f-9a57-3b5cb0c0b1f2","expiresAt":"2026-11-23T10:00:00.000Z","feeCap":"200000","initiator":"client-user-1",'
    + '"intentId":"5f0c2b1e-8d1a-4c55-9a55-0e6f4e0d6a11","network":"bcoin-regtest","outputs":[{"address":"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080","amount":"1000000"}],'
    + `"purpose":"withdrawal","screeningHash":"${'ab'.repeat(32)}","sourceKeyId":"btc-cold-1","sourceKeyIds":["btc-cold-1","btc-cold-3"]}`],
  ['the approval statement', { type: 'amanat-approval-v1', ...statement },
    `{"approverId":"dev-officer-1","expiresAt":"2026-11-22T11:00:00.000Z","intentHash":"${statement.intentHash}","signedAt":"2026-11-22T10:00:00.000Z","type":"amanat-approval-v1"}`],
  ['undefined members are left out; bigint is a decimal string', { b: [true, null, 1n], a: 'x', c: undefined }, '{"a":"x","b":[true,null,"1"]}'],
  ['bigints: zero, negative, beyond 2^53', [0n, -5n, 10n ** 30n], '["0","-5","1000000000000000000000000000000"]'],
  ['keys sorted by UTF-16 code units (an astral key before U+FFFF; "10" before "2")', { b: '1', a: '2', B: '3', é: '4', '😀': '5', '\uffff': '6', 10: '7', 2: '8' },
    '{"10":"7","2":"8","B":"3","a":"2","b":"1","é":"4","😀":"5","\uffff":"6"}'],
  ['escapes as JSON.stringify writes them (U+2028 raw, controls escaped)', 'quote " backslash \\ newline \n tab \t nul \u0000 ls \u2028 del \u007f',
    '"quote \\" backslash \\\\ newline \\n tab \\t nul \\u0000 ls \u2028 del \u007f"'],
  ['NFC text: precomposed Latin, Cyrillic, Hangul, an emoji pair', 'José Айгерим 한국 😀', '"José Айгерим 한국 😀"'],
  ['empty object, empty array, nested empties', { a: {}, b: [], c: [[], {}] }, '{"a":{},"b":[],"c":[[],{}]}'],
  ['an object without a prototype', Object.assign(Object.create(null) as object, { z: 'last', a: 'first' }), '{"a":"first","z":"last"}'],
  ['an own "__proto__" member from JSON.parse', JSON.parse('{"__proto__":"x","a":"y"}'), '{"__proto__":"x","a":"y"}'],
  [`nesting of exactly ${MAX_DEPTH} levels`, nest(MAX_DEPTH), `${'['.repeat(MAX_DEPTH)}"x"${']'.repeat(MAX_DEPTH)}`],
  ['null, true, false', [null, true, false], '[null,true,false]'],
];

const cyclic: Record<string, unknown> = { a: 'x' };
cyclic.self = cyclic;
class Decimal { constructor(readonly digits: string) {} }

/** Inputs all three refuse, with the reason and where. */
const REFUSED: [string, unknown, string, string][] = [
  ['an integer', 0, 'number', '$'],
  ['a float', 1.5, 'number', '$'],
  ['negative zero', -0, 'number', '$'],
  ['NaN', Number.NaN, 'number', '$'],
  ['Infinity', Number.POSITIVE_INFINITY, 'number', '$'],
  ['an amount as a JSON number inside an intent', { ...btcIntent, outputs: [{ address: btcIntent.outputs[0]!.address, amount: 1_000_000 }] }, 'number', '$.outputs[0].amount'],
  ['a number in an array', ['1', 2], 'number', '$[1]'],
  ['a Date', new Date('2026-11-23T10:00:00.000Z'), 'date', '$'],
  ['a Date as the intent expiry', { ...btcIntent, expiresAt: new Date('2026-11-23T10:00:00.000Z') }, 'date', '$.expiresAt'],
  ['a decomposed (NFD) é', 'Jose\u0301', 'string-not-nfc', '$'],
  ['an NFD initiator in an intent', { ...usdtIntent, initiator: 'Jose\u0301' }, 'string-not-nfc', '$.initiator'],
  ['decomposed Hangul', '\u1100\u1161', 'string-not-nfc', '$'],
  ['the Angstrom sign (a singleton: NFC makes it Å)', '\u212b', 'string-not-nfc', '$'],
  ['an NFD object key', { 'e\u0301': 'x' }, 'string-not-nfc', '$["e\u0301"]'],
  ['a lone high surrogate', '\ud800', 'string-not-well-formed', '$'],
  ['a lone low surrogate', 'a\udc00', 'string-not-well-formed', '$'],
  ['a surrogate pair in the wrong order', '\udc00\ud800', 'string-not-well-formed', '$'],
  ['a high surrogate at the end of a key', { 'k\ud83d': 'x' }, 'string-not-well-formed', '$["k\\ud83d"]'],
  ['a lone surrogate in a source key id', { ...btcIntent, sourceKeyIds: ['btc-cold-1', 'btc\ud800'] }, 'string-not-well-formed', '$.sourceKeyIds[1]'],
  ['undefined alone', undefined, 'undefined', '$'],
  ['undefined in an array', ['a', undefined], 'undefined', '$[1]'],
  // eslint-disable-next-line no-sparse-arrays -- the hole is the point
  ['an array hole', ['a', , 'c'], 'array-hole', '$[1]'],
  ['a Map', new Map([['a', '1']]), 'object-not-plain', '$'],
  ['a Set', new Set(['a']), 'object-not-plain', '$'],
  ['a Uint8Array', new Uint8Array([1, 2]), 'object-not-plain', '$'],
  ['a Buffer', Buffer.from('x'), 'object-not-plain', '$'],
  ['a class instance', { fee: new Decimal('1') }, 'object-not-plain', '$.fee'],
  ['a function', { toJSON: () => 'x' }, 'unsupported-type', '$.toJSON'],
  ['a symbol', Symbol('s'), 'unsupported-type', '$'],
  ['a symbol key', { [Symbol('s')]: 'x', a: 'y' }, 'symbol-key', '$'],
  [`nesting deeper than ${MAX_DEPTH}`, nest(MAX_DEPTH + 1), 'too-deep', `$${'[0]'.repeat(MAX_DEPTH)}`],
  ['a cycle', cyclic, 'too-deep', `$${'.self'.repeat(MAX_DEPTH)}`],
];

function refusal(fn: () => unknown): CanonicalJsonError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CanonicalJsonError, `a CanonicalJsonError, not ${String(error)}`);
    assert.ok(error instanceof TypeError, 'a TypeError, as the signer and console always threw');
    return error;
  }
  assert.fail('accepted');
}

test('KEY-08 WDR-06 table: the service, the signer and the console write the same bytes for every valid input (pinned)', () => {
  for (const [what, value, expected] of VALID) {
    for (const [name, canonicalJson] of ENTRY_POINTS) assert.equal(canonicalJson(value), expected, `${what}: ${name}`);
  }
});

test('KEY-08 WDR-06 table: the service, the signer and the console refuse numbers, Dates, non-NFC strings, lone surrogates and every non-JSON value alike (same reason, same path)', () => {
  for (const [what, value, reason, at] of REFUSED) {
    for (const [name, canonicalJson] of ENTRY_POINTS) {
      const error = refusal(() => canonicalJson(value));
      assert.deepEqual({ code: error.code, reason: error.reason, path: error.path }, { code: 'CANONICAL_JSON_REFUSED', reason, path: at }, `${what}: ${name} (${error.message})`);
    }
  }
});

test('KEY-08 WDR-06 an intent without canonical JSON has no hash anywhere: the signer refuses it INVALID_INTENT, the console refuses to sign it', async () => {
  const bad: [string, unknown, string][] = [
    ['an NFD initiator', { ...usdtIntent, initiator: 'Jose\u0301' }, 'string-not-nfc'],
    ['a lone surrogate in a key id', { ...btcIntent, sourceKeyId: 'btc\udfff' }, 'string-not-well-formed'],
    ['a numeric amount', { ...btcIntent, feeCap: 200000 }, 'number'],
    ['a Date expiry', { ...btcIntent, expiresAt: new Date() }, 'date'],
  ];
  for (const [what, intent, reason] of bad) {
    assert.throws(() => signer.intentHash(intent as signer.Intent), (error: unknown) => {
      assert.ok(error instanceof SignerError, what);
      assert.equal(error.code, 'INVALID_INTENT', what);
      assert.equal(error.status, 422, `${what}: a refusal, not a 500`);
      assert.equal(error.details?.reason, reason, what);
      return true;
    });
    await assert.rejects(consoleCore.intentHash(intent), (error: unknown) => error instanceof CanonicalJsonError && error.reason === reason, what);
    const item = { withdrawal: { clientId: btcIntent.clientId, asset: 'BTC', destination: 'x', amount: '0.01' }, intent, intentHash: 'ab'.repeat(32) };
    const check = await consoleCore.checkIntent(item as unknown as consoleCore.PendingItem);
    assert.equal(check.ok, false, what);
    assert.match(check.problems[0]!, /^the intent cannot be hashed: canonical JSON: /, what);
    assert.match(consoleCore.describeError(refusal(() => consoleCore.canonicalJson(intent))), /^CANONICAL_JSON_REFUSED: canonical JSON: /, `${what}: the officer sees the code`);
  }
});

test('KEY-08 WDR-06 WDR-04 SEG-06 hashes of today\'s inputs are unchanged: intents, approvals, rejections, screening records, ledger and idempotency request hashes (pinned before the three became one)', async () => {
  // Computed at b4086a2 with the three separate implementations.
  assert.equal(signer.intentHash(btcIntent), 'c39bc356693f59ddacc73b8c5a617e239a2245cdc991037a58f528724e61842e');
  assert.equal(await consoleCore.intentHash(btcIntent), 'c39bc356693f59ddacc73b8c5a617e239a2245cdc991037a58f528724e61842e');
  assert.equal(sha256(service.canonicalJson(btcIntent)), 'c39bc356693f59ddacc73b8c5a617e239a2245cdc991037a58f528724e61842e');
  assert.equal(signer.intentHash(usdtIntent), '653eb7a85780e522caa34c20d7acba353af08f774d13c024931450a5f53ae1ac');
  assert.equal(await consoleCore.intentHash(usdtIntent), '653eb7a85780e522caa34c20d7acba353af08f774d13c024931450a5f53ae1ac');
  assert.equal(sha256(signer.approvalMessage(statement)), 'a3e05dc104e574866f0b5a4621fb40c140da5b9648009a9f6cc9ffbfe9013ab8');
  assert.equal(sha256(consoleCore.approvalMessage(statement)), 'a3e05dc104e574866f0b5a4621fb40c140da5b9648009a9f6cc9ffbfe9013ab8');
  const reason = 'Destination flagged – клиент уведомлён';
  assert.equal(sha256(apiRejectionMessage({ ...statement, reason })), '944b6a89b055139fb63b8c4cc634259b6289a398bc8c95720cb9c374bb2a04e3');
  assert.equal(sha256(await consoleCore.rejectionMessage({ ...statement, reason })), '944b6a89b055139fb63b8c4cc634259b6289a398bc8c95720cb9c374bb2a04e3');
  // The service's own fingerprints hold numbers (risk scores, output indexes) and any text: hashOf keeps its rules.
  const result = {
    chain: 'bitcoin', address: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', classification: 'vasp', vasp: { id: 'v-1', name: 'Биржа Café' }, sanctioned: false, privacyDevice: false,
    riskScore: 42, tags: ['exchange'], source: 'dev-list', listVersion: 't1', listHashes: { 'screening-list': 'a'.repeat(64) }, screenedAt: '2026-12-01T00:00:00.000Z',
  } as ScreeningResult;
  assert.equal(screeningHash(buildScreeningRecord(result, { declaredDestinationType: 'vasp', highRiskScore: 70 })), '6d9df3c47b8711a4a462b29ef74063316514a9be13c4a4334ac704dc0dc2fbad');
  assert.equal(service.hashOf({ type: 'deposit', postings: [{ accountId: 12, amount: '150000000' }, { accountId: 13, amount: '-150000000' }],
    cause: { chain: 'bitcoin', txid: 'ff'.repeat(32), outputIndex: 1, depositId: 'd-1', generation: 0, house: true }, memo: null }), 'd30415408852eac3f0833043cba3e12e350f97643dd2c7d8cc5744a6e675e3ad');
  assert.equal(service.hashOf({ accountId: 12, amount: 1_000_000n, expiresAt: '2026-11-23T10:00:00.000Z', reference: { withdrawalId: 'w-1' }, owner: 'withdrawal:w-1' }),
    'a95220cc3bb33b71223ddd13730fb61adbb2a6dad2fe21eae784e86699097e0b');
  assert.equal(service.hashOf({ method: 'post', path: '/v1/clients', body: { externalRef: 'José', classification: 'retail', kzResident: true, n: 1.5, big: 1e21, neg: -0 } }),
    '29dfc2208e6dd3861ee395933dc933a49a01f924f359b56ae95c3efe11529d13');
  assert.equal(service.fingerprintJson({ d: new Date('2026-01-01T00:00:00Z'), n: [1, -0, 1e21, 0.1, undefined], u: undefined, s: 'e\u0301\ud800' }),
    '{"d":"2026-01-01T00:00:00.000Z","n":[1,0,1e+21,0.1,null],"s":"e\u0301\\ud800"}');
  assert.equal(service.fingerprintJson(undefined), 'null');
});

// ---------------------------------------------------------------------------------------------
// The three implementations as they were at b4086a2, kept as oracles (the console's was the
// signer's, character for character).

function oldSignerCanonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': return JSON.stringify(value);
    case 'boolean': return value ? 'true' : 'false';
    case 'bigint': return JSON.stringify(value.toString(10));
    case 'number': throw new TypeError('canonicalJson: numbers are not allowed, use decimal strings');
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => oldSignerCanonicalJson(item)).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${oldSignerCanonicalJson(record[key])}`).join(',')}}`;
    }
    default: throw new TypeError(`canonicalJson: unsupported type ${typeof value}`);
  }
}

function oldServiceCanonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => oldServiceCanonicalJson(v)).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${oldServiceCanonicalJson(v)}`).join(',')}}`;
  }
  throw new Error(`canonicalJson: unsupported ${typeof value}`);
}

/** Text of any code units: lone surrogates and non-NFC sequences included. */
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ maxLength: 12 }), fc.constantFrom('e\u0301', '\u212b', '한', '\u1100\u1161', '\ud800', 'é'));
const signedValue = fc.letrec((tie) => ({
  leaf: fc.oneof(anyText, fc.boolean(), fc.constant(null), fc.bigInt()),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(anyText, fc.option(tie('node'), { nil: undefined }), { maxKeys: 6 })),
})).node;
const recordValue = fc.letrec((tie) => ({
  leaf: fc.oneof(anyText, fc.boolean(), fc.constant(null), fc.bigInt(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(),
    fc.date({ noInvalidDate: true }), fc.constant(undefined)),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(anyText, fc.option(tie('node'), { nil: undefined }), { maxKeys: 6 })),
})).node;

/** The old serializer's answer, or that it threw. */
const outcome = (fn: () => string): string => { try { return fn(); } catch { return '<refused>'; } };

test('KEY-08 WDR-06 for strings, booleans, null, bigints, arrays and plain objects, canonicalJson writes the old signer\'s (and console\'s) bytes, and refuses only non-NFC text and lone surrogates (property)', () => {
  fc.assert(fc.property(signedValue, (value) => {
    const before = outcome(() => oldSignerCanonicalJson(value));
    const now = outcome(() => consoleCore.canonicalJson(value));
    if (now !== '<refused>') assert.equal(now, before);
    else assert.ok(['string-not-nfc', 'string-not-well-formed'].includes(refusal(() => signer.canonicalJson(value)).reason));
    // Both implementations of the past agreed on these values, and so does the one of today.
    assert.equal(outcome(() => service.canonicalJson(value)), now);
    assert.equal(outcome(() => signer.canonicalJson(value)), now);
  }), { numRuns: 3000 });
});

test('WDR-04 SEG-06 hashOf (idempotency, ledger request hashes, screening records) writes the old service bytes for every plain value, numbers, Dates and any text included; canonicalJson\'s bytes wherever it accepts the value (property)', () => {
  fc.assert(fc.property(recordValue, (value) => {
    const before = oldServiceCanonicalJson(value);
    assert.equal(service.fingerprintJson(value), before);
    assert.equal(service.hashOf(value), sha256(before));
    const strict = outcome(() => service.canonicalJson(value));
    if (strict !== '<refused>') assert.equal(strict, before);
  }), { numRuns: 3000 });
  // What it still refuses, as before or where the old one wrote something that is not JSON.
  for (const [what, value, reason] of [
    ['NaN', Number.NaN, 'number-not-finite'], ['an invalid Date', new Date(Number.NaN), 'date-invalid'],
    // eslint-disable-next-line no-sparse-arrays -- the old serializer wrote "[,1]", which is not JSON
    ['an array hole', [, '1'], 'array-hole'], ['a Map (was {})', new Map([['a', 1]]), 'object-not-plain'], ['a function', () => 1, 'unsupported-type'],
    ['a cycle (was a stack overflow)', cyclic, 'too-deep'],
  ] as [string, unknown, string][]) {
    assert.equal(refusal(() => service.fingerprintJson(value)).reason, reason, what);
  }
});

test('KEY-08 WDR-06 one module: the signer\'s canonical-json.js imports nothing, the console\'s canonical-json.js is a link to it, and src/ and signer/src define no other canonicalJson or fingerprintJson', () => {
  const source = readFileSync(CANONICAL_JSON_FILE, 'utf8');
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  assert.ok(!/\bimport\b|\brequire\s*\(/.test(code), 'canonical-json.js imports nothing: it runs as is in Node and in the browser');
  assert.equal(CANONICAL_JSON_FILE, path.join(root, 'signer/src/canonical-json.js'));
  assert.equal(realpathSync(path.join(CONSOLE_STATIC_DIR, 'canonical-json.js')), realpathSync(CANONICAL_JSON_FILE), 'the console\'s canonical-json.js is the signer\'s file');
  // No second implementation anywhere in the service, the signer or the console.
  const definitions: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (name === 'node_modules' || name === 'data') continue;
      if (lstatSync(full).isDirectory()) walk(full);
      else if (/\.(ts|js)$/.test(name) && /function\s+(canonicalJson|fingerprintJson)\b|canonicalJson\s*=\s*\(/.test(readFileSync(full, 'utf8'))) definitions.push(path.relative(root, realpathSync(full)));
    }
  };
  for (const dir of ['src', 'signer/src']) walk(path.join(root, dir));
  assert.deepEqual([...new Set(definitions)].sort(), ['signer/src/canonical-json.js']);
});
