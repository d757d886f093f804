// The report routes of the auditor API (issue 12 §5), the client's proof of reserves (§6), statements
// of account (CLI-04) and balances as of an instant (SEG-08). Reads only, except the statement and
// the proof-of-reserves publication, which auditors may not call. Every auditor read is in the audit
// log (the HTTP layer writes it).
import { z } from 'zod';
import type pg from 'pg';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { assetCode, isoInstant, uuid } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import { reportKeyFingerprint, REPORT_KINDS } from '../../signer/src/report-manifest.ts';
import type { PublishedReport, ReportService } from './report-service.ts';
import type { ProofService } from './proof-service.ts';
import type { StatementService } from './statements.ts';

const AUDIT_READERS = ['auditor', 'treasury', 'admin'] as const;
/** An ISO instant that is also a real date (2026-02-30 is refused here, not at the database). */
const instant = isoInstant.refine((value) => !Number.isNaN(Date.parse(value)), 'not a real instant');

export function presentReport(report: PublishedReport): Record<string, unknown> {
  return {
    id: report.id, kind: report.kind, reportKey: report.reportKey, createdAt: report.createdAt.toISOString(), contentHash: report.contentHash,
    manifest: report.manifest, signature: { ...report.signature, fingerprint: reportKeyFingerprint(report.signature.publicKey) },
    downloads: Object.fromEntries(['json', 'csv', 'pdf'].map((format) => [format, `/v1/audit/reports/${report.id}?format=${format}`])),
    detachedSignature: `/v1/audit/reports/${report.id}/signature`,
  };
}

export function reportRoutes(deps: {
  pool: pg.Pool; reports: ReportService; proofs: ProofService; statements: StatementService; ledger: LedgerService; clients: ClientService; assets: AssetRegistry;
}): RouteDef[] {
  const { reports, proofs, statements, ledger, clients, assets, pool } = deps;
  return [
    defineRoute({
      method: 'get', path: '/v1/audit/reports', tag: 'reports', roles: AUDIT_READERS,
      summary: 'Signed reports, newest first (kind, from/to on the creation time)',
      query: z.strictObject({ kind: z.enum(REPORT_KINDS).optional(), from: instant.optional(), to: instant.optional() }),
      async handler({ query, q }) {
        const list = await reports.list({
          ...(query.kind ? { kind: query.kind } : {}), ...(query.from ? { from: new Date(query.from) } : {}), ...(query.to ? { to: new Date(query.to) } : {}),
        }, q);
        return { status: 200, body: { reports: list.map(presentReport) } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/reports/:reportId', tag: 'reports', roles: AUDIT_READERS,
      summary: 'Download a signed report: JSON (manifest, signature and content in one file), CSV or PDF (verify with the detached signature)',
      params: z.strictObject({ reportId: uuid }),
      query: z.strictObject({ format: z.enum(['json', 'csv', 'pdf']).default('json') }),
      responses: { 200: 'The report file', 404: 'No such report' },
      async handler({ params, query, q }) {
        const file = await reports.file(params.reportId, query.format, q);
        return {
          status: 200, body: file.bytes, contentType: file.contentType, subject: params.reportId,
          headers: { 'content-disposition': `attachment; filename="${file.filename}"` },
        };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/reports/:reportId/signature', tag: 'reports', roles: AUDIT_READERS,
      summary: 'The detached signature of a report (its manifest and the report key\'s signature), for `amanat report verify --signature`',
      params: z.strictObject({ reportId: uuid }),
      responses: { 200: 'The signature file', 404: 'No such report' },
      async handler({ params, q }) {
        const bytes = await reports.signatureFile(params.reportId, q);
        return {
          status: 200, body: bytes, contentType: 'application/json', subject: params.reportId,
          headers: { 'content-disposition': `attachment; filename="amanat-report-${params.reportId}.sig.json"` },
        };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/report-key', tag: 'reports', roles: AUDIT_READERS,
      summary: 'The public report key (secp256k1, compressed) that signs every report manifest, with its fingerprint',
      async handler() {
        return { status: 200, body: await reports.reportKey() };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/balances', tag: 'reports', roles: AUDIT_READERS,
      summary: 'SEG-08: every client\'s entitlement and holdings (hot, cold) per asset as of an instant, from the ledger\'s balance after each posting',
      query: z.strictObject({ asOf: instant, asset: assetCode.optional(), clientId: uuid.optional() }),
      async handler({ query, q }) {
        const asOf = new Date(query.asOf);
        if (asOf.getTime() > Date.now()) throw new DomainError('VALIDATION_FAILED', 'asOf is in the future');
        if (query.asset) assets.get(query.asset);
        const rows = (await ledger.allClientBalancesAsOf(q, asOf, query.asset ? { asset: query.asset } : {}))
          .filter((row) => query.clientId === undefined || row.clientId === query.clientId);
        return {
          status: 200,
          body: {
            asOf: asOf.toISOString(),
            balances: rows.map((row) => ({
              clientId: row.clientId, asset: row.asset, entitlement: assets.toDecimal(row.asset, row.entitlement),
              holdings: { hot: assets.toDecimal(row.asset, row.hot), cold: assets.toDecimal(row.asset, row.cold), total: assets.toDecimal(row.asset, row.hot + row.cold) },
            })),
          },
        };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/clients/:clientId/proof', tag: 'reports', roles: ['exchange', 'auditor'],
      summary: 'Proof of reserves: the client\'s inclusion proof in a report\'s liability tree for an asset, and the published root (check with `amanat proof verify`)',
      params: z.strictObject({ clientId: uuid }),
      query: z.strictObject({ asset: assetCode, reportId: uuid.optional() }),
      responses: { 200: 'The proof', 404: 'No proof for this client, asset and report' },
      async handler({ params, query, q }) {
        await clients.get(q, params.clientId);
        assets.get(query.asset);
        const proof = await proofs.clientProof(q, { clientId: params.clientId, asset: query.asset, ...(query.reportId ? { reportId: query.reportId } : {}) });
        return { status: 200, body: proof, subject: params.clientId };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/clients/:clientId/statements', tag: 'reports', roles: ['exchange', 'admin'],
      summary: 'CLI-04: a signed statement of account as of now (JSON, CSV, PDF); the same Idempotency-Key returns the same statement',
      params: z.strictObject({ clientId: uuid }),
      responses: { 201: 'The statement (a signed report of kind statement)' },
      async handler({ params, idempotencyId }) {
        // Reads and the publication run on the pool: the request's own transaction holds nothing
        // while the signer is called.
        const report = await statements.produce(pool, { clientId: params.clientId, requestId: idempotencyId });
        return { status: 201, body: presentReport(report), subject: report.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/reports/proof-of-reserves', tag: 'reports', roles: ['treasury', 'admin'],
      summary: 'Publish a proof-of-reserves report as of an instant (default now): a liability root per asset, reserves from the holdings book',
      body: z.strictObject({ asOf: instant.optional() }),
      responses: { 201: 'The published report' },
      async handler({ body }) {
        const asOf = body.asOf ? new Date(body.asOf) : new Date();
        if (asOf.getTime() > Date.now()) throw new DomainError('VALIDATION_FAILED', 'asOf is in the future');
        const report = await proofs.publishProofOfReserves(pool, asOf);
        return { status: 201, body: presentReport(report), subject: report.id };
      },
    }),
  ];
}
