// Incidents over HTTP (REG-06, REG-07, CLI-13, WDR-09): the register and one incident with its
// client notices (treasury, auditor, admin); the AFSA notice draft; declaring an incident by hand,
// recording the AFSA submission, closing (admin); the exchange's delivery acknowledgements; the
// register of affiliate and related-person destinations and AFSA consents.
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { assetCode, isoInstant, limit, uuid } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import type { ClientService } from '../clients/client-service.ts';
import { INCIDENT_TYPES, type Incident, type IncidentClientNotice, type IncidentService } from './incident-service.ts';
import { regulatorNoticeDraft, regulatorNoticeMarkdown } from './regulator-notice.ts';
import { addAffiliateConsent, listAffiliateDestinations, registerAffiliateDestination, type AffiliateConsent, type AffiliateDestination } from './affiliate-register.ts';

const prose = (max: number) => z.string().min(1).max(max).refine((v) => ![...v].some((ch) => ch.charCodeAt(0) < 0x20 && ch !== '\n' && ch !== '\t'), 'no control characters');
const token = (max: number) => z.string().min(1).max(max).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
const channel = z.enum(['email', 'sms', 'in_app', 'post']);
const READERS = ['treasury', 'auditor', 'admin'] as const;

export const presentIncident = (i: Incident) => ({
  id: i.id, type: i.type, severity: i.severity, state: i.state, regulatoryBreach: i.regulatoryBreach, dedupeKey: i.dedupeKey, summary: i.summary,
  detail: i.detail, clientIds: i.clientIds, awareAt: i.awareAt.toISOString(), notification: i.notification, deadlineAt: i.deadlineAt.toISOString(),
  latestDeadlineAt: i.latestDeadlineAt.toISOString(), calendar: i.calendar, openedBy: i.openedBy, createdAt: i.createdAt.toISOString(),
  escalatedAt: i.escalatedAt?.toISOString() ?? null, overdueAt: i.overdueAt?.toISOString() ?? null,
  afsa: { reference: i.afsaReference, notifiedAt: i.afsaNotifiedAt?.toISOString() ?? null, notifiedBy: i.afsaNotifiedBy },
  closure: i.closure, closedBy: i.closedBy, closedAt: i.closedAt?.toISOString() ?? null,
});

const presentNotice = (n: IncidentClientNotice) => ({
  id: n.id, clientId: n.clientId, channel: n.channel, template: n.template, payload: n.payload, createdAt: n.createdAt.toISOString(),
  delivered: n.deliveredAt !== null, deliveredAt: n.deliveredAt?.toISOString() ?? null, deliveredBy: n.deliveredBy, deliveryReference: n.deliveryReference,
});

const presentDestination = (d: AffiliateDestination) => ({
  id: d.id, chain: d.chain, address: d.address, tag: d.tag, name: d.name, note: d.note, createdBy: d.createdBy, createdAt: d.createdAt.toISOString(),
});
const presentConsent = (c: AffiliateConsent) => ({
  id: c.id, destinationId: c.destinationId, afsaReference: c.afsaReference, withdrawalId: c.withdrawalId, createdBy: c.createdBy,
  createdAt: c.createdAt.toISOString(), usedAt: c.usedAt?.toISOString() ?? null,
});

