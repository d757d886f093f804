// The report store (issue 12 §4, REC-05): immutable, content-addressed, signed by the signer's
// report key. publish() is idempotent per (kind, reportKey):
//   1. claim: canonical JSON of the content -> contentHash; render JSON (the canonical bytes), CSV and
//      PDF once; the manifest (their SHA-256s) is inserted with the renderings in one statement
//      (on conflict do nothing: of concurrent publishers exactly one row wins; the others read it).
//      Same contentHash as the stored one: carry on with the stored manifest; another: REPORT_CONFLICT.
//   2. commit (autocommit: no transaction is open from here on);
//   3. call the signer (POST /reports/sign) with the stored manifest;
//   4. record: the signature (checked against the manifest first) is inserted once per report.
// A crash between 1 and 4 leaves a claimed, unsigned report: the next publish of the same key signs
// it (the same manifest), so a report is never stored twice and never signed over other bytes.
// Only signed reports are listed or served.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { CanonicalJsonError, canonicalJson } from '../platform/canonical.ts';
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import {
  REPORT_KINDS, REPORT_MANIFEST_TYPE, reportKeyFingerprint, reportManifestSchema, verifyReportSignature, type ReportManifest,
} from '../../signer/src/report-manifest.ts';
import type { ReportKeyInfo, ReportSignatureInfo } from '../signer-client/signer-client.ts';
import type { Renderers } from './renderers.ts';
import { detachedSignature, sha256Hex, signedJsonReport, type ReportSignature } from './report-file.ts';

export type ReportKind = typeof REPORT_KINDS[number];
export type { ReportManifest };
export type ReportFormat = 'json' | 'csv' | 'pdf';

export interface PublishedReport {
  id: string;
  kind: ReportKind;
  reportKey: string;
  createdAt: Date;
  contentHash: string;
  manifest: ReportManifest;
  signature: ReportSignature;
}

/** What the store needs of the signer (SignerClient implements it). */
export interface ReportSigner {
  signReport(manifest: Record<string, unknown>): Promise<ReportSignatureInfo>;
  reportKey(): Promise<ReportKeyInfo>;
}

export const CONTENT_TYPES: Record<ReportFormat, string> = { json: 'application/json', csv: 'text/csv; charset=utf-8', pdf: 'application/pdf' };

/** SHA-256 (hex) of the canonical JSON of a report's content: the report's content hash. */
export function reportContentHash(content: unknown): string {
  return sha256Hex(canonicalJsonOf(content));
}

function canonicalJsonOf(content: unknown): string {
  try {
    return canonicalJson(content as Record<string, unknown>);
  } catch (error) {
    if (error instanceof CanonicalJsonError) throw new DomainError('BAD_ARGUMENT', `a report's content must have canonical JSON (decimal strings, no numbers or dates): ${error.message}`);
    throw error;
  }
}

interface ReportRow {
  id: string; kind: ReportKind; report_key: string; content_hash: string; manifest: ReportManifest; created_at: Date;
  algorithm: 'ecdsa-secp256k1-sha256' | null; key_id: string | null; public_key: string | null; signature: string | null;
}

const SELECT = `select r.id, r.kind, r.report_key, r.content_hash, r.manifest, r.created_at, s.algorithm, s.key_id, s.public_key, s.signature
  from reports r left join report_signatures s on s.report_id = r.id`;

const REPORT_KEY = /^[A-Za-z0-9_.:@-]{1,200}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toReport(row: ReportRow): PublishedReport | undefined {
  if (row.signature === null || row.key_id === null || row.public_key === null) return undefined;
  return {
    id: row.id, kind: row.kind, reportKey: row.report_key, createdAt: row.created_at, contentHash: row.content_hash, manifest: row.manifest,
    signature: { algorithm: 'ecdsa-secp256k1-sha256', keyId: row.key_id, publicKey: row.public_key, signature: row.signature },
  };
}

export class ReportService {
  constructor(private readonly pool: pg.Pool, private readonly signer: ReportSigner | undefined) {}

  /** Throws SIGNER_NOT_CONFIGURED on an instance that cannot sign (check before writing anything a report needs). */
  assertCanSign(): void {
    this.requireSigner();
  }

