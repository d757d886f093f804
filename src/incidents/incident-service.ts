// Regulatory incidents (REG-06, REG-07, HOT-06, CLI-13). A detector (hot-cap breach, reconciliation
// break or missed run, key compromise, a security event) opens an incident with the moment the
// firm became aware and the AFSA notification deadline: one business day on the business calendar,
// or "immediately" (the deadline is the awareness itself) for a SEV-1 cyber event (REG-07). Opening is
// idempotent per (type, dedupe key) while the incident is not closed. Escalation alarms fire before
// the deadline and when it passes. An incident closes only with the AFSA submission reference or a
// documented "not a breach" decision. Clients an incident covers get one notice each on the events
// feed (the channel the exchange delivers by), and the exchange acknowledges delivery.
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import { appendEvent, readEvents } from '../events/event-feed.ts';
import type { BusinessCalendar } from './business-calendar.ts';

export type IncidentType = 'hot_cap_breach' | 'recon_break' | 'recon_missed' | 'key_compromise' | 'security_event';
export type Severity = 'sev1' | 'sev2' | 'sev3';
export type IncidentState = 'open' | 'notified' | 'closed';
export type NotificationDeadline = 'immediate' | 'one_business_day';
export type NoticeChannel = 'email' | 'sms' | 'in_app' | 'post';

export const INCIDENT_TYPES: readonly IncidentType[] = ['hot_cap_breach', 'recon_break', 'recon_missed', 'key_compromise', 'security_event'];

export interface Incident {
  id: string; type: IncidentType; severity: Severity; dedupeKey: string; state: IncidentState; regulatoryBreach: boolean;
  summary: string; detail: Record<string, unknown>; clientIds: string[];
  awareAt: Date; notification: NotificationDeadline; deadlineAt: Date; latestDeadlineAt: Date;
  calendar: { version: string; hash: string };
  openedBy: string; createdAt: Date; escalatedAt: Date | null; overdueAt: Date | null;
  afsaReference: string | null; afsaNotifiedAt: Date | null; afsaNotifiedBy: string | null;
  closure: Record<string, unknown> | null; closedBy: string | null; closedAt: Date | null;
}

export interface IncidentClientNotice {
  id: string; incidentId: string; clientId: string; channel: NoticeChannel; template: string; payload: Record<string, unknown>;
  createdAt: Date; deliveredAt: Date | null; deliveredBy: string | null; deliveryReference: string | null;
}

/** REG-07: the security events the signer, the HSM and the API report, and the severity each maps to. */
export type SecurityEventKind = 'hsm_tamper' | 'signer_policy_bypass' | 'key_compromise' | 'unauthorised_admin_access' | 'repeated_auth_failure';

/**
 * The severity of a security event. SEV-1 ("significant", REG-07): tell AFSA immediately.
 * A signer refusal is a policy-bypass attempt: a cross-client transfer or an intent that does not
 * match what was approved means whoever called the signer is not the pipeline as written (SEV-1); a
 * tier mismatch may be a bug as much as an attack (SEV-2); other refusals are recorded (SEV-3).
 */
export function securityEventSeverity(kind: SecurityEventKind, code?: string): Severity {
  switch (kind) {
    case 'hsm_tamper': case 'key_compromise': case 'unauthorised_admin_access': return 'sev1';
    case 'repeated_auth_failure': return 'sev2';
    case 'signer_policy_bypass':
      if (code !== undefined && (SIGNER_BYPASS_SEV1.has(code) || /INTENT.*MISMATCH/.test(code))) return 'sev1';
      if (code !== undefined && SIGNER_BYPASS_SEV2.has(code)) return 'sev2';
      return 'sev3';
  }
}

