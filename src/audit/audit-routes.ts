import { defineRoute, type RouteDef } from '../api/route.ts';
import type { AuditLog } from './audit-log.ts';

export function auditRoutes(deps: { audit: AuditLog }): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v1/audit/verify', tag: 'audit', roles: ['auditor', 'admin'],
      summary: 'Walk the audit hash chain and the journal hashes; report the first altered or missing row',
      async handler({ q }) {
        const report = await deps.audit.verify(q);
        return { status: 200, body: report };
      },
    }),
  ];
}