export function incidentRoutes(deps: { incidents: IncidentService; clients: ClientService; assets: AssetRegistry; normalizeDestination(asset: Asset, address: string): string }): RouteDef[] {
  const { incidents, clients, assets } = deps;
  const incidentId = z.strictObject({ incidentId: uuid });
  return [
    defineRoute({
      method: 'get', path: '/v1/incidents', tag: 'incidents', roles: [...READERS], summary: 'The incident register (REG-06), newest first',
      query: z.strictObject({ state: z.enum(['open', 'notified', 'closed']).optional(), type: z.enum(INCIDENT_TYPES as [string, ...string[]]).optional(), from: isoInstant.optional(), to: isoInstant.optional(), limit }),
      async handler({ query, q }) {
        const list = await incidents.list(q, { state: query.state, type: query.type as Incident['type'] | undefined,
          from: query.from ? new Date(query.from) : undefined, to: query.to ? new Date(query.to) : undefined, limit: query.limit });
        return { status: 200, body: { incidents: list.map(presentIncident) } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/incidents/:incidentId', tag: 'incidents', roles: [...READERS],
      summary: 'One incident: its AFSA deadline, the clients it covers and the notice sent to each, with delivery',
      params: incidentId, responses: { 200: 'OK', 404: 'INCIDENT_NOT_FOUND' },
      async handler({ params, q }) {
        const incident = await incidents.get(q, params.incidentId);
        return { status: 200, body: { incident: presentIncident(incident), notices: (await incidents.notices(q, incident.id)).map(presentNotice) } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/incidents/:incidentId/notice', tag: 'incidents', roles: [...READERS],
      summary: 'The draft of the written notice to AFSA, as JSON or as Markdown text (format=markdown)',
      params: incidentId, query: z.strictObject({ format: z.enum(['json', 'markdown']).default('json') }), responses: { 200: 'OK', 404: 'INCIDENT_NOT_FOUND' },
      async handler({ params, query, q }) {
        const incident = await incidents.get(q, params.incidentId);
        const draft = regulatorNoticeDraft(incident, await incidents.notices(q, incident.id));
        if (query.format === 'markdown') return { status: 200, body: regulatorNoticeMarkdown(draft), contentType: 'text/markdown; charset=utf-8' };
        return { status: 200, body: draft };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/incidents', tag: 'incidents', roles: ['admin'],
      summary: 'Declare an incident by hand (a key compromise covering some clients, a security event): the AFSA deadline runs from awareAt; each client covered gets one notice through their agreed channel (CLI-13)',
      body: z.strictObject({
        type: z.enum(INCIDENT_TYPES as [string, ...string[]]), severity: z.enum(['sev1', 'sev2', 'sev3']).optional(), summary: prose(500),
        awareAt: isoInstant.optional(), description: prose(4000).optional(),
        clients: z.array(z.strictObject({ clientId: uuid, channel })).max(10_000).default([]),
        noticeTemplate: z.string().min(1).max(100).regex(/^[a-z0-9-]+$/).default('incident-notice'),
      }),
      responses: { 201: 'Declared (or the open incident of the same declaration)', 404: 'CLIENT_NOT_FOUND' },
      async handler({ body, q, actorLabel, idempotencyId }) {
        for (const c of body.clients) await clients.get(q, c.clientId);
        if (body.awareAt && new Date(body.awareAt).getTime() > Date.now() + 60_000) throw new DomainError('BAD_ARGUMENT', 'awareAt is in the future');
        const incident = await incidents.open(q, {
          type: body.type as Incident['type'], severity: body.severity, summary: body.summary, dedupeKey: `declared/${idempotencyId}`,
          awareAt: body.awareAt ? new Date(body.awareAt) : undefined, clientIds: body.clients.map((c) => c.clientId), actor: actorLabel,
          detail: { declaredBy: actorLabel, ...(body.description ? { description: body.description } : {}) },
        });
        const notices = await incidents.notifyClients(q, incident.id, { template: body.noticeTemplate, channels: Object.fromEntries(body.clients.map((c) => [c.clientId, c.channel])) });
        return { status: 201, body: { incident: presentIncident(incident), notices: notices.map(presentNotice) }, subject: incident.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/security-events', tag: 'incidents', roles: ['admin'],
      summary: 'Report a security event (HSM tamper, signer policy-bypass attempt, key compromise, unauthorised admin access): it opens or finds the incident of its severity; SEV-1 carries an immediate AFSA notification task (REG-07)',
      body: z.strictObject({
        kind: z.enum(['hsm_tamper', 'signer_policy_bypass', 'key_compromise', 'unauthorised_admin_access', 'repeated_auth_failure']),
        code: z.string().min(1).max(64).regex(/^[A-Z0-9_]+$/).optional(), reference: token(200), summary: prose(500), awareAt: isoInstant.optional(),
        clientIds: z.array(uuid).max(10_000).default([]),
      }),
      responses: { 201: 'The incident (the open one for the same kind and reference)', 404: 'CLIENT_NOT_FOUND' },
      async handler({ body, q, actorLabel }) {
        for (const c of body.clientIds) await clients.get(q, c);
        if (body.awareAt && new Date(body.awareAt).getTime() > Date.now() + 60_000) throw new DomainError('BAD_ARGUMENT', 'awareAt is in the future');
        const incident = await incidents.reportSecurityEvent(q, { kind: body.kind, code: body.code, dedupeKey: body.reference, summary: body.summary,
          awareAt: body.awareAt ? new Date(body.awareAt) : undefined, clientIds: body.clientIds, actor: actorLabel, detail: { reportedBy: actorLabel } });
        return { status: 201, body: { incident: presentIncident(incident) }, subject: incident.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/incidents/:incidentId/afsa-notice', tag: 'incidents', roles: ['admin'],
      summary: 'Record that the written notice was filed with AFSA, with its submission reference',
      params: incidentId, body: z.strictObject({ reference: token(200) }), responses: { 200: 'Recorded', 404: 'INCIDENT_NOT_FOUND', 409: 'INCIDENT_STATE' },
      async handler({ params, body, q, actorLabel }) {
        const incident = await incidents.recordAfsaNotice(q, params.incidentId, { reference: body.reference, actor: actorLabel });
        return { status: 200, body: { incident: presentIncident(incident) }, subject: incident.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/incidents/:incidentId/close', tag: 'incidents', roles: ['admin'],
      summary: 'Close an incident: with the AFSA submission reference (given here or recorded before) or a documented not-a-breach decision; neither is INCIDENT_REFERENCE_REQUIRED',
      params: incidentId,
      body: z.strictObject({
        afsaReference: token(200).optional(),
        notABreach: z.strictObject({ reason: prose(2000), decidedBy: prose(200) }).optional(),
        note: prose(2000).optional(),
      }),
      responses: { 200: 'Closed', 404: 'INCIDENT_NOT_FOUND', 409: 'INCIDENT_STATE', 422: 'INCIDENT_REFERENCE_REQUIRED' },
      async handler({ params, body, q, actorLabel }) {
        const incident = await incidents.close(q, params.incidentId, { reference: body.afsaReference, notABreachDecision: body.notABreach, note: body.note, actor: actorLabel });
        return { status: 200, body: { incident: presentIncident(incident) }, subject: incident.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/incidents/:incidentId/notices/:noticeId/ack', tag: 'incidents', roles: ['exchange'],
      summary: 'The exchange confirms it delivered an incident notice to the client (CLI-13 delivery log); the first acknowledgement stands',
      params: z.strictObject({ incidentId: uuid, noticeId: uuid }), body: z.strictObject({ deliveryReference: token(200).optional() }),
      responses: { 200: 'Recorded', 404: 'INCIDENT_NOT_FOUND' },
      async handler({ params, body, q, actorLabel }) {
        const notice = await incidents.ackNotice(q, params.incidentId, params.noticeId, { actor: actorLabel, deliveryReference: body.deliveryReference });
        return { status: 200, body: presentNotice(notice), subject: notice.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/affiliate-destinations', tag: 'incidents', roles: [...READERS],
      summary: 'The register of affiliate and related-person destinations and the AFSA consents for payouts to them (WDR-09)',
      async handler({ q }) {
        const list = await listAffiliateDestinations(q);
        return { status: 200, body: { destinations: list.map((d) => ({ ...presentDestination(d), consents: d.consents.map(presentConsent) })) } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/affiliate-destinations', tag: 'incidents', roles: ['admin'],
      summary: 'Register a destination of an affiliate or related person: while a breach incident is open, payouts to it need an AFSA consent and two treasury approvals',
      body: z.strictObject({ asset: assetCode, address: z.string().min(1).max(128), tag: z.enum(['AFFILIATE', 'RELATED_PERSON']), name: prose(200), note: prose(2000).optional() }),
      responses: { 201: 'Registered', 400: 'ADDRESS_INVALID', 404: 'ASSET_NOT_FOUND', 409: 'AFFILIATE_DESTINATION_EXISTS' },
      async handler({ body, q, actorLabel }) {
        const asset = assets.get(body.asset);
        const address = deps.normalizeDestination(asset, body.address);
        const d = await registerAffiliateDestination(q, { chain: asset.chain, address, tag: body.tag, name: body.name, note: body.note, actor: actorLabel });
        return { status: 201, body: presentDestination(d), subject: d.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/affiliate-destinations/:destinationId/consents', tag: 'incidents', roles: ['admin'],
      summary: "Record AFSA's written consent (its reference) to one payout to a registered destination; the next payout to it uses it",
      params: z.strictObject({ destinationId: uuid }), body: z.strictObject({ afsaReference: token(200) }),
      responses: { 201: 'Recorded', 404: 'NOT_FOUND' },
      async handler({ params, body, q, actorLabel }) {
        const c = await addAffiliateConsent(q, params.destinationId, { afsaReference: body.afsaReference, actor: actorLabel });
        return { status: 201, body: presentConsent(c), subject: c.id };
      },
    }),
  ];
}