/** Signer refusals that mean the request was not what the approvers approved, or moved another client's coins: an attack on the pipeline. */
const SIGNER_BYPASS_SEV1 = new Set(['CROSS_CLIENT_TRANSFER', 'SOURCE_KEY_FOREIGN', 'SOURCE_NOT_CLIENT_WALLET', 'DESTINATION_MISMATCH', 'AMOUNT_MISMATCH',
  'UNEXPECTED_OUTPUT', 'MISSING_OUTPUT', 'CHANGE_NOT_OWN_WALLET', 'INPUT_NOT_SOURCE_KEY', 'UNEXPECTED_CALLDATA', 'UNEXPECTED_VALUE',
  'APPROVAL_SIGNATURE_INVALID', 'APPROVAL_INTENT_MISMATCH', 'APPROVER_UNKNOWN', 'APPROVAL_BY_INITIATOR', 'APPROVALS_REQUIRED', 'APPROVALS_BELOW_QUORUM']);
/** Refusals of what the policy caps or the tiers forbid: a bug as likely as an attack. */
const SIGNER_BYPASS_SEV2 = new Set(['TIER_MISMATCH', 'SOURCE_KEY_TIER_MISMATCH', 'AMOUNT_ABOVE_POLICY_CAP', 'ASSET_NOT_ALLOWED', 'TOKEN_CONTRACT_NOT_ALLOWED']);

interface IncidentRow {
  id: string; type: IncidentType; severity: Severity; dedupe_key: string; state: IncidentState; regulatory_breach: boolean; summary: string;
  detail: Record<string, unknown>; client_ids: string[]; aware_at: Date; notification: NotificationDeadline; deadline_at: Date; latest_deadline_at: Date;
  calendar_version: string; calendar_hash: string; opened_by: string; created_at: Date; escalated_at: Date | null; overdue_at: Date | null;
  afsa_reference: string | null; afsa_notified_at: Date | null; afsa_notified_by: string | null; closure: Record<string, unknown> | null;
  closed_by: string | null; closed_at: Date | null;
}

const toIncident = (r: IncidentRow): Incident => ({
  id: r.id, type: r.type, severity: r.severity, dedupeKey: r.dedupe_key, state: r.state, regulatoryBreach: r.regulatory_breach, summary: r.summary,
  detail: r.detail, clientIds: r.client_ids, awareAt: r.aware_at, notification: r.notification, deadlineAt: r.deadline_at, latestDeadlineAt: r.latest_deadline_at,
  calendar: { version: r.calendar_version, hash: r.calendar_hash }, openedBy: r.opened_by, createdAt: r.created_at, escalatedAt: r.escalated_at,
  overdueAt: r.overdue_at, afsaReference: r.afsa_reference, afsaNotifiedAt: r.afsa_notified_at, afsaNotifiedBy: r.afsa_notified_by,
  closure: r.closure, closedBy: r.closed_by, closedAt: r.closed_at,
});

interface NoticeRow { id: string; incident_id: string; client_id: string; channel: NoticeChannel; template: string; payload: Record<string, unknown>;
  created_at: Date; delivered_at: Date | null; delivered_by: string | null; delivery_reference: string | null }

const toNotice = (r: NoticeRow): IncidentClientNotice => ({
  id: r.id, incidentId: r.incident_id, clientId: r.client_id, channel: r.channel, template: r.template, payload: r.payload, createdAt: r.created_at,
  deliveredAt: r.delivered_at, deliveredBy: r.delivered_by, deliveryReference: r.delivery_reference,
});

/** The default severity of each detector's incident: all of them are (possible) rule breaches to notify within one business day. */
const DEFAULT_SEVERITY: Record<IncidentType, Severity> = {
  hot_cap_breach: 'sev2', recon_break: 'sev2', recon_missed: 'sev2', key_compromise: 'sev1', security_event: 'sev2',
};

export interface OpenIncidentInput {
  type: IncidentType; dedupeKey: string; summary: string; awareAt?: Date; severity?: Severity;
  detail?: Record<string, unknown>; clientIds?: string[]; actor?: string;
}

export interface IncidentServiceOptions {
  calendar: BusinessCalendar;
  /** How long before the AFSA deadline the escalation alarm fires (REG-06). */
  escalateBeforeMs: number;
  now?: () => Date;
}

