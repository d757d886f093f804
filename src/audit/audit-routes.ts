import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { isoInstant, uuid } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { AuditLog } from './audit-log.ts';
import type { SignerClient } from '../signer-client/signer-client.ts';
import type { WalletService } from '../wallets/wallet-service.ts';
import { keyInventory } from './key-inventory.ts';
import { transactionLookup, withdrawalTrail, type TrailDeps } from './audit-trail.ts';

const AUDIT_READERS = ['auditor', 'admin'] as const;

export function auditRoutes(deps: { audit: AuditLog; trail?: TrailDeps; signer?: SignerClient; wallets?: WalletService }): RouteDef[] {
  const trailDeps = (): TrailDeps => {
    if (!deps.trail) throw new DomainError('INTERNAL', 'the audit trail is not wired');
    return deps.trail;
  };
  return [
    defineRoute({
      method: 'get', path: '/v1/audit/verify', tag: 'audit', roles: ['auditor', 'admin'],
      summary: 'Walk the audit hash chain and the journal hashes; report the first altered or missing row',
      async handler({ q }) {
        const report = await deps.audit.verify(q);
        return { status: 200, body: report };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/keys', tag: 'audit', roles: [...AUDIT_READERS],
      summary: 'KEY-09: the private keys the firm holds, counted from the signer\'s HSM enumeration (docs/keys.md), by tier, owner and usage, reconciled with the wallet registry: orphans flagged',
      query: z.strictObject({ asOf: isoInstant.optional() }),
      responses: { 200: 'OK', 503: 'SIGNER_UNAVAILABLE' },
      async handler({ q, query }) {
        // An instance without a signer (a read replica of the API) holds no keys to enumerate: it says so, and counts nothing.
        if (!deps.signer || !deps.wallets) {
          return { status: 200, body: { signerConfigured: false, total: null, reconciled: false, detail: 'this instance has no signer: the HSM enumeration is not available here' } };
        }
        return { status: 200, body: await keyInventory(q, { signer: deps.signer, wallets: deps.wallets }, query.asOf ? new Date(query.asOf) : undefined) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/trail/:withdrawalId', tag: 'audit', roles: [...AUDIT_READERS],
      summary: 'REC-06: one withdrawal end to end under its correlation id: request, quote, screening, policy, Travel Rule, intent, approvals, sign, broadcast, confirmations, journal entries and audit rows; missing steps named',
      params: z.strictObject({ withdrawalId: uuid }), responses: { 200: 'OK', 404: 'WITHDRAWAL_NOT_FOUND' },
      async handler({ params, q }) {
        return { status: 200, body: await withdrawalTrail(q, trailDeps(), params.withdrawalId) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/transactions/:txid', tag: 'audit', roles: [...AUDIT_READERS],
      summary: 'SEG-08: a custody transaction by its txid: the owning client, the originating instruction, the approvals and the journal entries',
      params: z.strictObject({ txid: z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'a transaction id: 64 hex digits') }),
      responses: { 200: 'OK', 404: 'NOT_FOUND' },
      async handler({ params, q }) {
        const found = await transactionLookup(q, trailDeps(), params.txid);
        if (!found) throw new DomainError('NOT_FOUND', `no custody transaction ${params.txid}`);
        return { status: 200, body: found };
      },
    }),
  ];
}
