// What an auditor downloads, and how it is checked offline (no API, no database): `amanat report
// verify FILE [--signature SIGFILE] [--public-key HEX]`.
//  - JSON: a signed envelope, written as canonical JSON (so one spelling only):
//      { type: 'amanat-signed-report-v1', manifest, signature, content }
//    The content's canonical JSON hashes to manifest.contentHash and manifest.files.json; the
//    manifest's signature verifies with the report key. Any changed byte breaks one of the three.
//  - CSV and PDF: the stored bytes exactly; their SHA-256 must be manifest.files.csv / .pdf, with the
//    detached signature file (GET /v1/audit/reports/:reportId/signature):
//      { type: 'amanat-report-signature-v1', manifest, signature }
import { createHash } from 'node:crypto';
import { canonicalJson } from '../platform/canonical.ts';
import { reportKeyFingerprint, verifyReportSignature, type ReportManifest } from '../../signer/src/report-manifest.ts';

export const SIGNED_REPORT_TYPE = 'amanat-signed-report-v1';
export const DETACHED_SIGNATURE_TYPE = 'amanat-report-signature-v1';

export interface ReportSignature { algorithm: 'ecdsa-secp256k1-sha256'; keyId: string; publicKey: string; signature: string }

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The downloadable JSON report: the envelope's canonical JSON bytes. */
export function signedJsonReport(manifest: ReportManifest, signature: ReportSignature, content: unknown): Buffer {
  return Buffer.from(canonicalJson({ type: SIGNED_REPORT_TYPE, manifest, signature, content }), 'utf8');
}

export function detachedSignature(manifest: ReportManifest, signature: ReportSignature): Buffer {
  return Buffer.from(`${JSON.stringify({ type: DETACHED_SIGNATURE_TYPE, manifest, signature }, null, 2)}\n`, 'utf8');
}

export interface VerifyResult {
  ok: boolean;
  reason?: string;
  format?: 'json' | 'csv' | 'pdf';
  manifest?: ReportManifest;
  publicKey?: string;
  fingerprint?: string;
  /** True when the key checked against came from the file itself, not from --public-key. */
  keyFromFile?: boolean;
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function signatureOf(value: unknown): ReportSignature | string {
  if (typeof value !== 'object' || value === null) return 'no signature object';
  const s = value as Record<string, unknown>;
  if (s.algorithm !== 'ecdsa-secp256k1-sha256') return `unknown signature algorithm ${String(s.algorithm)}`;
  if (typeof s.signature !== 'string' || typeof s.publicKey !== 'string' || typeof s.keyId !== 'string') return 'the signature object is incomplete';
  return { algorithm: 'ecdsa-secp256k1-sha256', keyId: s.keyId, publicKey: s.publicKey, signature: s.signature };
}

/**
 * Verifies a downloaded report offline. `file` is the report's bytes; `signatureFile` the detached
 * signature (CSV, PDF; optional for JSON, which embeds it); `publicKey` the published report key
 * (compressed hex); without it the key inside the file is used and the caller must say so.
 */
export function verifyReportFile(file: Buffer, options: { signatureFile?: Buffer; publicKey?: string } = {}): VerifyResult {
  let manifestValue: unknown;
  let signatureValue: unknown;
  let format: VerifyResult['format'];
  const asJson = file.subarray(0, 1).toString() === '{' ? parseJson(file) : undefined;
  const embedded = typeof asJson === 'object' && asJson !== null && (asJson as { type?: unknown }).type === SIGNED_REPORT_TYPE;
  if (embedded) {
    format = 'json';
    const envelope = asJson as { manifest?: unknown; signature?: unknown; content?: unknown };
    let canonical: string;
    try {
      canonical = canonicalJson(envelope as Record<string, unknown>);
    } catch (error) {
      return { ok: false, format, reason: `the report has no canonical JSON: ${(error as Error).message}` };
    }
    if (canonical !== file.toString('utf8')) return { ok: false, format, reason: 'the file is not the canonical JSON of its envelope (it was edited)' };
    manifestValue = envelope.manifest;
    signatureValue = envelope.signature;
    const manifest = manifestValue as Partial<ReportManifest> | undefined;
    if (envelope.content === undefined || envelope.content === null) return { ok: false, format, reason: 'the report has no content' };
    const contentHash = sha256Hex(canonicalJson(envelope.content as Record<string, unknown>));
    if (!manifest || contentHash !== manifest.contentHash) return { ok: false, format, reason: `the content's hash ${contentHash} is not the manifest's contentHash` };
    if (contentHash !== manifest.files?.json) return { ok: false, format, reason: 'the content\'s hash is not the manifest\'s JSON file hash' };
  } else {
    if (!options.signatureFile) return { ok: false, reason: 'a CSV or PDF report needs its detached signature file (--signature FILE, from GET /v1/audit/reports/:reportId/signature)' };
    const detached = parseJson(options.signatureFile) as { type?: unknown; manifest?: unknown; signature?: unknown } | undefined;
    if (!detached || detached.type !== DETACHED_SIGNATURE_TYPE) return { ok: false, reason: `the signature file is not an ${DETACHED_SIGNATURE_TYPE} document` };
    manifestValue = detached.manifest;
    signatureValue = detached.signature;
    const files = (manifestValue as Partial<ReportManifest> | undefined)?.files;
    const hash = sha256Hex(file);
    if (files && hash === files.pdf) format = 'pdf';
    else if (files && hash === files.csv) format = 'csv';
    else if (files && hash === files.json) format = 'json';
    else return { ok: false, reason: `the file's SHA-256 ${hash} is none of the manifest's file hashes: the file was changed, or it is not this report` };
  }
  const signature = signatureOf(signatureValue);
  if (typeof signature === 'string') return { ok: false, format, reason: signature };
  const keyFromFile = options.publicKey === undefined;
  const publicKey = (options.publicKey ?? signature.publicKey).toLowerCase();
  if (!keyFromFile && publicKey !== signature.publicKey) {
    return { ok: false, format, publicKey, reason: `the report was signed by key ${reportKeyFingerprint(signature.publicKey)}, not by the given key ${reportKeyFingerprint(publicKey)}` };
  }
  const checked = verifyReportSignature(manifestValue, signature.signature, publicKey);
  const base = { format, publicKey, fingerprint: /^[0-9a-f]+$/.test(publicKey) ? reportKeyFingerprint(publicKey) : '', keyFromFile, manifest: manifestValue as ReportManifest };
  return checked.ok ? { ok: true, ...base } : { ok: false, ...base, reason: checked.reason };
}
