// Compliance cases: a dispute filed for a client (WDR-08) or a screening hit on a withdrawal's
// destination (WDR-04). A case can freeze its client: a frozen client can open no new withdrawal
// and the pipeline signs and broadcasts nothing for it until the client is active again. Opening a
// case tells the exchange nothing (a screening case must never tip off the client); notices sent to
// the client are recorded one by one (the notice log) and go out on the events feed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import { appendEvent } from '../events/event-feed.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { ClientService } from '../clients/client-service.ts';

export type CaseKind = 'dispute' | 'sanctions_hit' | 'privacy_device' | 'high_risk_destination' | 'reorg_shortfall';
export type NoticeChannel = 'email' | 'sms' | 'in_app' | 'post';

export interface CaseRow {
  id: string; kind: CaseKind; status: 'open' | 'resolved'; client_id: string; withdrawal_id: string | null; summary: string;
  details: Record<string, unknown>; opened_by: string; opened_at: Date; resolution: Record<string, unknown> | null;
  resolved_by: string | null; resolved_at: Date | null;
}

export interface CaseNotice { id: number; case_id: string; client_id: string; channel: NoticeChannel; template: string; payload: Record<string, unknown>; created_at: Date }

const redressPolicySchema = z.object({
  version: z.string().min(1),
  decisions: z.array(z.object({ id: z.string().min(1), description: z.string().min(1) })).min(1),
}).loose();

/** The firm's redress policy (WDR-08): every resolution is recorded against its version and content hash. */
export interface RedressPolicy { version: string; hash: string; decisions: ReadonlySet<string> }

export function loadRedressPolicy(file: string): RedressPolicy {
  const bytes = readFileSync(file);
  const parsed = redressPolicySchema.parse(JSON.parse(bytes.toString('utf8')));
  return { version: parsed.version, hash: createHash('sha256').update(bytes).digest('hex'), decisions: new Set(parsed.decisions.map((d) => d.id)) };
}

/**
 * What a screening case may be resolved as. A sanctions hit is a false positive (the frozen funds go
 * back to the client) or a confirmed match (funds and client stay frozen until the authority decides).
 */
const SCREENING_DECISIONS: Record<Exclude<CaseKind, 'dispute'>, readonly string[]> = {
  sanctions_hit: ['false_positive', 'confirmed_match'],
  privacy_device: ['cleared', 'confirmed'],
  high_risk_destination: ['cleared', 'confirmed'],
  // A reorg took back a deposit the client had spent (DEP-01): the house suspense shortfall was recovered from the client, or written off.
  reorg_shortfall: ['recovered', 'written_off'],
};

export class CaseService {
  constructor(private readonly redress: RedressPolicy, private readonly ledger: Pick<LedgerService, 'releaseFrozenHold'>,
    private readonly clients: Pick<ClientService, 'lockState' | 'setState'>) {}

  get redressPolicy(): RedressPolicy {
    return this.redress;
  }

  /** Opens a case. Idempotent per (withdrawal, kind): a retried screening step gets the case it opened. */
  async open(q: Queryable, input: { kind: CaseKind; clientId: string; withdrawalId?: string | null; summary: string; details?: Record<string, unknown>; actor: string }): Promise<CaseRow> {
    if (input.withdrawalId) {
      const { rows } = await q.query<CaseRow>('select * from cases where withdrawal_id = $1 and kind = $2', [input.withdrawalId, input.kind]);
      if (rows[0]) return rows[0];
    }
    const { rows } = await q.query<CaseRow>(
      `insert into cases (kind, client_id, withdrawal_id, summary, details, opened_by) values ($1, $2, $3, $4, $5, $6) returning *`,
      [input.kind, input.clientId, input.withdrawalId ?? null, input.summary.slice(0, 500), input.details ?? {}, input.actor]);
    return rows[0]!;
  }

  async get(q: Queryable, id: string): Promise<CaseRow> {
    const { rows } = await q.query<CaseRow>('select * from cases where id = $1', [id]);
    if (!rows[0]) throw new DomainError('CASE_NOT_FOUND', `no case ${id}`);
    return rows[0];
  }

  async list(q: Queryable, filter: { clientId?: string; status?: string; kind?: string; limit: number }): Promise<CaseRow[]> {
    const { rows } = await q.query<CaseRow>(
      `select * from cases where ($1::uuid is null or client_id = $1) and ($2::text is null or status = $2) and ($3::text is null or kind = $3)
       order by opened_at desc, id limit $4`, [filter.clientId ?? null, filter.status ?? null, filter.kind ?? null, filter.limit]);
    return rows;
  }

  async notices(q: Queryable, caseId: string): Promise<CaseNotice[]> {
    const { rows } = await q.query<CaseNotice>('select * from case_notices where case_id = $1 order by id', [caseId]);
    return rows;
  }