  private requireSigner(): ReportSigner {
    // This instance has no signer (a read-only replica, a test app): nothing can be signed here. Not
    // an outage (that is SIGNER_UNAVAILABLE, 503, from the client): a configuration.
    if (!this.signer) throw new DomainError('SIGNER_NOT_CONFIGURED', 'this instance has no signer: reports cannot be signed here');
    return this.signer;
  }

  async publish(input: { kind: ReportKind; reportKey: string; content: object; renderers: Renderers }): Promise<PublishedReport> {
    if (!(REPORT_KINDS as readonly string[]).includes(input.kind)) throw new DomainError('BAD_ARGUMENT', `unknown report kind ${String(input.kind)}`);
    if (!REPORT_KEY.test(input.reportKey)) throw new DomainError('BAD_ARGUMENT', 'reportKey is 1-200 characters [A-Za-z0-9_.:@-]');
    const canonical = canonicalJsonOf(input.content);
    const contentHash = sha256Hex(canonical);
    let row = await this.row(input.kind, input.reportKey);
    if (!row) {
      const signedAt = new Date().toISOString();
      const fingerprint = await this.requireSigner().reportKey().then((key) => reportKeyFingerprint(key.publicKey));
      const meta = { kind: input.kind, reportKey: input.reportKey, contentHash, signedAt, reportKeyFingerprint: fingerprint };
      const json = Buffer.from(canonical, 'utf8');
      const csv = input.renderers.csv(input.content);
      const pdf = await input.renderers.pdf(input.content, meta);
      const manifest: ReportManifest = reportManifestSchema.parse({
        type: REPORT_MANIFEST_TYPE, kind: input.kind, reportKey: input.reportKey, contentHash,
        files: { json: sha256Hex(json), csv: sha256Hex(csv), pdf: sha256Hex(pdf) }, signedAt,
      });
      // Claim (one autocommitted statement: no transaction stays open across the signer call).
      await this.pool.query(
        `insert into reports (id, kind, report_key, content_hash, content, json_bytes, csv_bytes, pdf_bytes, manifest)
         values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9::jsonb) on conflict (kind, report_key) do nothing`,
        [randomUUID(), input.kind, input.reportKey, contentHash, canonical, json, csv, pdf, JSON.stringify(manifest)]);
      row = await this.row(input.kind, input.reportKey);
      if (!row) throw new Error(`report ${input.kind}/${input.reportKey} vanished after its claim`);
    }
    if (row.content_hash !== contentHash) {
      throw new DomainError('REPORT_CONFLICT', `a ${input.kind} report ${input.reportKey} exists with other content (content hash ${row.content_hash}, not ${contentHash}); reports are immutable`,
        { kind: input.kind, reportKey: input.reportKey, reportId: row.id, storedContentHash: row.content_hash, contentHash });
    }
    const done = toReport(row);
    if (done) return done;
    return this.sign(row);
  }

  /** Signs a claimed report's stored manifest and records the signature once (the first recorded wins). */
  private async sign(row: ReportRow): Promise<PublishedReport> {
    const signed = await this.requireSigner().signReport(row.manifest);
    const check = verifyReportSignature(row.manifest, signed.signature, signed.publicKey);
    if (!check.ok) throw new DomainError('SIGNER_UNAVAILABLE', `the signer's report signature does not verify: ${check.reason}`);
    await this.pool.query(
      `insert into report_signatures (report_id, algorithm, key_id, public_key, signature) values ($1, $2, $3, $4, $5)
       on conflict (report_id) do nothing`,
      [row.id, signed.algorithm, signed.keyId, signed.publicKey, signed.signature]);
    const stored = toReport((await this.row(row.kind, row.report_key))!);
    if (!stored) throw new Error(`report ${row.id} has no signature after signing`);
    return stored;
  }

  /**
   * The published report of (kind, reportKey); a claimed but unsigned one (a crash between claim and
   * signature) is signed now. Undefined when nothing was claimed under the key. A caller whose content
   * depends on the time (a statement) uses this before building content, so a retry after a crash
   * returns the first statement instead of a conflicting second one.
   */
  async resume(kind: ReportKind, reportKey: string): Promise<PublishedReport | undefined> {
    const row = await this.row(kind, reportKey);
    if (!row) return undefined;
    return toReport(row) ?? this.sign(row);
  }

  /** Claimed but unsigned reports (a crash between claim and signature): sign them now. */
  async resumeUnsigned(max = 100): Promise<number> {
    const { rows } = await this.pool.query<ReportRow>(`${SELECT} where s.report_id is null order by r.created_at limit $1`, [max]);
    for (const row of rows) await this.sign(row);
    return rows.length;
  }

