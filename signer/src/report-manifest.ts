// Report signing (issue 12 §4): the signer signs the manifest of a published report with its one
// house REPORT key, and nothing else with that key. The API is attacker-facing, so the signer takes
// no digest and no bytes from the caller: it parses a manifest of a fixed shape (every field
// bounded and typed, nothing extra), writes it as canonical JSON itself and signs
//   sha256( 'amanat-report-v1\n' + canonicalJson(manifest) )
// The fixed prefix separates this domain from every other message: a transaction sighash, an
// approval statement or a drill message can never be the hash of such a string unless SHA-256 is
// broken, and the report key never signs a transaction (sign-service refuses it as a source and as
// a destination). This file is imported by the service too (src/reports), for offline verification.
import { createHash } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';

export const REPORT_DOMAIN_PREFIX = 'amanat-report-v1\n';
export const REPORT_SIGNATURE_ALGORITHM = 'ecdsa-secp256k1-sha256';
export const REPORT_MANIFEST_TYPE = 'amanat-report-manifest-v1';
export const REPORT_KINDS = ['reconciliation', 'segregation', 'statement', 'proof_of_reserves'] as const;
/** The registry label of the one report key. */
export const REPORT_KEY_LABEL = 'amanat-report-key';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters (a SHA-256)');
/** UTC as Date.prototype.toISOString writes it, milliseconds included: one spelling per instant. */
const utcIso = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'UTC instant as toISOString writes it')
  .refine((value) => !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value, 'not a real instant');

export const reportManifestSchema = z.object({
  type: z.literal(REPORT_MANIFEST_TYPE),
  kind: z.enum(REPORT_KINDS),
  reportKey: z.string().regex(/^[A-Za-z0-9_.:@-]{1,200}$/, '1-200 characters [A-Za-z0-9_.:@-]'),
  contentHash: hex64,
  files: z.object({ json: hex64, csv: hex64, pdf: hex64 }).strict(),
  signedAt: utcIso,
}).strict();

export type ReportManifest = z.infer<typeof reportManifestSchema>;

export const reportSignRequestSchema = z.object({ manifest: reportManifestSchema }).strict();

/** The exact bytes whose SHA-256 the report key signs. */
export function reportMessage(manifest: ReportManifest): Buffer {
  return Buffer.from(REPORT_DOMAIN_PREFIX + canonicalJson(manifest), 'utf8');
}

export function reportDigest(manifest: ReportManifest): Buffer {
  return createHash('sha256').update(reportMessage(manifest)).digest();
}

/** A short, human-comparable fingerprint of a report public key: sha256 of its compressed bytes, first 16 bytes, grouped. */
export function reportKeyFingerprint(publicKeyHex: string): string {
  const hex = createHash('sha256').update(Buffer.from(publicKeyHex, 'hex')).digest('hex').slice(0, 32);
  return hex.match(/.{4}/g)?.join(':') ?? hex;
}

/**
 * Offline verification of a report signature: the manifest must have the schema's shape, the
 * public key be a valid compressed secp256k1 point and the signature a strict low-S 64-byte r||s
 * over reportDigest(manifest).
 */
export function verifyReportSignature(manifest: unknown, signatureHex: string, publicKeyHex: string): { ok: true } | { ok: false; reason: string } {
  const parsed = reportManifestSchema.safeParse(manifest);
  if (!parsed.success) return { ok: false, reason: `the manifest is not well-formed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  if (!/^(02|03)[0-9a-f]{64}$/.test(publicKeyHex)) return { ok: false, reason: 'the public key is not a compressed secp256k1 key (66 hex characters)' };
  if (!/^[0-9a-f]{128}$/.test(signatureHex)) return { ok: false, reason: 'the signature is not 64 bytes r||s in hex' };
  const publicKey = Buffer.from(publicKeyHex, 'hex');
  if (!ecc.isPoint(publicKey)) return { ok: false, reason: 'the public key is not a point on secp256k1' };
  let valid = false;
  try {
    valid = ecc.verify(reportDigest(parsed.data), publicKey, Buffer.from(signatureHex, 'hex'), true);
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: 'the signature does not verify against the public key for this manifest' };
}
