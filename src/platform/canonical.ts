// Canonical JSON on the service side. The serialization is signer/src/canonical-json.js, the one
// implementation that the signer and the treasury console run too (its header has the rules);
// this file adds node:crypto hashing and nothing else.
import { createHash } from 'node:crypto';
import { fingerprintJson } from '../../signer/src/canonical-json.js';

export { CanonicalJsonError, canonicalJson, fingerprintJson } from '../../signer/src/canonical-json.js';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * SHA-256 (hex) of fingerprintJson(value): the service's own fingerprints of a request or record
 * (idempotency request hashes, the ledger's request hashes, screening records), which may hold
 * numbers and any text. The same hash as SHA-256 of canonicalJson wherever canonicalJson accepts
 * the value, and the same as before for every input, so stored hashes stay valid. Never for what
 * is signed or verified by another party: that is canonicalJson.
 */
export function hashOf(value: unknown): string {
  return sha256Hex(fingerprintJson(value));
}