  /** Records a notice to the client and puts it on the events feed for the exchange to deliver by `channel`. */
  async notify(q: Queryable, c: CaseRow, notice: { channel: NoticeChannel; template: string; payload?: Record<string, unknown> }): Promise<void> {
    const payload = notice.payload ?? {};
    await q.query('insert into case_notices (case_id, client_id, channel, template, payload) values ($1, $2, $3, $4, $5)',
      [c.id, c.client_id, notice.channel, notice.template, payload]);
    await appendEvent(q, 'client.notice', c.client_id, c.id, { caseId: c.id, channel: notice.channel, template: notice.template, ...payload });
  }

  /**
   * Freezes the client at once (row lock, same transaction as the case). `reasonCode` is what the
   * exchange is told: DISPUTE or COMPLIANCE, never the case's kind.
   */
  async freezeClient(q: Queryable, clientId: string, input: { reasonCode: 'DISPUTE' | 'COMPLIANCE'; caseId: string; actor: string }): Promise<boolean> {
    const state = await this.clients.lockState(q, clientId);
    if (!state) throw new DomainError('CLIENT_NOT_FOUND', `no client ${clientId}`);
    if (state !== 'active') return false;
    await this.clients.setState(q, clientId, 'active', 'frozen');
    await q.query(`insert into client_state_changes (client_id, from_state, to_state, reason, case_id, actor) values ($1, 'active', 'frozen', $2, $3, $4)`,
      [clientId, input.reasonCode, input.caseId, input.actor]);
    await appendEvent(q, 'client.frozen', clientId, clientId, { clientId, reasonCode: input.reasonCode });
    return true;
  }

  /** Makes a frozen client active again, unless another case of theirs is still open. */
  async unfreezeClient(q: Queryable, clientId: string, input: { caseId: string; actor: string }): Promise<boolean> {
    if ((await this.clients.lockState(q, clientId)) !== 'frozen') return false;
    const { rows: open } = await q.query('select id from cases where client_id = $1 and status = $2 and id <> $3 limit 1', [clientId, 'open', input.caseId]);
    if (open.length > 0) return false;
    await this.clients.setState(q, clientId, 'frozen', 'active');
    await q.query(`insert into client_state_changes (client_id, from_state, to_state, reason, case_id, actor) values ($1, 'frozen', 'active', 'CASE_RESOLVED', $2, $3)`,
      [clientId, input.caseId, input.actor]);
    await appendEvent(q, 'client.unfrozen', clientId, clientId, { clientId });
    return true;
  }

  /**
   * Resolves an open case. A dispute takes a decision of the redress policy, recorded with its
   * version and hash; a screening case one of SCREENING_DECISIONS. A sanctions false positive gives
   * back the holds frozen under the case; a confirmed match keeps them and the client frozen.
   */
  async resolve(q: Queryable, caseId: string, input: { decision: string; note: string; unfreeze: boolean; actor: string }): Promise<{ case: CaseRow; unfrozen: boolean; releasedHolds: string[] }> {
    const { rows } = await q.query<CaseRow>('select * from cases where id = $1 for update', [caseId]);
    const c = rows[0];
    if (!c) throw new DomainError('CASE_NOT_FOUND', `no case ${caseId}`);
    if (c.status !== 'open') throw new DomainError('CASE_STATE', `case ${caseId} is already ${c.status}`);
    const allowed = c.kind === 'dispute' ? [...this.redress.decisions] : SCREENING_DECISIONS[c.kind];
    if (!allowed.includes(input.decision)) {
      throw new DomainError('BAD_ARGUMENT', `a ${c.kind} case is resolved as one of ${allowed.join(', ')}${c.kind === 'dispute' ? ` (redress policy ${this.redress.version})` : ''}, not ${input.decision}`);
    }
    if (c.kind === 'sanctions_hit' && input.decision === 'confirmed_match' && input.unfreeze) {
      throw new DomainError('BAD_ARGUMENT', 'a confirmed sanctions match keeps the client and the funds frozen: unfreeze must be false');
    }
    const resolution = c.kind === 'dispute'
      ? { decision: input.decision, note: input.note, redressPolicyVersion: this.redress.version, redressPolicyHash: this.redress.hash }
      : { decision: input.decision, note: input.note };
    await q.query(`update cases set status = 'resolved', resolution = $2, resolved_by = $3, resolved_at = now() where id = $1`, [caseId, resolution, input.actor]);
    const releasedHolds: string[] = [];
    if (c.kind === 'sanctions_hit' && input.decision === 'false_positive') {
      const { rows: frozen } = await q.query<{ id: string }>(`select id from holds where state = 'frozen' and frozen->>'caseId' = $1 order by id`, [caseId]);
      for (const hold of frozen) {
        await this.ledger.releaseFrozenHold(q, hold.id, caseId, input.actor);
        releasedHolds.push(hold.id);
      }
    }
    const unfrozen = input.unfreeze ? await this.unfreezeClient(q, c.client_id, { caseId, actor: input.actor }) : false;
    return { case: await this.get(q, caseId), unfrozen, releasedHolds };
  }

  /** Whether the client is frozen: the pipeline signs and broadcasts nothing for a frozen client. */
  async isFrozen(q: Queryable, clientId: string): Promise<boolean> {
    const { rows } = await q.query<{ state: string }>('select state from clients where id = $1', [clientId]);
    return rows[0]?.state === 'frozen';
  }
}
