// API fuzz derived from /openapi.json: for every operation the document lists, malformed and
// boundary variants of its path parameters, query parameters, JSON body and headers, generated from
// the operation's own schemas with fast-check; each variant sent with an allowed role's key and with
// every other key in turn (and none). No response may be ≥ 500, no variant the schema rules out may
// succeed, and no rejected request may change a row (checked batch by batch on every table).
// The seed is printed; replay a run with FUZZ_SEED=<seed>.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createAmanat, type Amanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { WalletService } from '../../src/wallets/wallet-service.ts';
import { ROLES, type Role } from '../../src/auth/api-keys.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { makeApprover, prepareSigner, startSigner, tempDir, testPolicy, type SignerHarness } from '../../signer/test/helpers.ts';

const SEED = process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED);
/** Variants per operation; each is sent twice (an allowed key, then the next key of the rotation). */
const VARIANTS_PER_OPERATION = 24;
const REQUESTS_MIN = 2_000;
/** Requests in flight at once; the tables are compared before and after each batch. */
const BATCH_SIZE = 16;

/**
 * The service as it runs, with a real signer (SoftHSM2) behind its wallets, so that the wallet
 * routes reach their handlers instead of answering 503 for a signer this fixture lacks. No chain
 * nodes: nothing fuzzed here gets as far as a chain (every reference it carries is unknown).
 */
interface FuzzApp {
  db: TestDatabase; amanat: Amanat; keys: Record<Role, string>;
  call(method: string, path: string, options: { key: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string>; idem?: string | null }): Promise<{ status: number; body: any }>;
}
let app: FuzzApp;
let server: Server | undefined;
let signer: SignerHarness | undefined;
let db: TestDatabase | undefined;
let idempotencySeq = 0;