export class IncidentService {
  private readonly now: () => Date;
  constructor(private readonly options: IncidentServiceOptions) {
    this.now = options.now ?? (() => new Date());
  }

  get calendar(): BusinessCalendar {
    return this.options.calendar;
  }

  /** The AFSA notification deadline for an incident of this severity the firm became aware of at `awareAt`. */
  deadlineFor(awareAt: Date, severity: Severity): { notification: NotificationDeadline; deadlineAt: Date; latestDeadlineAt: Date } {
    const oneBusinessDay = this.options.calendar.addBusinessDays(awareAt, 1);
    return severity === 'sev1'
      ? { notification: 'immediate', deadlineAt: awareAt, latestDeadlineAt: oneBusinessDay }
      : { notification: 'one_business_day', deadlineAt: oneBusinessDay, latestDeadlineAt: oneBusinessDay };
  }

  /** Idempotent per (type, dedupeKey) while the incident is not closed: returns the open one. Runs in the caller's transaction. */
  async open(q: Queryable, input: OpenIncidentInput): Promise<Incident> {
    const existing = await this.findLive(q, input.type, input.dedupeKey);
    if (existing) return existing;
    const severity = input.severity ?? DEFAULT_SEVERITY[input.type];
    const awareAt = input.awareAt ?? this.now();
    const { notification, deadlineAt, latestDeadlineAt } = this.deadlineFor(awareAt, severity);
    // A refused signer request (SEV-3) is recorded as an incident but is not a rule breach.
    const regulatoryBreach = !(input.type === 'security_event' && severity === 'sev3');
    const cal = this.options.calendar;
    const { rows } = await q.query<IncidentRow>(
      `insert into incidents (type, severity, dedupe_key, regulatory_breach, summary, detail, client_ids, aware_at, notification, deadline_at,
         latest_deadline_at, calendar_version, calendar_hash, opened_by)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       on conflict (type, dedupe_key) where state <> 'closed' do nothing returning *`,
      [input.type, severity, input.dedupeKey, regulatoryBreach, input.summary.slice(0, 500), input.detail ?? {}, [...new Set(input.clientIds ?? [])],
        awareAt, notification, deadlineAt, latestDeadlineAt, cal.version, cal.hash, input.actor ?? `detector:${input.type}`]);
    if (!rows[0]) {
      // Another transaction opened it between our read and our insert.
      const raced = await this.findLive(q, input.type, input.dedupeKey);
      if (raced) return raced;
      throw new DomainError('INTERNAL', `incident ${input.type}/${input.dedupeKey} could not be opened`);
    }
    const incident = toIncident(rows[0]);
    await appendEvent(q, 'incident.opened', null, incident.id, {
      incidentId: incident.id, type: incident.type, severity, notification, awareAt: awareAt.toISOString(), deadlineAt: deadlineAt.toISOString(),
      clientCount: incident.clientIds.length,
    });
    return incident;
  }

  /** REG-07: a security event opens (or finds) an incident of the severity it maps to; SEV-1 carries an immediate AFSA notification task. */
  async reportSecurityEvent(q: Queryable, event: { kind: SecurityEventKind; code?: string; dedupeKey: string; summary: string; awareAt?: Date;
    detail?: Record<string, unknown>; clientIds?: string[]; actor?: string }): Promise<Incident> {
    const severity = securityEventSeverity(event.kind, event.code);
    return this.open(q, {
      type: event.kind === 'key_compromise' ? 'key_compromise' : 'security_event', severity, dedupeKey: `${event.kind}/${event.dedupeKey}`,
      summary: event.summary, awareAt: event.awareAt, clientIds: event.clientIds, actor: event.actor,
      detail: { ...event.detail, securityEvent: { kind: event.kind, code: event.code ?? null } },
    });
  }

