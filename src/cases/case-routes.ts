// Disputes (WDR-08) and the compliance case register. Filing a dispute freezes the client's
// withdrawals at once, opens a case and sends the client a notice through the agreed channel;
// resolving it records the redress decision against the redress policy's version.
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { limit, uuid } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { CaseRow, CaseService } from './case-service.ts';

/** Free text a person wrote: line breaks and tabs allowed, other control characters not. */
const prose = (max: number) => z.string().min(1).max(max).refine((v) => ![...v].some((ch) => ch.charCodeAt(0) < 0x20 && ch !== '\n' && ch !== '\t'), 'no control characters');
const channel = z.enum(['email', 'sms', 'in_app', 'post']);
const CASE_READERS = ['treasury', 'auditor', 'admin'] as const;

export const presentCase = (c: CaseRow) => ({
  id: c.id, kind: c.kind, status: c.status, clientId: c.client_id, withdrawalId: c.withdrawal_id, summary: c.summary, details: c.details,
  openedBy: c.opened_by, openedAt: c.opened_at.toISOString(), resolution: c.resolution, resolvedBy: c.resolved_by,
  resolvedAt: c.resolved_at?.toISOString() ?? null,
});


export function caseRoutes(deps: { cases: CaseService; clients: ClientService }): RouteDef[] {
  const { cases, clients } = deps;
  return [
    defineRoute({
      method: 'post', path: '/v1/clients/:clientId/disputes', tag: 'cases', roles: ['exchange', 'admin'],
      summary: 'File a dispute (unauthorised or wrongly executed transfer, suspected compromise): the client is frozen at once, a case opens, the client is sent a notice',
      params: z.strictObject({ clientId: uuid }),
      body: z.strictObject({
        category: z.enum(['unauthorised_transfer', 'incorrect_transfer', 'suspected_compromise']),
        description: prose(2000),
        withdrawalId: uuid.optional(),
        channel,
        reportedBy: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
      }),
      responses: { 201: 'Dispute filed: the client is frozen', 404: 'CLIENT_NOT_FOUND / WITHDRAWAL_NOT_FOUND' },
      async handler({ params, body, q, actorLabel }) {
        await clients.get(q, params.clientId);
        if (body.withdrawalId) {
          const { rows } = await q.query('select 1 from withdrawals where id = $1 and client_id = $2', [body.withdrawalId, params.clientId]);
          if (rows.length === 0) throw new DomainError('WITHDRAWAL_NOT_FOUND', `no withdrawal ${body.withdrawalId} of client ${params.clientId}`);
        }
        const dispute = await cases.open(q, {
          kind: 'dispute', clientId: params.clientId, withdrawalId: body.withdrawalId ?? null, actor: actorLabel,
          summary: `${body.category.replace(/_/g, ' ')}${body.withdrawalId ? ` (withdrawal ${body.withdrawalId})` : ''}`,
          details: { category: body.category, description: body.description, reportedBy: body.reportedBy, channel: body.channel },
        });
        const frozen = await cases.freezeClient(q, params.clientId, { reasonCode: 'DISPUTE', caseId: dispute.id, actor: actorLabel });
        await cases.notify(q, dispute, { channel: body.channel, template: 'dispute-received', payload: { category: body.category } });
        return { status: 201, body: { case: presentCase(dispute), clientState: (await clients.get(q, params.clientId)).state, frozenNow: frozen }, subject: dispute.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/cases', tag: 'cases', roles: [...CASE_READERS], summary: 'The compliance case register, newest first',
      query: z.strictObject({
        clientId: uuid.optional(), status: z.enum(['open', 'resolved']).optional(),
        kind: z.enum(['dispute', 'sanctions_hit', 'privacy_device', 'high_risk_destination', 'reorg_shortfall']).optional(), limit,
      }),
      async handler({ query, q }) {
        return { status: 200, body: { cases: (await cases.list(q, query)).map(presentCase) } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/cases/:caseId', tag: 'cases', roles: [...CASE_READERS],
      summary: 'A case with its notice log and the client state changes it caused',
      params: z.strictObject({ caseId: uuid }),
      async handler({ params, q }) {
        const c = await cases.get(q, params.caseId);
        const notices = await cases.notices(q, c.id);
        const { rows: stateChanges } = await q.query<{ from_state: string; to_state: string; reason: string; actor: string; created_at: Date }>(
          'select from_state, to_state, reason, actor, created_at from client_state_changes where case_id = $1 order by id', [c.id]);
        return { status: 200, body: {
          case: presentCase(c), clientState: (await clients.get(q, c.client_id)).state,
          notices: notices.map((n) => ({ id: n.id, channel: n.channel, template: n.template, payload: n.payload, createdAt: n.created_at.toISOString() })),
          stateChanges: stateChanges.map((s) => ({ from: s.from_state, to: s.to_state, reason: s.reason, actor: s.actor, at: s.created_at.toISOString() })),
        } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/cases/:caseId/resolve', tag: 'cases', roles: ['admin'],
      summary: 'Resolve a case: a dispute with a decision of the redress policy (recorded with its version and hash); a sanctions hit as false_positive (its frozen funds go back) or confirmed_match (funds and client stay frozen); privacy-device and high-risk cases as cleared or confirmed. Optionally unfreeze the client (only if no other case of theirs is open)',
      params: z.strictObject({ caseId: uuid }),
      body: z.strictObject({ decision: z.string().min(1).max(64).regex(/^[a-z_]+$/), note: prose(2000), unfreeze: z.boolean(), channel: channel.optional() }),
      responses: { 200: 'Resolved', 404: 'CASE_NOT_FOUND', 409: 'CASE_STATE', 400: 'BAD_ARGUMENT: a decision the redress policy does not have' },
      async handler({ params, body, q, actorLabel }) {
        const { case: resolved, unfrozen, releasedHolds } = await cases.resolve(q, params.caseId, { decision: body.decision, note: body.note, unfreeze: body.unfreeze, actor: actorLabel });
        // Only a dispute's outcome goes to the client: a screening case must never tip them off.
        if (resolved.kind === 'dispute') {
          const agreed = (resolved.details as { channel?: 'email' | 'sms' | 'in_app' | 'post' }).channel ?? 'in_app';
          await cases.notify(q, resolved, { channel: body.channel ?? agreed, template: 'dispute-resolved', payload: { decision: body.decision } });
        }
        return { status: 200, body: { case: presentCase(resolved), clientState: (await clients.get(q, resolved.client_id)).state, unfrozen, releasedHolds }, subject: resolved.id };
      },
    }),
  ];
}
