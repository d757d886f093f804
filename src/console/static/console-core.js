// @ts-check
// The treasury console's logic (WDR-06, KEY-08), no build step, no framework, served by the API
// under /console/ with `default-src 'self'`. Pure logic that runs the same in a browser and in
// Node 20 (the tests import it), with no DOM: the approval and rejection messages (byte for byte
// those of signer/src/intent.ts and src/withdrawals/approvers.ts, over the one canonical JSON
// module ./canonical-json.js that the signer and the service import too), PKCS#8
// PEM parsing, WebCrypto signing (Ed25519; ECDSA P-256 with its IEEE P1363 r||s turned into the DER
// the API takes) and the API calls. The page is console.js, which imports this module.
//
// Secrets: the API key lives in this tab's sessionStorage only and goes out only as
// `Authorization: Bearer` to this origin; the officer's private key is imported non-extractable,
// kept in memory for this page only and never sent. Neither is ever logged or rendered.
import { canonicalJson, CanonicalJsonError } from './canonical-json.js';

/**
 * @typedef {'ed25519' | 'p256'} Algorithm
 * @typedef {Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>} WebCryptoKey  (CryptoKey, in Node's types and the DOM's alike)
 * @typedef {{ algorithm: Algorithm, key: WebCryptoKey }} SigningKey
 * @typedef {{ intentHash: string, approverId: string, signedAt: string, expiresAt: string }} Statement
 * @typedef {{ approverId: string, algorithm: Algorithm, intentHash: string, signature: string, signedAt: string, expiresAt: string }} SignedStatement
 * @typedef {{ type?: string, title?: string, status?: number, code?: string, detail?: string, reason?: string, [extra: string]: unknown }} Problem
 * @typedef {{ code: string, decimals: number }} AssetInfo
 * @typedef {{ approverId: string, userId?: string, signedAt: string, expiresAt: string }} ApprovalRecord
 * @typedef {{
 *   withdrawal: { id: string, clientId: string, asset: string, chain: string, amount: string, destination: string, destinationType: string,
 *     state: string, sourceTier: string, approvalsRequired: number, initiatorUserId?: string, networkFeeMax?: string, networkFeeAsset?: string, serviceFee?: string,
 *     usdValueCents?: string, createdAt?: string, policy: { outcome: string, reasons: string[], matchedRules?: string[], policyVersion?: string } | null },
 *   client?: { id: string, external_ref?: string, classification?: string, kz_resident?: boolean },
 *   initiator?: string,
 *   policyTrace?: { ruleId: string, matched: boolean, conditions?: unknown[] }[],
 *   hotRatioRetailPct?: { before: string, after: string },
 *   intent: Record<string, unknown> & { outputs?: { address: string, amount: string }[], expiresAt?: string, clientId?: string, asset?: string },
 *   intentHash: string,
 *   travelRule?: { status: string | null, tier: string | null, destinationType: string | null },
 *   screening?: { outcome: string, riskScore?: number, highRiskScore?: number, classification?: string, tags?: string[], vasp?: { name?: string } | null,
 *     listVersion?: string, screeningHash?: string, cases?: { id: string, kind: string, status: string }[] } | null,
 *   approvals: ApprovalRecord[],
 * }} PendingItem
 */

const APPROVAL_TYPE = 'amanat-approval-v1';
const REJECTION_TYPE = 'amanat-rejection-v1';
const HEX64 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A PEM private key is a few hundred bytes; anything far larger is not one. */
const KEY_FILE_MAX_CHARS = 16_384;
/** The signer policy's maxLifetimeSeconds (24 h) bounds an approval's window anyway. */
export const VALID_MINUTES_MAX = 24 * 60;

/** An error of the console itself, shown like an API error: a stable code and a sentence. */
export class ConsoleError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'ConsoleError';
    this.code = code;
  }
}