  /**
   * REG-07 detector: withdrawals the signer refused (`withdrawal.rejected` with a `SIGNER_<code>` on the
   * events feed, after `after`) are policy-bypass attempts; a SEV-1 or SEV-2 one opens a security
   * incident, once per withdrawal ever (a closed one is not reopened by a rescan). SEV-3 refusals
   * (expired approvals, malformed requests) are the signer doing its job and open nothing.
   * Returns the last event id read.
   */
  async detectSignerRefusals(q: Queryable, after: number, limit = 500): Promise<{ cursor: number; opened: Incident[] }> {
    const events = await readEvents(q, { after, limit, types: ['withdrawal.rejected'] });
    const opened: Incident[] = [];
    for (const e of events) {
      const code = typeof e.payload.code === 'string' && e.payload.code.startsWith('SIGNER_') ? e.payload.code.slice('SIGNER_'.length) : undefined;
      if (!code || securityEventSeverity('signer_policy_bypass', code) === 'sev3') continue;
      const withdrawalId = String(e.payload.withdrawalId ?? e.subject);
      const dedupeKey = `signer_policy_bypass/${withdrawalId}`;
      const { rows: seen } = await q.query('select 1 from incidents where type = $1 and dedupe_key = $2 limit 1', ['security_event', dedupeKey]);
      if (seen.length > 0) continue;
      opened.push(await this.reportSecurityEvent(q, { kind: 'signer_policy_bypass', code, dedupeKey: withdrawalId, awareAt: e.createdAt,
        summary: `the signer refused withdrawal ${withdrawalId}: ${code}`, clientIds: e.clientId ? [e.clientId] : [], actor: 'detector:signer_refusal',
        detail: { withdrawalId, signerCode: code, signerDetail: e.payload.detail ?? null, eventId: e.id } }));
    }
    return { cursor: events.at(-1)?.id ?? after, opened };
  }

  /**
   * The REG-07 detector from where it last stopped (a persisted cursor, locked for this transaction
   * so two processes never read the same stretch twice): reads up to `limit` events, opens what it
   * finds and moves the cursor, all in the caller's transaction. `more` says a full page was read.
   */
  async detectSignerRefusalsFromCursor(q: Queryable, limit = 500): Promise<{ cursor: number; opened: Incident[]; more: boolean }> {
    const detector = 'signer_refusals';
    await q.query(`insert into incident_detector_cursors (detector, last_event_id) values ($1, 0) on conflict (detector) do nothing`, [detector]);
    const { rows } = await q.query<{ last_event_id: string }>(
      'select last_event_id from incident_detector_cursors where detector = $1 for update', [detector]);
    const after = Number(rows[0]!.last_event_id);
    const detected = await this.detectSignerRefusals(q, after, limit);
    if (detected.cursor !== after) {
      await q.query('update incident_detector_cursors set last_event_id = $2, updated_at = now() where detector = $1', [detector, detected.cursor]);
    }
    return { ...detected, more: detected.cursor !== after };
  }

  /** WDR-09: whether any regulatory-breach incident is open (not closed). */
  async hasOpenBreach(q: Queryable): Promise<boolean> {
    return (await this.openBreaches(q)).length > 0;
  }

  async openBreaches(q: Queryable): Promise<Incident[]> {
    const { rows } = await q.query<IncidentRow>(`select * from incidents where state <> 'closed' and regulatory_breach order by created_at, id`);
    return rows.map(toIncident);
  }

  async get(q: Queryable, id: string): Promise<Incident> {
    const { rows } = await q.query<IncidentRow>('select * from incidents where id = $1', [id]);
    if (!rows[0]) throw new DomainError('INCIDENT_NOT_FOUND', `no incident ${id}`);
    return toIncident(rows[0]);
  }

  async list(q: Queryable, filter: { state?: IncidentState; type?: IncidentType; from?: Date; to?: Date; limit?: number } = {}): Promise<Incident[]> {
    const { rows } = await q.query<IncidentRow>(
      `select * from incidents where ($1::text is null or state = $1) and ($2::text is null or type = $2)
         and ($3::timestamptz is null or aware_at >= $3) and ($4::timestamptz is null or aware_at < $4)
       order by created_at desc, id limit $5`,
      [filter.state ?? null, filter.type ?? null, filter.from ?? null, filter.to ?? null, Math.min(Math.max(filter.limit ?? 100, 1), 1000)]);
    return rows.map(toIncident);
  }

