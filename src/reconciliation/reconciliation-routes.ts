// Reconciliation over HTTP (REC-01, REC-05): the runs with the gaps left by missed days, one report's
// breaks (auditor, treasury, admin; GET only), and "run now" for a date (admin; idempotent per date:
// a finished run is returned as it is).
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { DomainError } from '../platform/errors.ts';
import type { ReconciliationService } from './reconciliation-service.ts';
import { isReportDate } from './schedule.ts';

const READERS = ['auditor', 'treasury', 'admin'] as const;
const reportDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD').refine(isReportDate, 'not a calendar date');

export function reconciliationRoutes(deps: { reconciliation: ReconciliationService }): RouteDef[] {
  const { reconciliation } = deps;
  return [
    defineRoute({
      method: 'get', path: '/v1/audit/reconciliations', tag: 'reconciliation', roles: [...READERS],
      summary: 'Daily reconciliation runs between two dates (Astana), with their reports, and the gaps: days whose run is missing or unfinished (REC-01)',
      query: z.strictObject({ from: reportDate.optional(), to: reportDate.optional() }),
      async handler({ query, q }) {
        if (query.from && query.to && query.from > query.to) throw new DomainError('BAD_ARGUMENT', 'from is after to');
        return { status: 200, body: await reconciliation.list(q, { from: query.from, to: query.to }) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/reports/:reportId/breaks', tag: 'reconciliation', roles: [...READERS],
      summary: 'The breaks of a reconciliation report (class, client, asset, tier, amounts, first seen, incident), by report id or report date',
      params: z.strictObject({ reportId: z.union([z.guid(), reportDate]) }), responses: { 200: 'OK', 404: 'REPORT_NOT_FOUND' },
      async handler({ params, q }) {
        const isDate = /^\d{4}-\d{2}-\d{2}$/.test(params.reportId);
        const found = await reconciliation.breaks(q, isDate ? { reportDate: params.reportId } : { reportId: params.reportId });
        if (!found) throw new DomainError('REPORT_NOT_FOUND', `no reconciliation report ${params.reportId}`);
        return { status: 200, body: found };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/reconciliations/:reportDate/recompute', tag: 'reconciliation', roles: [...READERS],
      summary: 'Recompute a finished reconciliation from its recorded heights and snapshot instant (nodes at those heights, the book as of then) and compare the content hash with the stored, published one (REC-05)',
      params: z.strictObject({ reportDate }), responses: { 200: 'OK', 404: 'REPORT_NOT_FOUND' },
      async handler({ params }) {
        return { status: 200, body: await reconciliation.recompute(params.reportDate) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/reconciliations', tag: 'reconciliation', roles: ['admin'],
      summary: 'Run the reconciliation of a date now (default: the latest date whose cut-off passed); idempotent per date',
      body: z.strictObject({ reportDate: reportDate.optional() }), responses: { 200: 'The run (finished, or in progress elsewhere)', 400: 'BAD_ARGUMENT' },
      async handler({ body }) {
        const run = await reconciliation.run({ reportDate: body.reportDate, trigger: 'on_demand' });
        return { status: 200, body: { run }, subject: run.id };
      },
    }),
  ];
}
