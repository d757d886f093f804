// @ts-check
// Amanat canonical JSON, version 1: the one serialization of what is hashed and signed (KEY-08,
// WDR-06). There is exactly one implementation, this file, and it is plain JavaScript with no
// imports, so that every party that must produce the same bytes runs the same code:
//   - the signer (signer/src/intent.ts: intent hashes and approval messages);
//   - the service (src/platform/canonical.ts: rejection messages, screening records, ledger and
//     idempotency request hashes);
//   - the treasury console in the browser (src/console/static/console-core.js imports it as
//     /console/canonical-json.js, which the API serves from this very file; in the repository
//     src/console/static/canonical-json.js is a symbolic link to it, so Node and tsc resolve the
//     console's import to this file too).
// Hashing stays with each caller (node:crypto is synchronous, WebCrypto is not): all of them take
// SHA-256 of the UTF-8 bytes of the string returned here.
//
// canonicalJson(value), the rules for everything another party recomputes or verifies:
//   - null, true and false as in JSON;
//   - a string is written with JSON.stringify's escaping, and must be well-formed UTF-16 (no lone
//     surrogate: it has no UTF-8 form, and Postgres cannot store it) and in Unicode NFC (two
//     spellings of one text must not give two hashes of "the same" intent, and what an officer
//     reads must be what is hashed); object keys obey the same rules;
//   - a bigint is written as a JSON string of its decimal digits: money travels as decimal strings
//     of base units, never as JSON numbers (so 5n and "5" are the same bytes, as they always were);
//   - an array: its elements in order; a hole or an undefined element is refused;
//   - a plain object (prototype Object.prototype or null): its own enumerable string keys sorted by
//     UTF-16 code units (Array.prototype.sort's order), no whitespace, members whose value is
//     undefined left out; a symbol key is refused;
//   - refused, with a CanonicalJsonError (a TypeError with code CANONICAL_JSON_REFUSED, a reason
//     and the path of the value): numbers of any kind (a float must never enter a hash, and
//     integers are refused too so that there is one rule, not a range), Dates (write
//     toISOString() yourself: a Date used to become {} in the signer and a string in the service),
//     every other object (Map, Set, typed arrays, class instances), functions, symbols, undefined
//     outside an object member, and nesting deeper than MAX_DEPTH.
//
// fingerprintJson(value), for fingerprints only the service computes and compares with its own
// stored values (idempotency request hashes, the ledger's request hashes, screening records): the
// same bytes as canonicalJson for every value canonicalJson accepts, and in addition what the
// service's serializer always accepted, written as it always wrote it, so stored hashes stay
// valid: finite numbers as JSON.stringify writes them (1.5, 1e+21, -0 as 0), a Date as its
// toISOString() string, any string (no NFC or surrogate check; a lone surrogate is escaped as
// \udXXX), and undefined at the top or in an array as null. Never use it for what is signed.

/** Deeper than anything we sign or store (an intent nests 3 levels); a cycle ends here, not in a stack overflow. */
export const MAX_DEPTH = 64;

/** A value that has no canonical JSON. `reason` is stable; `path` says where (`$.outputs[0].amount`). */
export class CanonicalJsonError extends TypeError {
  /** @param {string} reason @param {string} path @param {string} message */
  constructor(reason, path, message) {
    super(`canonical JSON: ${message} at ${path}`);
    this.name = 'CanonicalJsonError';
    this.code = 'CANONICAL_JSON_REFUSED';
    this.reason = reason;
    this.path = path;
  }
}

/**
 * @typedef {{ lenient: boolean }} Profile
 */

/** @param {string} path @param {string} key @returns {string} */
function memberPath(path, key) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** True when every surrogate in `text` is half of a pair. @param {string} text */
function isWellFormed(text) {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (unit > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
    i++;
  }
  return true;
}

/** @param {string} text @param {string} path @param {Profile} profile @param {string} what */
function writeString(text, path, profile, what) {
  if (!profile.lenient) {
    if (!isWellFormed(text)) throw new CanonicalJsonError('string-not-well-formed', path, `${what} holds a lone surrogate (not Unicode text)`);
    if (text.normalize('NFC') !== text) throw new CanonicalJsonError('string-not-nfc', path, `${what} is not in Unicode NFC`);
  }
  return JSON.stringify(text);
}

/**
 * @param {unknown} value @param {string} path @param {number} depth @param {Profile} profile
 * @returns {string}
 */
function write(value, path, depth, profile) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': return writeString(value, path, profile, 'the string');
    case 'boolean': return value ? 'true' : 'false';
    case 'bigint': return JSON.stringify(value.toString(10));
    case 'number':
      if (!profile.lenient) throw new CanonicalJsonError('number', path, 'numbers are not allowed, use decimal strings');
      if (!Number.isFinite(value)) throw new CanonicalJsonError('number-not-finite', path, `${String(value)} has no JSON form`);
      return JSON.stringify(value);
    case 'undefined':
      if (!profile.lenient) throw new CanonicalJsonError('undefined', path, 'undefined is allowed only as an object member (which is left out)');
      return 'null';
    case 'object': break;
    default: throw new CanonicalJsonError('unsupported-type', path, `a ${typeof value} has no JSON form`);
  }
  if (depth >= MAX_DEPTH) throw new CanonicalJsonError('too-deep', path, `nesting deeper than ${MAX_DEPTH} (or a cycle)`);
  if (Array.isArray(value)) {
    const items = [];
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new CanonicalJsonError('array-hole', `${path}[${i}]`, 'an array hole has no JSON form');
      items.push(write(value[i], `${path}[${i}]`, depth + 1, profile));
    }
    return `[${items.join(',')}]`;
  }
  if (value instanceof Date) {
    if (!profile.lenient) throw new CanonicalJsonError('date', path, 'a Date is not allowed, write its toISOString() string');
    if (Number.isNaN(value.getTime())) throw new CanonicalJsonError('date-invalid', path, 'an invalid Date has no JSON form');
    return JSON.stringify(value.toISOString());
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    const name = typeof prototype?.constructor?.name === 'string' && prototype.constructor.name ? prototype.constructor.name : 'object';
    throw new CanonicalJsonError('object-not-plain', path, `a ${name} is not a plain object`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) throw new CanonicalJsonError('symbol-key', path, 'an object with a symbol key has no JSON form');
  const record = /** @type {Record<string, unknown>} */ (value);
  const members = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    const at = memberPath(path, key);
    members.push(`${writeString(key, at, profile, 'the key')}:${write(member, at, depth + 1, profile)}`);
  }
  return `{${members.join(',')}}`;
}

const STRICT = Object.freeze({ lenient: false });
const LENIENT = Object.freeze({ lenient: true });

/**
 * Canonical JSON (version 1) of what is hashed and signed: intents, approvals, rejections.
 * Throws CanonicalJsonError for anything the rules above refuse.
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  return write(value, '$', 0, STRICT);
}

/**
 * The service's fingerprint serialization: canonicalJson's bytes wherever canonicalJson accepts
 * the value, plus numbers, Dates, any string and undefined-as-null, as the service always wrote
 * them. For hashes only the service recomputes; never for what is signed.
 * @param {unknown} value
 * @returns {string}
 */
export function fingerprintJson(value) {
  return write(value, '$', 0, LENIENT);
}