  private async findLive(q: Queryable, type: IncidentType, dedupeKey: string): Promise<Incident | undefined> {
    const { rows } = await q.query<IncidentRow>(`select * from incidents where type = $1 and dedupe_key = $2 and state <> 'closed'`, [type, dedupeKey]);
    return rows[0] ? toIncident(rows[0]) : undefined;
  }

  private async lock(q: Queryable, id: string): Promise<Incident> {
    const { rows } = await q.query<IncidentRow>('select * from incidents where id = $1 for update', [id]);
    if (!rows[0]) throw new DomainError('INCIDENT_NOT_FOUND', `no incident ${id}`);
    return toIncident(rows[0]);
  }

  /** Records the AFSA submission reference (the written notice was sent). Idempotent for the same reference. */
  async recordAfsaNotice(q: Queryable, id: string, input: { reference: string; actor: string }): Promise<Incident> {
    const incident = await this.lock(q, id);
    if (incident.afsaReference === input.reference) return incident;
    if (incident.state === 'closed') throw new DomainError('INCIDENT_STATE', `incident ${id} is closed`);
    if (incident.afsaReference !== null) throw new DomainError('INCIDENT_STATE', `incident ${id} already has the AFSA reference ${incident.afsaReference}`);
    await q.query(`update incidents set state = 'notified', afsa_reference = $2, afsa_notified_at = now(), afsa_notified_by = $3 where id = $1`,
      [id, input.reference, input.actor]);
    await appendEvent(q, 'incident.notified', null, id, { incidentId: id, afsaReference: input.reference });
    return this.get(q, id);
  }

  /**
   * Closes an incident: with the AFSA submission reference (given now or recorded before), or a
   * documented "not a breach" decision (who decided, and why). Neither -> INCIDENT_REFERENCE_REQUIRED.
   */
  async close(q: Queryable, id: string, input: { reference?: string; notABreachDecision?: { reason: string; decidedBy: string }; note?: string; actor: string }): Promise<Incident> {
    const incident = await this.lock(q, id);
    if (incident.state === 'closed') {
      if (input.reference !== undefined && incident.afsaReference === input.reference) return incident;
      throw new DomainError('INCIDENT_STATE', `incident ${id} is already closed`);
    }
    if (input.reference !== undefined && input.notABreachDecision !== undefined) {
      throw new DomainError('BAD_ARGUMENT', 'close with either the AFSA submission reference or a not-a-breach decision, not both');
    }
    if (input.reference !== undefined && incident.afsaReference !== null && incident.afsaReference !== input.reference) {
      throw new DomainError('INCIDENT_STATE', `incident ${id} was notified under the AFSA reference ${incident.afsaReference}, not ${input.reference}`);
    }
    const reference = input.reference ?? incident.afsaReference ?? undefined;
    if (reference === undefined && input.notABreachDecision === undefined) {
      throw new DomainError('INCIDENT_REFERENCE_REQUIRED', `incident ${id} closes only with the AFSA submission reference or a documented not-a-breach decision`);
    }
    const closure = reference !== undefined
      ? { basis: 'afsa_notified', afsaReference: reference, note: input.note ?? null }
      : { basis: 'not_a_breach', reason: input.notABreachDecision!.reason, decidedBy: input.notABreachDecision!.decidedBy, note: input.note ?? null };
    await q.query(
      `update incidents set state = 'closed', closure = $2, closed_by = $3, closed_at = now(),
         afsa_reference = coalesce(afsa_reference, $4), afsa_notified_at = case when afsa_reference is null and $4::text is not null then now() else afsa_notified_at end,
         afsa_notified_by = case when afsa_reference is null and $4::text is not null then $3 else afsa_notified_by end
       where id = $1`, [id, closure, input.actor, reference ?? null]);
    await appendEvent(q, 'incident.closed', null, id, { incidentId: id, basis: closure.basis });
    return this.get(q, id);
  }

