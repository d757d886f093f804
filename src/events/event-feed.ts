// The events feed for the exchange backend: append-only, read by cursor (`after` = last id seen).
// Chosen over webhooks: no delivery state to keep, no retries to tune, replay is a read.
import type { Queryable } from '../platform/tx.ts';

export type EventType =
  | 'deposit.pending' | 'deposit.credited' | 'deposit.orphaned' | 'deposit.reversed' | 'deposit.suspense'
  | 'deposit.reversal_shortfall' | 'token.quarantined' | 'scanner.reorg' | 'scanner.reorg_too_deep'
  | 'withdrawal.requested' | 'withdrawal.approvals_needed' | 'withdrawal.broadcast' | 'withdrawal.replaced' | 'withdrawal.stuck' | 'withdrawal.delayed'
  | 'withdrawal.completed' | 'withdrawal.rejected' | 'withdrawal.failed' | 'withdrawal.cancelled'
  | 'client.frozen' | 'client.unfrozen' | 'client.notice'
  | 'incident.opened' | 'incident.escalated' | 'incident.overdue' | 'incident.notified' | 'incident.closed';

export interface FeedEvent { id: number; type: EventType; clientId: string | null; subject: string | null; payload: Record<string, unknown>; createdAt: Date }

export async function appendEvent(q: Queryable, type: EventType, clientId: string | null, subject: string | null, payload: Record<string, unknown>): Promise<void> {
  await q.query('insert into events (type, client_id, subject, payload) values ($1, $2, $3, $4)', [type, clientId, subject, payload]);
}

export async function readEvents(q: Queryable, filter: { after: number; limit: number; clientId?: string; types?: string[] }): Promise<FeedEvent[]> {
  const { rows } = await q.query<{ id: number; type: EventType; client_id: string | null; subject: string | null; payload: Record<string, unknown>; created_at: Date }>(
    `select * from events where id > $1 and ($2::uuid is null or client_id = $2) and ($3::text[] is null or type = any($3))
     order by id limit $4`,
    [filter.after, filter.clientId ?? null, filter.types ?? null, Math.min(Math.max(filter.limit, 1), 1000)]);
  return rows.map((r) => ({ id: r.id, type: r.type, clientId: r.client_id, subject: r.subject, payload: r.payload, createdAt: r.created_at }));
}