before(async () => {
  db = await createTestDatabase();
  const approvers = [makeApprover('fuzz-a', 'user-a', 'ed25519'), makeApprover('fuzz-b', 'user-b', 'p256')];
  const prepared = prepareSigner('signer-fuzz', testPolicy(approvers, 2));
  signer = await startSigner(prepared);
  const signerClient = new SignerClient(signer.socketPath);
  const config = loadConfig({ AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: tempDir('fuzz-app'),
    TREASURY_APPROVERS_FILE: path.join(prepared.dir, 'signer-policy.json'), BITCOIN_NETWORK: 'bcoin-regtest' });
  // AMANAT_TEST_LOG=debug shows what the app logs (a 500's stack, for one).
  const amanat = await createAmanat({ pool: db.app, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent'),
    signer: signerClient, wallets: new WalletService(signerClient, 'bcoin-regtest') });
  const keys = {} as Record<Role, string>;
  for (const role of ROLES) keys[role] = (await inTransaction(db.app, (q) => amanat.services.apiKeys.create(q, { name: `fuzz-${role}`, role, createdBy: null }))).secret;
  server = amanat.http.listen(0, '127.0.0.1');
  // Generating the requests blocks this process for seconds with a keep-alive connection open; the
  // server must not close it meanwhile (a close racing the next request is an ECONNRESET here, not an answer).
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server!.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app = {
    db, amanat, keys,
    async call(method, route, options) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.key) headers.authorization = `Bearer ${options.key}`;
      if (method !== 'GET' && options.idem !== null) headers['idempotency-key'] = options.idem ?? `fuzz-${process.pid}-${++idempotencySeq}`;
      let body: string | undefined;
      if (options.rawBody !== undefined) body = options.rawBody;
      else if (options.body !== undefined) { body = JSON.stringify(options.body); headers['content-type'] ??= 'application/json'; }
      const res = await fetch(`${url}${route}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body: parsed };
    },
  };
});

after(async () => {
  await app?.amanat.stopBackground();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await signer?.stop();
  await db?.drop();
});

// ---------- the schemas /openapi.json carries (the subset of JSON Schema zod emits) ----------

interface Schema {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';
  enum?: unknown[]; pattern?: string; format?: string; minLength?: number; maxLength?: number; minimum?: number; maximum?: number;
  properties?: Record<string, Schema>; required?: string[]; additionalProperties?: boolean | Schema;
  anyOf?: Schema[]; nullable?: boolean; items?: Schema; default?: unknown;
}
interface Parameter { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: Schema }
interface Operation {
  id: string; method: string; template: string; roles: readonly Role[] | 'public'; mutating: boolean;
  pathParams: Parameter[]; queryParams: Parameter[]; body?: Schema;
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const codePoints = (s: string): number => [...s].length;

/** Whether `value` satisfies `schema` as the server's validation reads it (for "must not succeed"). */
function conforms(value: unknown, schema: Schema): boolean {
  if (value === null) return schema.nullable === true;
  if (schema.anyOf) return schema.anyOf.some((s) => conforms(value, s));
  if (schema.enum) return schema.enum.includes(value);
  switch (schema.type) {
    case 'string':
      // Lengths in code points, as JSON Schema and zod count them.
      return typeof value === 'string' && codePoints(value) >= (schema.minLength ?? 0) && codePoints(value) <= (schema.maxLength ?? Infinity)
        && (schema.pattern === undefined || new RegExp(schema.pattern).test(value));
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= (schema.minimum ?? -SAFE_MAX) && value <= (schema.maximum ?? SAFE_MAX);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'boolean': return typeof value === 'boolean';
    case 'array': return Array.isArray(value) && value.every((v) => conforms(v, schema.items ?? {}));
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return false;
      const record = value as Record<string, unknown>;
      if ((schema.required ?? []).some((k) => !(k in record))) return false;
      return Object.entries(record).every(([k, v]) => {
        const property = schema.properties?.[k];
        if (property) return conforms(v, property);
        const extra = schema.additionalProperties ?? true;
        return typeof extra === 'boolean' ? extra : conforms(v, extra);
      });
    }
    default: return true; // unrepresentable in JSON Schema ("any")
  }
}

/**
 * Things that exist, mixed into the generated ids and asset codes so that some well-formed requests
 * get past "not found" into the code behind it (amount codec, ledger, state checks): a client and the
 * registered assets. Filled before anything is generated.
 */
const existing = { uuids: [] as string[], assetCodes: [] as string[] };
const ASSET_CODE_PATTERN = '^[A-Z0-9]{2,12}$';

const validArbs = new WeakMap<Schema, fc.Arbitrary<unknown>>();
/** Values the schema accepts. An unknown keyword combination fails loudly, so no schema goes unfuzzed. */
function validArb(schema: Schema): fc.Arbitrary<unknown> {
  const known = validArbs.get(schema);
  if (known) return known;
  const inner = ((): fc.Arbitrary<unknown> => {
    if (schema.anyOf) return fc.oneof(...schema.anyOf.map(validArb));
    if (schema.enum) return fc.constantFrom(...schema.enum);
    switch (schema.type) {
      case 'string': {
        const min = schema.minLength ?? 0;
        const max = schema.maxLength ?? 64;
        const base = schema.pattern !== undefined ? fc.stringMatching(new RegExp(schema.pattern)) : fc.string({ unit: 'grapheme', minLength: min, maxLength: max });
        const generated = base.filter((s) => codePoints(s) >= min && codePoints(s) <= max);
        const known = schema.format === 'uuid' ? existing.uuids : schema.pattern === ASSET_CODE_PATTERN ? existing.assetCodes : [];
        return known.length > 0 ? fc.oneof(generated, fc.constantFrom(...known)) : generated;
      }
      case 'integer':
        return fc.bigInt({ min: BigInt(schema.minimum ?? -SAFE_MAX), max: BigInt(schema.maximum ?? SAFE_MAX) }).map(Number);
      case 'number': return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'boolean': return fc.boolean();
      case 'array': return fc.array(validArb(schema.items ?? {}), { maxLength: 3 });
      case 'object': {
        const properties = schema.properties ?? {};
        const record = fc.record(Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, validArb(s)])),
          { requiredKeys: (schema.required ?? []).filter((k) => k in properties) });
        if (typeof schema.additionalProperties !== 'object') return record;
        const extra = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in properties) && k !== '__proto__'),
          validArb(schema.additionalProperties), { maxKeys: 3 });
        return fc.tuple(record, extra).map(([r, e]) => ({ ...e, ...r }));
      }
      case undefined: return fc.jsonValue({ maxDepth: 2 });
      default: throw new Error(`fuzz: no generator for schema ${JSON.stringify(schema)}`);
    }
  })();
  const arbitrary = schema.nullable ? fc.option(inner, { nil: null }) : inner;
  validArbs.set(schema, arbitrary);
  return arbitrary;
}

const DECIMAL_AMOUNT = /\[1-9\]\[0-9\]\{0,/;
const NESTED_GARBAGE = { a: { b: [{ c: { d: [[[{}]]] } }, null, 1e300] }, '': [''], 'ключ': '値' };
const deepNesting = (depth: number): unknown => (depth === 0 ? 'bottom' : { n: deepNesting(depth - 1) });

/** Malformed and boundary values for one field: wrong types, NaN-like strings, unicode, huge values, and the edges of its own schema. */
function stressValues(schema: Schema): { generic: unknown[]; own: unknown[] } {
  const generic: unknown[] = [
    null, true, false, 0, -1, 1.5, -0.5, 2 ** 53, -(2 ** 53), 1e308, '', ' ', 'NaN', 'Infinity', '-Infinity', 'undefined', 'null', 'true',
    '1e309', '0x1F', '-0', '１２３', '\u202egnp.exe', '💥'.repeat(40), 'e\u0301\u0301', '\ud800', 'a\u0000b', "' or 1=1 --", '../../etc/passwd',
    '<script>alert(1)</script>', '${7*7}', 'x'.repeat(5_000), 'x'.repeat(70_000), [], [1, 'a', null], {}, NESTED_GARBAGE, deepNesting(40),
  ];
  const own: unknown[] = [];
  if (schema.enum) for (const e of schema.enum) if (typeof e === 'string') own.push(e.toUpperCase(), `${e} `, `${e}\u0000`, [e]);
  if (schema.type === 'string') {
    if (schema.maxLength !== undefined) own.push('a'.repeat(schema.maxLength), 'a'.repeat(schema.maxLength + 1), '😀'.repeat(schema.maxLength), '😀'.repeat(schema.maxLength + 1));
    if ((schema.minLength ?? 0) > 0) own.push('a'.repeat(schema.minLength! - 1));
    if (schema.format === 'uuid') own.push('00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '0123456789abcdef0123456789abcdef', '0123456789ab-cdef-0123-456789abcdef0');
    if (schema.format === 'date-time') {
      own.push('2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '9999-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '2026-01-01T00:00:00',
        '2026-01-01', '2026-01-01T00:00:00.0000000000000000001Z', '2026-01-01T00:00:00+14:00', '+275760-09-13T00:00:00Z');
    }
    if (schema.pattern !== undefined && DECIMAL_AMOUNT.test(schema.pattern)) {
      own.push('-1', '-0.5', '0', '0.0', '00', '01', '1.', '.5', '1e5', '1E-8', '1,5', ' 1', '1 ', '+1', '0.000000001', '0.' + '0'.repeat(35) + '1',
        '1' + '0'.repeat(59), '1' + '0'.repeat(60), '9'.repeat(60) + '.' + '9'.repeat(36), '1.' + '1'.repeat(37), '115792089237316195423570985008687907853269984665640564039457584007913129639936',
        1, 1.5, -1, 1e21);
    }
  }
  if (schema.type === 'integer') {
    const min = schema.minimum ?? -SAFE_MAX;
    const max = schema.maximum ?? SAFE_MAX;
    own.push(min, min - 1, max, max + 1, 0, -1, 1.5, '1', '1e3', 2 ** 63, -(2 ** 63), Number.MAX_SAFE_INTEGER + 2);
  }
  if (schema.type === 'boolean') own.push('true', 'false', 0, 1, 'yes');
  return { generic, own };
}

function stressArb(schema: Schema): fc.Arbitrary<unknown> {
  const { generic, own } = stressValues(schema);
  return fc.oneof({ arbitrary: fc.constantFrom(...generic), weight: 2 }, ...(own.length > 0 ? [{ arbitrary: fc.constantFrom(...own), weight: 3 }] : []));
}

/** One field set to a stress value its schema still accepts (the longest string, the largest amount, …), if any field has one. */
function boundaryArb(schema: Schema): fc.Arbitrary<Defect> | undefined {
  const options = fieldsOf(schema).flatMap((f) => {
    const { generic, own } = stressValues(f.schema);
    const accepted = [...own, ...generic].filter((v) => conforms(JSON.parse(JSON.stringify(v)) as unknown, f.schema));
    return accepted.length > 0 ? [fc.constantFrom(...accepted).map((value): Defect => ({ kind: 'set', path: f.path, value }))] : [];
  });
  return options.length > 0 ? fc.oneof(...options) : undefined;
}

/** Every place in a body schema a defect can go: the root and each property, nested ones included. */
function fieldsOf(schema: Schema, at: string[] = []): { path: string[]; schema: Schema; requiredByParent: boolean }[] {
  const out: { path: string[]; schema: Schema; requiredByParent: boolean }[] = [];
  for (const [k, s] of Object.entries(schema.properties ?? {})) {
    out.push({ path: [...at, k], schema: s, requiredByParent: (schema.required ?? []).includes(k) });
    if (s.type === 'object') out.push(...fieldsOf(s, [...at, k]));
  }
  return out;
}
function objectsOf(schema: Schema, at: string[] = []): string[][] {
  return [at, ...Object.entries(schema.properties ?? {}).filter(([, s]) => s.type === 'object').flatMap(([k, s]) => objectsOf(s, [...at, k]))];
}

type Defect = { kind: 'set'; path: string[]; value: unknown } | { kind: 'delete'; path: string[] } | { kind: 'extra'; path: string[]; key: string; value: unknown };

function defectArb(schema: Schema): fc.Arbitrary<Defect> {
  const fields = fieldsOf(schema);
  const options: fc.Arbitrary<Defect>[] = [
    fc.record({ kind: fc.constant('extra' as const), path: fc.constantFrom(...objectsOf(schema)),
      key: fc.constantFrom('unexpected', '__proto__', 'constructor', '', 'Ключ', 'a'.repeat(300), 'amount '), value: stressArb({}) }),
  ];
  if (fields.length > 0) {
    options.push(fc.oneof(...fields.map((f) => stressArb(f.schema).map((value): Defect => ({ kind: 'set', path: f.path, value })))));
    options.push(fc.constantFrom(...fields).map((f): Defect => ({ kind: 'delete', path: f.path })));
  }
  return fc.oneof(...options);
}

function applyDefect(body: unknown, d: Defect): unknown {
  const root = (typeof body === 'object' && body !== null ? structuredClone(body) : {}) as Record<string, unknown>;
  let target = root;
  const parents = d.kind === 'extra' ? d.path : d.path.slice(0, -1);
  for (const k of parents) {
    if (typeof target[k] !== 'object' || target[k] === null || Array.isArray(target[k])) target[k] = {};
    target = target[k] as Record<string, unknown>;
  }
  if (d.kind === 'extra') Object.defineProperty(target, d.key, { value: d.value, enumerable: true, configurable: true, writable: true });
  else if (d.kind === 'delete') delete target[d.path.at(-1)!];
  else target[d.path.at(-1)!] = d.value;
  return root;
}

/** A body: the schema's own values with 0-3 defects, or something that is not an object at all. */
function bodyArb(schema: Schema): fc.Arbitrary<unknown> {
  const boundary = boundaryArb(schema);
  return fc.oneof(
    { arbitrary: fc.tuple(validArb(schema), fc.array(defectArb(schema), { minLength: 1, maxLength: 3 })).map(([b, ds]) => ds.reduce(applyDefect, b)), weight: 6 },
    ...(boundary ? [{ arbitrary: fc.tuple(validArb(schema), boundary).map(([b, d]) => applyDefect(b, d)), weight: 2 }] : []),
    { arbitrary: validArb(schema), weight: 1 },
    { arbitrary: fc.constantFrom<unknown>([], [{}], 'body', 12, true, null, NESTED_GARBAGE, deepNesting(60)), weight: 1 },
  );
}

/** A path segment as sent: `encoded` is what goes on the wire; `value` (when decodable) what the server validates. */
interface Segment { encoded: string; value?: string }
const RAW_SEGMENTS = ['%00', '..%2F..%2Fetc%2Fpasswd', '%E0%A4%A', '%', '%2F', '%20', '%F0%9F%92%A5', "1'%3Bdrop%20table%20clients%3B--", 'x'.repeat(4_000)];
/**
 * The longest value put in a URL. Node refuses a request head over its 16 KiB limit itself (431)
 * and drops the connection, unread data and all, before the app sees anything: a reset the client
 * may get instead of the answer. Long values in URLs stay below it; bodies carry the huge ones.
 */
const URL_VALUE_CHARS_MAX = 8_000;
// (No dot segments: the URL parser resolves them, so they would address another operation.)

function encodeSegment(value: string): string {
  try { return encodeURIComponent(value); } catch { return '%ED%A0%80'; } // a lone surrogate: sent as its (invalid) UTF-8 bytes
}
function segmentArb(schema: Schema): fc.Arbitrary<Segment> {
  return fc.oneof(
    { arbitrary: validArb(schema).map((v) => ({ encoded: encodeSegment(String(v)), value: String(v) })), weight: 2 },
    { arbitrary: stressArb(schema).map((v) => String(typeof v === 'object' && v !== null ? JSON.stringify(v) : v)).filter((s) => s.length > 0 && s.length <= URL_VALUE_CHARS_MAX)
      .map((s) => ({ encoded: encodeSegment(s), value: s })), weight: 3 },
    { arbitrary: fc.constantFrom(...RAW_SEGMENTS).map((s) => ({ encoded: s })), weight: 1 },
  );
}

/** Query parameters: some valid, some stressed, unknown ones and duplicates; values as strings, arrays as repeats. */
function queryArb(params: Parameter[]): fc.Arbitrary<[string, string][]> {
  const one = (p: Parameter): fc.Arbitrary<[string, string][]> => fc.oneof(
    validArb(p.schema).map((v) => [[p.name, String(v)]] as [string, string][]),
    stressArb(p.schema).map((v) => (Array.isArray(v) ? v.map((x) => [p.name, String(x)] as [string, string]) : [[p.name, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]] as [string, string][]))
      .filter((pairs) => pairs.every(([, v]) => v.length <= URL_VALUE_CHARS_MAX)),
    fc.tuple(validArb(p.schema), validArb(p.schema)).map(([a, b]) => [[p.name, String(a)], [p.name, String(b)]] as [string, string][]),
  );
  const extras = fc.array(fc.tuple(fc.constantFrom('unknown', 'limit', 'after', '__proto__', 'a[b]', ''), fc.constantFrom('1', '-1', 'x'.repeat(3_000), '%', '💥')), { maxLength: 2 });
  const each = params.map((p) => fc.option(one(p), { nil: [] as [string, string][] }));
  return fc.tuple(fc.tuple(...each), extras).map(([pairs, more]) => [...pairs.flat(), ...more]);
}

/** Header variants that stress authentication and idempotency (most requests send none of them). */
type HeaderVariant = { name: string; key?: string | null; idem?: string | null; headers?: Record<string, string> };
const HEADER_VARIANTS: HeaderVariant[] = [
  { name: 'no Idempotency-Key', idem: null }, { name: 'empty Idempotency-Key', idem: '' },
  { name: 'Idempotency-Key with blanks', idem: 'white space' }, { name: 'Idempotency-Key too long', idem: 'k'.repeat(256) },
  { name: 'Idempotency-Key latin-1', idem: '\u00e9t\u00e9' }, { name: 'Idempotency-Key with a slash', idem: 'a/b' },
  { name: 'unknown key', key: `amk_${'B'.repeat(43)}` }, { name: 'garbage key', key: 'nonsense' }, { name: 'empty bearer', key: null, headers: { authorization: 'Bearer ' } },
  { name: 'Basic auth', key: null, headers: { authorization: 'Basic Zm9vOmJhcg==' } }, { name: 'x-api-key garbage', key: null, headers: { 'x-api-key': '\u00ff'.repeat(20) } },
  { name: 'text/plain body', headers: { 'content-type': 'text/plain' } }, { name: 'utf-16 charset', headers: { 'content-type': 'application/json; charset=utf-16' } },
  { name: 'form body', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, { name: 'problem+json body', headers: { 'content-type': 'application/problem+json' } },
];
const RAW_BODIES = ['{', '{"a":', 'null', '[]', '"str"', '12', '{"amount": 1e309}', 'x'.repeat(70_000), '\uFEFF{}', '{"__proto__": {"polluted": true}}',
  '{"a":1,"a":2}', '['.repeat(10_000) + ']'.repeat(10_000), '{"constructor": {"prototype": {"polluted": true}}}'];

/** `arbitrary` once in `every` draws, else null. */
function rarely<T>(arbitrary: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> {
  return fc.oneof({ arbitrary: fc.constant(null), weight: every - 1 }, { arbitrary, weight: 1 });
}

interface Variant { segments: Segment[]; query: [string, string][]; body: unknown; raw?: string; header?: HeaderVariant }

function variantArb(op: Operation): fc.Arbitrary<Variant> {
  const segments = fc.tuple(...op.pathParams.map((p) => segmentArb(p.schema)));
  const query = op.queryParams.length > 0 ? queryArb(op.queryParams)
    : fc.oneof({ arbitrary: fc.constant<[string, string][]>([]), weight: 4 }, { arbitrary: fc.constant<[string, string][]>([['unexpected', '1']]), weight: 1 });
  const body: fc.Arbitrary<unknown> = op.body ? bodyArb(op.body)
    : op.mutating ? fc.oneof({ arbitrary: fc.constant({}), weight: 4 }, { arbitrary: stressArb({}), weight: 1 }) : fc.constant(undefined);
  const raw = op.body || op.mutating ? rarely(fc.constantFrom(...RAW_BODIES), 8) : fc.constant(null);
  const header = rarely(fc.constantFrom(...HEADER_VARIANTS), 6);
  return fc.record({ segments, query, body, raw, header }).map((v) => ({
    segments: v.segments, query: v.query, body: v.body, ...(v.raw !== null ? { raw: v.raw } : {}), ...(v.header !== null ? { header: v.header } : {}) }));
}

// ---------- requests ----------

interface FuzzRequest {
  op: Operation; method: string; path: string;
  /** The key of the rotation this request stands for, and what it actually sends (a header variant may replace it). */
  keyOption: string; keyName: string; key: string | null; body?: unknown; rawBody?: string;
  headers?: Record<string, string>; idem?: string | null;
  /** The schema rules it out (or a key that cannot pass): any success is a validation hole. */
  mustFail: boolean;
}

function describeRequest(r: FuzzRequest): string {
  const body = r.rawBody !== undefined ? `raw ${JSON.stringify(r.rawBody.slice(0, 200))}` : JSON.stringify(r.body)?.slice(0, 300);
  return `[FUZZ_SEED=${SEED}] ${r.method} ${r.path.slice(0, 300)} key=${r.keyName} headers=${JSON.stringify(r.headers ?? {})}${r.idem !== undefined ? ` idempotency-key=${JSON.stringify(r.idem)}` : ''} body=${body}`;
}

function toRequests(op: Operation, variant: Variant, keys: { name: string; key: string | null }[]): FuzzRequest[] {
  let path = op.template;
  op.pathParams.forEach((p, i) => { path = path.replace(`{${p.name}}`, variant.segments[i]!.encoded); });
  const query = new URLSearchParams(variant.query).toString();
  if (query) path += `?${query}`;
  const sentBody = variant.body === undefined ? undefined : JSON.parse(JSON.stringify(variant.body) ?? 'null') as unknown;
  const schemaRulesOut = (op.body !== undefined && variant.raw === undefined && !conforms(sentBody, op.body))
    || op.pathParams.some((p, i) => variant.segments[i]!.value === undefined || !conforms(variant.segments[i]!.value, p.schema));
  return keys.map(({ name, key }) => {
    const h = variant.header;
    const authBroken = h?.key !== undefined || h?.headers?.authorization !== undefined || h?.headers?.['x-api-key'] !== undefined;
    const roleRefused = op.roles !== 'public' && (key === null || !op.roles.includes(name as Role));
    return {
      op, method: op.method, path, keyOption: name, keyName: h?.key !== undefined ? h.name : name, key: h?.key !== undefined ? h.key : key,
      ...(variant.raw !== undefined ? { rawBody: variant.raw, headers: { 'content-type': 'application/json', ...(h?.headers ?? {}) } }
        : { body: variant.body, ...(h?.headers ? { headers: h.headers } : {}) }),
      ...(h?.idem !== undefined ? { idem: h.idem } : {}),
      mustFail: schemaRulesOut || (op.roles !== 'public' && (authBroken || roleRefused))
        || (op.mutating && h?.idem !== undefined),
    };
  });
}

// ---------- the database, table by table ----------

/**
 * Row count and content hash of every table. Two extra entries split the tables a refusal may
 * write: the answers kept under an Idempotency-Key that are not refusals, and the audit entries
 * that are not refusals.
 */
async function snapshot(): Promise<Map<string, { n: number; h: string }>> {
  const { rows: tables } = await app.db.owner.query<{ tablename: string }>(
    "select tablename from pg_tables where schemaname = 'public' and tablename not like 'knex%' order by 1");
  const one = (label: string, table: string, where = '') =>
    `select '${label}' as t, count(*)::int as n, coalesce(md5(string_agg(x::text, '|' order by x::text)), '') as h from ${table} x ${where}`;
  // REC-05: every access by an auditor (a read, or a refused attempt at a mutating route) is logged (details.accessLog);
  // that is an access log, not a change, and is tested on its own (test/incidents/incidents.test.ts): left out here.
  const notAuditorRead = "where details->>'accessLog' is null";
  const sql = [...tables.map(({ tablename }) => one(tablename, tablename, tablename === 'audit_log' ? notAuditorRead : '')),
    one('idempotency_keys (answers that are not refusals)', 'idempotency_keys', 'where status_code not in (409, 422)'),
    one('audit_log (entries that are not refusals)', 'audit_log', `${notAuditorRead} and outcome not like 'rejected:%'`)].join(' union all ');
  const { rows } = await app.db.owner.query<{ t: string; n: number; h: string }>(sql);
  return new Map(rows.map((r) => [r.t, { n: r.n, h: r.h }]));
}

/**
 * What rejected requests may change: nothing, except that each refusal of a well-formed call (409,
 * 422: a business rule said no) is kept under its Idempotency-Key, so a retry replays the same
 * refusal, and written to the audit log as `rejected:<code>` (src/api/http-app.ts; README
 * "Idempotency"). Malformed (400), unauthenticated (401), forbidden (403), unknown (404), too large
 * (413) and unsupported (415) requests change nothing at all, the audit log included.
 */
function assertOnlyRefusalsRecorded(beforeSnap: Map<string, { n: number; h: string }>, afterSnap: Map<string, { n: number; h: string }>, refusals: number, context: string): void {
  for (const [table, was] of beforeSnap) {
    const now = afterSnap.get(table)!;
    if (table === 'idempotency_keys' || table === 'audit_log') {
      assert.equal(now.n - was.n, refusals, `${table}: one row per 409/422 refusal, none for other rejections. ${context}`);
    } else {
      assert.deepEqual(now, was, `${table} changed. ${context}`);
    }
  }
}

const isRefusal = (status: number) => status === 409 || status === 422;

test('SEG-11 WAL-02 API fuzz: every operation of /openapi.json, 2,000+ malformed and boundary requests with every role\'s key: no response ≥ 500, nothing the schema rules out succeeds, no rejected request changes a row', async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  console.log(`API fuzz seed: ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const doc = await app.call('GET', '/openapi.json', { key: null });
  assert.equal(doc.status, 200);
  const operations: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.body.paths as Record<string, Record<string, any>>)) {
    for (const [method, spec] of Object.entries(methods)) {
      const parameters = (spec.parameters ?? []) as Parameter[];
      operations.push({
        id: `${method.toUpperCase()} ${template}`, method: method.toUpperCase(), template, roles: spec['x-roles'], mutating: method !== 'get',
        pathParams: parameters.filter((p) => p.in === 'path'), queryParams: parameters.filter((p) => p.in === 'query'),
        ...(spec.requestBody ? { body: spec.requestBody.content['application/json'].schema as Schema } : {}),
      });
    }
  }
  // The document covers everything the app serves, so fuzzing the document fuzzes the app.
  const documented = new Set(operations.map((o) => o.id));
  const served = app.amanat.routes.map((r) => `${r.method.toUpperCase()} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
  assert.deepEqual(served.filter((id) => !documented.has(id)), [], 'served routes missing from /openapi.json');

  const client = await app.call('POST', '/v1/clients', { key: app.keys.exchange, body: { externalRef: 'fuzz-existing', classification: 'retail', kzResident: true } });
  assert.equal(client.status, 201, JSON.stringify(client.body));
  existing.uuids.push(client.body.id);
  const assets = await app.call('GET', '/v1/assets', { key: app.keys.auditor });
  existing.assetCodes.push(...(assets.body.assets as { code: string }[]).map((a) => a.code));
  assert.ok(existing.assetCodes.length > 0, JSON.stringify(assets.body));
  const generationStarted = Date.now();
  // Key rotation: every role's key and no key, for every operation.
  const keyOptions = [...ROLES.map((role) => ({ name: role, key: app.keys[role] as string | null })), { name: 'none', key: null }];
  const perOperation = operations.map((op, i) => {
    const allowed = op.roles === 'public' ? [{ name: 'none', key: null }] : op.roles.map((role) => ({ name: role, key: app.keys[role] as string | null }));
    const variants = fc.sample(variantArb(op), { seed: SEED + i, numRuns: VARIANTS_PER_OPERATION });
    return variants.flatMap((v, j) => toRequests(op, v, [allowed[j % allowed.length]!, keyOptions[(i + j) % keyOptions.length]!]));
  });
  // Interleaved, so each batch mixes operations.
  const requests: FuzzRequest[] = [];
  for (let j = 0; perOperation.some((list) => j < list.length); j++) for (const list of perOperation) if (j < list.length) requests.push(list[j]!);
  // And each documented path with a method the document does not list for it: a 404, whatever the key.
  const methodsByPath = new Map<string, Set<string>>();
  for (const op of operations) methodsByPath.set(op.template, (methodsByPath.get(op.template) ?? new Set()).add(op.method));
  [...methodsByPath].forEach(([template, methods], i) => {
    const method = ['PUT', 'DELETE', 'PATCH', 'POST', 'GET'].find((m) => !methods.has(m))!;
    const op: Operation = { id: `${method} ${template} (not in the document)`, method, template, roles: [], mutating: method !== 'GET', pathParams: [], queryParams: [] };
    const concrete = template.replace(/\{[A-Za-z]+\}/g, existing.uuids[0]!);
    const { name, key } = keyOptions[i % keyOptions.length]!;
    requests.push({ op, method, path: concrete, keyOption: name, keyName: name, key, ...(method !== 'GET' ? { body: { state: 'frozen' } } : {}), mustFail: true });
  });
  assert.ok(requests.length >= REQUESTS_MIN, `${requests.length} requests`);
  const keysUsed = new Map<string, Set<string>>();
  for (const r of requests) keysUsed.set(r.op.id, (keysUsed.get(r.op.id) ?? new Set()).add(r.keyOption));
  for (const op of operations) {
    for (const k of keyOptions) assert.ok(keysUsed.get(op.id)?.has(k.name), `${op.id} is sent with key ${k.name}`);
  }

  t.diagnostic(`generated in ${Date.now() - generationStarted} ms`);
  const sendingStarted = Date.now();
  const send = (r: FuzzRequest) => app.call(r.method, r.path, {
    key: r.key, ...(r.rawBody !== undefined ? { rawBody: r.rawBody } : r.body !== undefined ? { body: r.body } : {}),
    ...(r.headers ? { headers: r.headers } : {}), ...(r.idem !== undefined ? { idem: r.idem } : {}) })
    .catch((error: unknown) => { throw new Error(`no answer: ${describeRequest(r)}`, { cause: error }); });
  const statuses = new Map<number, number>();
  let reverified = 0;
  for (let i = 0; i < requests.length; i += BATCH_SIZE) {
    const batch = requests.slice(i, i + BATCH_SIZE);
    const beforeSnap = await snapshot();
    const results = await Promise.all(batch.map(send));
    results.forEach((res, j) => {
      const r = batch[j]!;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `${describeRequest(r)} -> ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
      if (r.mustFail) assert.ok(res.status >= 400, `must be refused (schema, key, Idempotency-Key or method), yet accepted: ${describeRequest(r)} -> ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      if (res.status >= 400 && typeof res.body === 'object') assert.equal(typeof res.body?.code, 'string', `every error carries a stable code: ${describeRequest(r)}`);
    });
    const accepted = batch.filter((r, j) => r.op.mutating && results[j]!.status < 400);
    if (accepted.length === 0) {
      const refusals = results.filter((res) => isRefusal(res.status)).length;
      assertOnlyRefusalsRecorded(beforeSnap, await snapshot(), refusals, `Batch of ${batch.length}:\n${batch.map(describeRequest).join('\n')}`);
      continue;
    }
    // A boundary variant went through and wrote what it should: the rejected requests of this
    // batch are sent again one at a time (fresh Idempotency-Keys), each between two snapshots.
    for (const [j, r] of batch.entries()) {
      if (results[j]!.status < 400) continue;
      const beforeOne = await snapshot();
      const again = await send(r);
      assert.ok(again.status < 500, `${describeRequest(r)} -> ${again.status}`);
      if (again.status < 400) continue;
      assertOnlyRefusalsRecorded(beforeOne, await snapshot(), isRefusal(again.status) ? 1 : 0, describeRequest(r));
      reverified++;
    }
  }
  t.diagnostic(`${requests.length} requests over ${operations.length} operations; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}; ${reverified} re-sent alone after a batch with an accepted call; sent and checked in ${Date.now() - sendingStarted} ms`);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
});