  /**
   * CLI-13: one notice per client the incident covers, on the events feed (`client.notice`, the
   * channel the exchange delivers from), recorded for the delivery log. Idempotent per (incident, client).
   * `channels` gives the client's agreed channel; default in_app.
   */
  async notifyClients(q: Queryable, id: string, input: { template: string; channels?: Record<string, NoticeChannel>; payload?: Record<string, unknown> }): Promise<IncidentClientNotice[]> {
    const incident = await this.lock(q, id);
    for (const clientId of incident.clientIds) {
      const channel = input.channels?.[clientId] ?? 'in_app';
      const payload = { incidentType: incident.type, summary: incident.summary, awareAt: incident.awareAt.toISOString(), ...input.payload };
      const { rows } = await q.query<NoticeRow>(
        `insert into incident_client_notices (incident_id, client_id, channel, template, payload) values ($1, $2, $3, $4, $5)
         on conflict (incident_id, client_id) do nothing returning *`, [id, clientId, channel, input.template, payload]);
      if (rows[0]) {
        await appendEvent(q, 'client.notice', clientId, rows[0].id, { incidentId: id, noticeId: rows[0].id, channel, template: input.template, ...payload });
      }
    }
    return this.notices(q, id);
  }

  async notices(q: Queryable, id: string): Promise<IncidentClientNotice[]> {
    const { rows } = await q.query<NoticeRow>('select * from incident_client_notices where incident_id = $1 order by created_at, client_id', [id]);
    return rows.map(toNotice);
  }

  /** The exchange confirms it delivered a notice to the client. Idempotent: the first acknowledgement stands. */
  async ackNotice(q: Queryable, incidentId: string, noticeId: string, input: { actor: string; deliveryReference?: string }): Promise<IncidentClientNotice> {
    const { rows } = await q.query<NoticeRow>(
      `update incident_client_notices set delivered_at = coalesce(delivered_at, now()), delivered_by = coalesce(delivered_by, $3),
         delivery_reference = coalesce(delivery_reference, $4)
       where id = $1 and incident_id = $2 returning *`, [noticeId, incidentId, input.actor, input.deliveryReference ?? null]);
    if (!rows[0]) throw new DomainError('INCIDENT_NOT_FOUND', `no notice ${noticeId} of incident ${incidentId}`);
    return toNotice(rows[0]);
  }

  /**
   * REG-06 escalation: an incident not yet notified to AFSA raises `incident.escalated` once when
   * the deadline is less than `escalateBeforeMs` away (at once for an immediate one), and
   * `incident.overdue` once when it has passed. Returns what it raised.
   */
  async escalate(q: Queryable, now: Date = this.now()): Promise<{ escalated: Incident[]; overdue: Incident[] }> {
    const { rows: escalated } = await q.query<IncidentRow>(
      `update incidents set escalated_at = $1 where state = 'open' and escalated_at is null and deadline_at - make_interval(secs => $2::double precision / 1000) <= $1
       returning *`, [now, this.options.escalateBeforeMs]);
    const { rows: overdue } = await q.query<IncidentRow>(
      `update incidents set overdue_at = $1 where state = 'open' and overdue_at is null and latest_deadline_at <= $1 returning *`, [now]);
    for (const r of escalated) {
      await appendEvent(q, 'incident.escalated', null, r.id, { incidentId: r.id, type: r.type, severity: r.severity, deadlineAt: r.deadline_at.toISOString() });
    }
    for (const r of overdue) {
      await appendEvent(q, 'incident.overdue', null, r.id, { incidentId: r.id, type: r.type, severity: r.severity, latestDeadlineAt: r.latest_deadline_at.toISOString() });
    }
    return { escalated: escalated.map(toIncident), overdue: overdue.map(toIncident) };
  }
}