/** A problem+json answer of the API, kept whole so the page can show it verbatim. */
export class ApiError extends Error {
  /** @param {number} status @param {Problem} problem */
  constructor(status, problem) {
    super(typeof problem.detail === 'string' ? problem.detail : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : `HTTP_${status}`;
    this.problem = problem;
  }
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON, hashes and the messages an officer signs. canonicalJson is the signer's and the
// service's own implementation (signer/src/canonical-json.js, served as /console/canonical-json.js),
// not a copy: numbers, Dates, non-NFC strings and lone surrogates are refused here as there.

export { canonicalJson };

/** @param {string} text @returns {Uint8Array<ArrayBuffer>} */
export function utf8(text) {
  return new TextEncoder().encode(text);
}

/** @param {Uint8Array} bytes @returns {string} */
export function toHex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** @param {Uint8Array} bytes @returns {string} */
export function toBase64(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. @param {string} text @returns {Promise<string>} */
export async function sha256Hex(text) {
  return toHex(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', utf8(text))));
}

/** The intent hash the signer computes: SHA-256 of canonicalJson(intent); rejects what has no canonical JSON. @param {unknown} intent */
export async function intentHash(intent) {
  return sha256Hex(canonicalJson(intent));
}

/** @param {Statement} statement */
function checkStatement(statement) {
  if (!HEX64.test(statement.intentHash)) throw new ConsoleError('INTENT_HASH_INVALID', 'the intent hash must be 64 lowercase hex characters');
  if (typeof statement.approverId !== 'string' || statement.approverId.length < 1 || statement.approverId.length > 128) {
    throw new ConsoleError('APPROVER_ID_INVALID', 'the approver id must be 1..128 characters');
  }
}

/**
 * The exact bytes an approval signs: canonicalJson({ type: 'amanat-approval-v1', intentHash,
 * approverId, signedAt, expiresAt }), as approvalMessage in signer/src/intent.ts.
 * @param {Statement} statement
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function approvalMessage(statement) {
  const { intentHash: hash, approverId, signedAt, expiresAt } = statement;
  return utf8(canonicalJson({ type: APPROVAL_TYPE, intentHash: hash, approverId, signedAt, expiresAt }));
}

/**
 * The exact bytes a rejection signs, as rejectionMessage in src/withdrawals/approvers.ts: the
 * approval's members under another type tag, plus the SHA-256 of the reason.
 * @param {Statement & { reason: string }} statement
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function rejectionMessage(statement) {
  const { intentHash: hash, approverId, signedAt, expiresAt, reason } = statement;
  return utf8(canonicalJson({ type: REJECTION_TYPE, intentHash: hash, approverId, signedAt, expiresAt, reasonSha256: await sha256Hex(reason) }));
}

/**
 * What the API accepts as a rejection reason (treasury-routes.ts): 1..500 characters, not only
 * white space, no C0 control characters. Returns the problem, or null when it is acceptable.
 * @param {unknown} reason
 * @returns {string | null}
 */
export function reasonProblem(reason) {
  if (typeof reason !== 'string' || reason.length < 1) return 'a reason is required';
  if (reason.length > 500) return 'the reason must be at most 500 characters';
  if (reason.trim().length === 0) return 'the reason must not be empty';
  if ([...reason].some((ch) => ch.charCodeAt(0) < 0x20)) return 'the reason must not contain control characters (line breaks, tabs)';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Amounts: base units as bigint, decimal strings for people (the API's own codec, repeated here).

/** @param {string} text @param {number} decimals @returns {bigint} */
export function decimalToBaseUnits(text, decimals) {
  const match = /^(0|[1-9][0-9]{0,59})(?:\.([0-9]{1,36}))?$/.exec(text);
  if (!match || (match[2] ?? '').length > decimals) throw new ConsoleError('AMOUNT_INVALID', `not an amount with at most ${decimals} decimals: ${text}`);
  return BigInt((match[1] ?? '0') + (match[2] ?? '').padEnd(decimals, '0'));
}

/** @param {bigint | string} value @param {number} decimals @returns {string} */
export function baseUnitsToDecimal(value, decimals) {
  const n = typeof value === 'bigint' ? value : BigInt(value);
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/**
 * The intent's network fee cap in the withdrawal's fee asset, as the API names it
 * (withdrawal.networkFeeAsset: BTC for Bitcoin, ETH for Ethereum, ERC-20 gas included). The rule is
 * the service's (networkFeeAsset in src/chains/capabilities.ts), never repeated here: without the
 * field, or without that asset's decimals, the cap is shown in base units only, never in a guessed asset.
 * @param {PendingItem} item @param {Map<string, AssetInfo> | undefined} assets
 * @returns {string}
 */
export function feeCapText(item, assets) {
  const cap = typeof item.intent.feeCap === 'string' ? item.intent.feeCap : '';
  if (!/^[0-9]+$/.test(cap)) return '–';
  const feeAsset = item.withdrawal.networkFeeAsset;
  const decimals = typeof feeAsset === 'string' ? assets?.get(feeAsset)?.decimals : undefined;
  return feeAsset === undefined || decimals === undefined ? `${cap} base units` : `${baseUnitsToDecimal(cap, decimals)} ${feeAsset} (${cap} base units)`;
}

// ---------------------------------------------------------------------------------------------
// Keys: PKCS#8 PEM → non-extractable WebCrypto key; signatures in the API's encoding.

const OID_ED25519 = '2b6570';
const OID_EC_PUBLIC_KEY = '2a8648ce3d0201';
const OID_P256 = '2a8648ce3d030107';
const OID_NAMES = /** @type {Record<string, string>} */ ({
  '2a864886f70d010101': 'RSA', '2b8104000a': 'secp256k1', '2b81040022': 'P-384', '2b81040023': 'P-521', '2b6571': 'Ed448', '2b656e': 'X25519',
});

/**
 * One DER TLV at `offset`: its tag and where its content starts and ends. Lengths up to 2 bytes
 * (a key is far smaller); everything is bounds-checked.
 * @param {Uint8Array} der @param {number} offset @param {number} limit
 * @returns {{ tag: number, start: number, end: number }}
 */
function readTlv(der, offset, limit) {
  const fail = () => new ConsoleError('KEY_FILE_INVALID', 'the key file is not a well-formed PKCS#8 private key');
  if (offset + 2 > limit) throw fail();
  const tag = /** @type {number} */ (der[offset]);
  let length = /** @type {number} */ (der[offset + 1]);
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 2 || start + count > limit) throw fail();
    length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | /** @type {number} */ (der[start + i]);
    start += count;
  }
  if (start + length > limit) throw fail();
  return { tag, start, end: start + length };
}

/**
 * Reads an officer's private key file: PKCS#8 ("BEGIN PRIVATE KEY", as `openssl genpkey` and
 * node:crypto write it), Ed25519 or ECDSA P-256. Anything else is refused with what to do.
 * @param {string} text
 * @returns {{ algorithm: Algorithm, pkcs8: Uint8Array<ArrayBuffer> }}
 */
export function parsePrivateKeyPem(text) {
  if (typeof text !== 'string' || text.length > KEY_FILE_MAX_CHARS) throw new ConsoleError('KEY_FILE_INVALID', 'the file is not a PEM private key');
  const pem = /-----BEGIN ([A-Z0-9 ]{1,40})-----([A-Za-z0-9+/=\s]*?)-----END \1-----/.exec(text);
  if (!pem) throw new ConsoleError('KEY_FILE_INVALID', 'the file is not a PEM private key (-----BEGIN PRIVATE KEY-----)');
  const label = pem[1];
  if (label === 'ENCRYPTED PRIVATE KEY') throw new ConsoleError('KEY_FILE_UNSUPPORTED', 'an encrypted PKCS#8 key cannot be imported by the browser; use the unencrypted PKCS#8 file');
  if (label === 'EC PRIVATE KEY') throw new ConsoleError('KEY_FILE_UNSUPPORTED', 'this is a SEC1 EC key; convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.p8.pem');
  if (label === 'PUBLIC KEY') throw new ConsoleError('KEY_FILE_UNSUPPORTED', 'this is a public key; choose your private key file');
  if (label !== 'PRIVATE KEY') throw new ConsoleError('KEY_FILE_UNSUPPORTED', `a "${label}" PEM is not a PKCS#8 private key`);
  const body = (pem[2] ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) throw new ConsoleError('KEY_FILE_INVALID', 'the key file is not valid base64');
  const binary = atob(body);
  const der = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
  // PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }
  const outer = readTlv(der, 0, der.length);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new ConsoleError('KEY_FILE_INVALID', 'the key file is not a well-formed PKCS#8 private key');
  const version = readTlv(der, outer.start, outer.end);
  if (version.tag !== 0x02) throw new ConsoleError('KEY_FILE_INVALID', 'the key file is not a well-formed PKCS#8 private key');
  const algorithm = readTlv(der, version.end, outer.end);
  if (algorithm.tag !== 0x30) throw new ConsoleError('KEY_FILE_INVALID', 'the key file is not a well-formed PKCS#8 private key');
  const oid = readTlv(der, algorithm.start, algorithm.end);
  if (oid.tag !== 0x06) throw new ConsoleError('KEY_FILE_INVALID', 'the key file is not a well-formed PKCS#8 private key');
  const oidHex = toHex(der.subarray(oid.start, oid.end));
  if (oidHex === OID_ED25519) return { algorithm: 'ed25519', pkcs8: der };
  if (oidHex === OID_EC_PUBLIC_KEY) {
    const curve = oid.end < algorithm.end ? readTlv(der, oid.end, algorithm.end) : undefined;
    const curveHex = curve && curve.tag === 0x06 ? toHex(der.subarray(curve.start, curve.end)) : '';
    if (curveHex === OID_P256) return { algorithm: 'p256', pkcs8: der };
    throw new ConsoleError('KEY_ALGORITHM_UNSUPPORTED', `an EC key on ${OID_NAMES[curveHex] ?? 'an unknown curve'}; treasury keys are Ed25519 or P-256`);
  }
  throw new ConsoleError('KEY_ALGORITHM_UNSUPPORTED', `a ${OID_NAMES[oidHex] ?? 'unknown algorithm'} key; treasury keys are Ed25519 or P-256`);
}

/**
 * Imports the officer's key for signing only, non-extractable: the page can sign with it and
 * never read it back. The DER copy made while parsing is zeroed afterwards.
 * @param {string} pemText
 * @returns {Promise<SigningKey>}
 */
export async function importSigningKey(pemText) {
  const { algorithm, pkcs8 } = parsePrivateKeyPem(pemText);
  const params = algorithm === 'ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' };
  try {
    const key = await globalThis.crypto.subtle.importKey('pkcs8', pkcs8, params, false, ['sign']);
    return { algorithm, key };
  } catch {
    throw new ConsoleError('KEY_IMPORT_FAILED', algorithm === 'ed25519'
      ? 'the Ed25519 key could not be imported: this browser may lack WebCrypto Ed25519 (Chrome 137+, Firefox 129+, Safari 17+), or the key is damaged'
      : 'the P-256 key could not be imported: the key is damaged');
  } finally {
    pkcs8.fill(0);
  }
}

/** @param {Uint8Array} bytes 32 big-endian bytes of r or s @returns {number[]} a DER INTEGER */
function derInteger(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const digits = [...bytes.subarray(i)];
  if (/** @type {number} */ (digits[0]) & 0x80) digits.unshift(0);
  return [0x02, digits.length, ...digits];
}

/**
 * WebCrypto's ECDSA signature (IEEE P1363: r || s, 32 bytes each for P-256) as the DER
 * SEQUENCE { INTEGER r, INTEGER s } the API verifies (`dsaEncoding: 'der'`): minimal integers,
 * a 0x00 in front of a high bit.
 * @param {Uint8Array} signature
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function p1363ToDer(signature) {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) throw new ConsoleError('SIGNATURE_INVALID', 'a P-256 signature is 64 bytes (r || s)');
  const r = derInteger(signature.subarray(0, 32));
  const s = derInteger(signature.subarray(32));
  return Uint8Array.from([0x30, r.length + s.length, ...r, ...s]);
}

/**
 * Signs `message` as the API verifies it: Ed25519 over the message; ECDSA P-256 with SHA-256,
 * DER-encoded. Returns base64.
 * @param {SigningKey} signingKey
 * @param {Uint8Array<ArrayBuffer>} message
 * @returns {Promise<string>}
 */
export async function signMessage(signingKey, message) {
  const { subtle } = globalThis.crypto;
  if (signingKey.algorithm === 'ed25519') return toBase64(new Uint8Array(await subtle.sign({ name: 'Ed25519' }, signingKey.key, message)));
  const p1363 = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signingKey.key, message));
  return toBase64(p1363ToDer(p1363));
}

/**
 * @param {Date} now @param {number} validMinutes
 * @returns {{ signedAt: string, expiresAt: string }}
 */
function validityWindow(now, validMinutes) {
  if (!Number.isInteger(validMinutes) || validMinutes < 1 || validMinutes > VALID_MINUTES_MAX) {
    throw new ConsoleError('VALIDITY_INVALID', `the validity must be 1..${VALID_MINUTES_MAX} whole minutes`);
  }
  return { signedAt: now.toISOString(), expiresAt: new Date(now.getTime() + validMinutes * 60_000).toISOString() };
}

/**
 * An approval as POST /v1/treasury/approvals/:id takes it, signed with the officer's key.
 * @param {{ signingKey: SigningKey, approverId: string, intentHash: string, now?: Date, validMinutes?: number }} input
 * @returns {Promise<SignedStatement>}
 */
export async function signApproval({ signingKey, approverId, intentHash: hash, now = new Date(), validMinutes = 60 }) {
  const statement = { intentHash: hash, approverId, ...validityWindow(now, validMinutes) };
  checkStatement(statement);
  const signature = await signMessage(signingKey, approvalMessage(statement));
  return { approverId, algorithm: signingKey.algorithm, intentHash: hash, signature, signedAt: statement.signedAt, expiresAt: statement.expiresAt };
}

/**
 * A rejection as POST /v1/treasury/approvals/:id/reject takes it, signed with the officer's key.
 * @param {{ signingKey: SigningKey, approverId: string, intentHash: string, reason: string, now?: Date, validMinutes?: number }} input
 * @returns {Promise<SignedStatement & { reason: string }>}
 */
export async function signRejection({ signingKey, approverId, intentHash: hash, reason, now = new Date(), validMinutes = 60 }) {
  const problem = reasonProblem(reason);
  if (problem) throw new ConsoleError('REASON_INVALID', problem);
  const statement = { intentHash: hash, approverId, ...validityWindow(now, validMinutes) };
  checkStatement(statement);
  const signature = await signMessage(signingKey, await rejectionMessage({ ...statement, reason }));
  return { approverId, algorithm: signingKey.algorithm, intentHash: hash, signature, signedAt: statement.signedAt, expiresAt: statement.expiresAt, reason };
}

// ---------------------------------------------------------------------------------------------
// What the officer signs must be what the page shows: never sign a hash the console has not
// recomputed from the intent, nor an intent that disagrees with the withdrawal it is shown with.

/**
 * @param {PendingItem} item
 * @param {Map<string, AssetInfo>} [assets] decimals per asset, to compare the amounts
 * @returns {Promise<{ ok: boolean, computedHash: string, problems: string[] }>}
 */
export async function checkIntent(item, assets) {
  const problems = [];
  let computedHash = '';
  try {
    computedHash = await intentHash(item.intent);
  } catch (error) {
    problems.push(`the intent cannot be hashed: ${/** @type {Error} */ (error).message}`);
  }
  if (computedHash && computedHash !== item.intentHash) problems.push(`the intent hashes to ${computedHash}, not to the intent hash ${item.intentHash} given to sign`);
  const w = item.withdrawal;
  const intent = item.intent;
  if (intent.clientId !== w.clientId) problems.push(`the intent is for client ${String(intent.clientId)}, the withdrawal for ${w.clientId}`);
  if (intent.asset !== w.asset) problems.push(`the intent moves ${String(intent.asset)}, the withdrawal ${w.asset}`);
  const outputs = Array.isArray(intent.outputs) ? intent.outputs : [];
  const paid = outputs.filter((o) => o && o.address === w.destination);
  if (outputs.length !== 1 || paid.length !== 1) problems.push(`the intent pays ${outputs.map((o) => o && o.address).join(', ') || 'nobody'}, the withdrawal goes to ${w.destination}`);
  const decimals = assets?.get(w.asset)?.decimals;
  // Given a registry, the amount must be checked against it: an asset missing from it fails closed.
  if (assets && decimals === undefined) problems.push(`the decimals of ${w.asset} are unknown, so the amount cannot be checked`);
  if (decimals !== undefined && paid.length === 1) {
    try {
      if (BigInt(/** @type {{ amount: string }} */ (paid[0]).amount) !== decimalToBaseUnits(w.amount, decimals)) {
        problems.push(`the intent pays ${baseUnitsToDecimal(/** @type {{ amount: string }} */ (paid[0]).amount, decimals)} ${w.asset}, the withdrawal is for ${w.amount}`);
      }
    } catch {
      problems.push('the intent amount is not a whole number of base units');
    }
  }
  return { ok: problems.length === 0, computedHash, problems };
}

// ---------------------------------------------------------------------------------------------
// The API: every call carries the officer's API key as a bearer token; errors are problem+json.

/**
 * @param {{ apiKey: string, baseUrl?: string, fetch?: typeof globalThis.fetch, idempotencyKey?: () => string }} options
 */
export function createApiClient({ apiKey, baseUrl = '', fetch: fetchImpl = globalThis.fetch.bind(globalThis), idempotencyKey = () => globalThis.crypto.randomUUID() }) {
  const key = typeof apiKey === 'string' ? apiKey.trim() : '';
  if (!/^[\x21-\x7e]{1,512}$/.test(key)) throw new ConsoleError('API_KEY_MISSING', 'paste your API key first');

  /** @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>} */
  async function call(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${key}`, accept: 'application/json, application/problem+json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET') headers['idempotency-key'] = idempotencyKey();
    let res;
    try {
      // Built first, then passed: Node's RequestInit type lacks `cache`, which browsers honour.
      const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: /** @type {const} */ ('omit'), cache: /** @type {const} */ ('no-store') };
      res = await fetchImpl(`${baseUrl}${path}`, init);
    } catch (error) {
      throw new ConsoleError('NETWORK_ERROR', `the API did not answer: ${/** @type {Error} */ (error).message}`);
    }
    const text = await res.text();
    /** @type {unknown} */
    let json;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!res.ok) throw new ApiError(res.status, json && typeof json === 'object' ? /** @type {Problem} */ (json) : { detail: `HTTP ${res.status}` });
    return json;
  }

  /** @param {string} id */
  const withdrawalPath = (id) => {
    if (!UUID.test(id)) throw new ConsoleError('WITHDRAWAL_ID_INVALID', 'not a withdrawal id');
    return `/v1/treasury/approvals/${encodeURIComponent(id)}`;
  };

  return {
    /** @returns {Promise<PendingItem[]>} */
    async pending() { return /** @type {{ pending: PendingItem[] }} */ (await call('GET', '/v1/treasury/approvals')).pending; },
    /** @returns {Promise<Map<string, AssetInfo>>} */
    async assets() {
      const { assets } = /** @type {{ assets: AssetInfo[] }} */ (await call('GET', '/v1/assets'));
      return new Map(assets.map((a) => [a.code, a]));
    },
    /** @param {string} id @param {SignedStatement} body @returns {Promise<{ withdrawalId: string, approvals: number, required: number }>} */
    async approve(id, body) { return call('POST', withdrawalPath(id), body); },
    /** @param {string} id @param {SignedStatement & { reason: string }} body @returns {Promise<{ id: string, state: string, failure: { code: string } | null }>} */
    async reject(id, body) { return call('POST', `${withdrawalPath(id)}/reject`, body); },
  };
}

/** @typedef {ReturnType<typeof createApiClient>} ApiClient */

/**
 * Checks the intent, signs an approval of it and submits it.
 * @param {{ api: ApiClient, signingKey: SigningKey, approverId: string, item: PendingItem, assets?: Map<string, AssetInfo>, now?: Date, validMinutes?: number }} input
 */
export async function approveWithdrawal({ api, signingKey, approverId, item, assets, now, validMinutes }) {
  const check = await checkIntent(item, assets);
  if (!check.ok) throw new ConsoleError('INTENT_CHECK_FAILED', `not signed: ${check.problems.join('; ')}`);
  const body = await signApproval({ signingKey, approverId, intentHash: item.intentHash, ...(now ? { now } : {}), ...(validMinutes ? { validMinutes } : {}) });
  return api.approve(item.withdrawal.id, body);
}

/**
 * Checks the intent, signs a rejection of it with the reason and submits it: one ends the withdrawal.
 * @param {{ api: ApiClient, signingKey: SigningKey, approverId: string, item: PendingItem, reason: string, assets?: Map<string, AssetInfo>, now?: Date, validMinutes?: number }} input
 */
export async function rejectWithdrawal({ api, signingKey, approverId, item, reason, assets, now, validMinutes }) {
  const check = await checkIntent(item, assets);
  if (!check.ok) throw new ConsoleError('INTENT_CHECK_FAILED', `not signed: ${check.problems.join('; ')}`);
  const body = await signRejection({ signingKey, approverId, intentHash: item.intentHash, reason, ...(now ? { now } : {}), ...(validMinutes ? { validMinutes } : {}) });
  return api.reject(item.withdrawal.id, body);
}

/**
 * One line for the officer: the API's status, code, detail and reason verbatim; never a secret
 * (the API never echoes the key, and nothing here puts it in an error).
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  if (error instanceof ApiError) {
    const reason = typeof error.problem.reason === 'string' ? ` (reason: ${error.problem.reason})` : '';
    return `${error.status} ${error.code}: ${error.message}${reason}`;
  }
  if (error instanceof ConsoleError || error instanceof CanonicalJsonError) return `${error.code}: ${error.message}`;
  return `CONSOLE_ERROR: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Waiting approvals that still count: given for this intent and not yet expired.
 * @param {PendingItem} item @param {number} [nowMs]
 */
export function liveApprovals(item, nowMs = Date.now()) {
  return item.approvals.filter((a) => Date.parse(a.expiresAt) > nowMs);
}