  private async row(kind: ReportKind, reportKey: string, q: Queryable = this.pool): Promise<ReportRow | undefined> {
    const { rows } = await q.query<ReportRow>(`${SELECT} where r.kind = $1 and r.report_key = $2`, [kind, reportKey]);
    return rows[0];
  }

  async get(id: string, q: Queryable = this.pool): Promise<PublishedReport> {
    const found = UUID.test(id) ? (await q.query<ReportRow>(`${SELECT} where r.id = $1`, [id])).rows[0] : undefined;
    const report = found ? toReport(found) : undefined;
    if (!report) throw new DomainError('REPORT_NOT_FOUND', `no published report ${id}`, { reportId: id });
    return report;
  }

  async findByKey(kind: ReportKind, reportKey: string, q: Queryable = this.pool): Promise<PublishedReport | undefined> {
    const found = await this.row(kind, reportKey, q);
    return found ? toReport(found) : undefined;
  }

  async list(filter: { kind?: ReportKind; from?: Date; to?: Date; limit?: number } = {}, q: Queryable = this.pool): Promise<PublishedReport[]> {
    const { rows } = await q.query<ReportRow>(
      `${SELECT} where s.report_id is not null and ($1::text is null or r.kind = $1)
         and ($2::timestamptz is null or r.created_at >= $2) and ($3::timestamptz is null or r.created_at < $3)
       order by r.created_at desc, r.id limit $4`,
      [filter.kind ?? null, filter.from ?? null, filter.to ?? null, Math.min(Math.max(filter.limit ?? 100, 1), 500)]);
    return rows.map(toReport).filter((report): report is PublishedReport => report !== undefined);
  }

  /** The report's content as stored (the parsed canonical JSON: money as decimal strings). */
  async content(id: string, q: Queryable = this.pool): Promise<unknown> {
    await this.get(id, q);
    const { rows } = await q.query<{ json_bytes: Buffer }>('select json_bytes from reports where id = $1', [id]);
    return JSON.parse(rows[0]!.json_bytes.toString('utf8')) as unknown;
  }

  /**
   * A rendering to download: JSON is the signed envelope (manifest, signature and content in one
   * canonical JSON file); CSV and PDF are the stored bytes whose SHA-256 the manifest names.
   */
  async file(id: string, format: ReportFormat, q: Queryable = this.pool): Promise<{ bytes: Buffer; contentType: string; filename: string }> {
    const report = await this.get(id, q);
    const { rows } = await q.query<{ json_bytes: Buffer; csv_bytes: Buffer; pdf_bytes: Buffer }>(
      'select json_bytes, csv_bytes, pdf_bytes from reports where id = $1', [id]);
    const stored = rows[0]!;
    const bytes = format === 'json'
      ? signedJsonReport(report.manifest, report.signature, JSON.parse(stored.json_bytes.toString('utf8')))
      : format === 'csv' ? stored.csv_bytes : stored.pdf_bytes;
    return { bytes, contentType: CONTENT_TYPES[format], filename: `amanat-${report.kind}-${report.reportKey}.${format}` };
  }

  /** The detached signature file (manifest + signature) that `amanat report verify --signature` reads. */
  async signatureFile(id: string, q: Queryable = this.pool): Promise<Buffer> {
    const report = await this.get(id, q);
    return detachedSignature(report.manifest, report.signature);
  }

  /** The signer's report key; on an instance without a signer, the key of the latest signed report. */
  async reportKey(): Promise<ReportKeyInfo & { source: 'signer' | 'latest signed report' }> {
    if (this.signer) return { ...(await this.signer.reportKey()), source: 'signer' };
    const { rows } = await this.pool.query<{ key_id: string; public_key: string; created_at: Date }>(
      'select key_id, public_key, created_at from report_signatures order by created_at desc limit 1');
    const latest = rows[0];
    if (!latest) throw new DomainError('SIGNER_NOT_CONFIGURED', 'this instance has no signer and no signed report: the report key is not known here');
    return {
      keyId: latest.key_id, algorithm: 'ecdsa-secp256k1-sha256', publicKey: latest.public_key, fingerprint: reportKeyFingerprint(latest.public_key),
      created: latest.created_at.toISOString(), source: 'latest signed report',
    };
  }
}
