// WDR-09 (DAA 2.13.12(b)): once the firm is, or may be, in breach it must not pay cash or liquid
// assets to affiliates or related persons without AFSA's written consent. Destinations of affiliates
// and related persons are registered here (admin); an AFSA consent is registered against one
// destination and is used by exactly one payout. The withdrawal policy step asks `affiliatePayoutGate`:
// while any regulatory-breach incident is open, a payout to a registered destination is blocked
// unless an unused consent exists, in which case the consent is bound to that withdrawal and the
// payout needs two treasury approvals.
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';

export type AffiliateTag = 'AFFILIATE' | 'RELATED_PERSON';
export const AFFILIATE_PAYOUT_APPROVALS = 2;

export interface AffiliateDestination { id: string; chain: 'bitcoin' | 'ethereum'; address: string; tag: AffiliateTag; name: string; note: string | null; createdBy: string; createdAt: Date }
export interface AffiliateConsent { id: string; destinationId: string; afsaReference: string; withdrawalId: string | null; createdBy: string; createdAt: Date; usedAt: Date | null }

interface DestinationRow { id: string; chain: 'bitcoin' | 'ethereum'; address: string; tag: AffiliateTag; name: string; note: string | null; created_by: string; created_at: Date }
interface ConsentRow { id: string; destination_id: string; afsa_reference: string; withdrawal_id: string | null; created_by: string; created_at: Date; used_at: Date | null }

const toDestination = (r: DestinationRow): AffiliateDestination => ({
  id: r.id, chain: r.chain, address: r.address, tag: r.tag, name: r.name, note: r.note, createdBy: r.created_by, createdAt: r.created_at,
});
const toConsent = (r: ConsentRow): AffiliateConsent => ({
  id: r.id, destinationId: r.destination_id, afsaReference: r.afsa_reference, withdrawalId: r.withdrawal_id, createdBy: r.created_by, createdAt: r.created_at, usedAt: r.used_at,
});

/** Registers a destination (address already normalised by the caller). Idempotent for the same tag and name; another tag or name -> AFFILIATE_DESTINATION_EXISTS. */
export async function registerAffiliateDestination(q: Queryable, input: { chain: 'bitcoin' | 'ethereum'; address: string; tag: AffiliateTag; name: string; note?: string; actor: string }): Promise<AffiliateDestination> {
  const { rows } = await q.query<DestinationRow>(
    `insert into affiliate_destinations (chain, address, tag, name, note, created_by) values ($1, $2, $3, $4, $5, $6)
     on conflict (chain, address) do nothing returning *`, [input.chain, input.address, input.tag, input.name, input.note ?? null, input.actor]);
  if (rows[0]) return toDestination(rows[0]);
  const { rows: existing } = await q.query<DestinationRow>('select * from affiliate_destinations where chain = $1 and address = $2', [input.chain, input.address]);
  const found = existing[0]!;
  if (found.tag !== input.tag || found.name !== input.name) {
    throw new DomainError('AFFILIATE_DESTINATION_EXISTS', `${input.address} is already registered as ${found.tag} ${found.name}`, { destinationId: found.id });
  }
  return toDestination(found);
}

export async function listAffiliateDestinations(q: Queryable): Promise<(AffiliateDestination & { consents: AffiliateConsent[] })[]> {
  const { rows } = await q.query<DestinationRow>('select * from affiliate_destinations order by created_at, id');
  const { rows: consents } = await q.query<ConsentRow>('select * from affiliate_payout_consents order by created_at, id');
  return rows.map((r) => ({ ...toDestination(r), consents: consents.filter((c) => c.destination_id === r.id).map(toConsent) }));
}

/** Records AFSA's written consent to one payout to a registered destination. Idempotent per (destination, reference). */
export async function addAffiliateConsent(q: Queryable, destinationId: string, input: { afsaReference: string; actor: string }): Promise<AffiliateConsent> {
  const { rows: dest } = await q.query('select 1 from affiliate_destinations where id = $1', [destinationId]);
  if (dest.length === 0) throw new DomainError('NOT_FOUND', `no affiliate destination ${destinationId}`);
  // One consent per (destination, reference), also under concurrent calls with different idempotency keys.
  await q.query('select pg_advisory_xact_lock(hashtextextended($1, 9021))', [`affiliate-consent/${destinationId}`]);
  const { rows: same } = await q.query<ConsentRow>('select * from affiliate_payout_consents where destination_id = $1 and afsa_reference = $2', [destinationId, input.afsaReference]);
  if (same[0]) return toConsent(same[0]);
  const { rows } = await q.query<ConsentRow>(
    'insert into affiliate_payout_consents (destination_id, afsa_reference, created_by) values ($1, $2, $3) returning *', [destinationId, input.afsaReference, input.actor]);
  return toConsent(rows[0]!);
}

export type AffiliateGate =
  | { outcome: 'not_affiliate' }
  | { outcome: 'no_breach'; destinationId: string; tag: AffiliateTag }
  | { outcome: 'consented'; destinationId: string; tag: AffiliateTag; afsaReference: string; consentId: string; approvals: number; incidentIds: string[] }
  | { outcome: 'blocked'; destinationId: string; tag: AffiliateTag; incidentIds: string[]; code: 'AFFILIATE_PAYOUT_BLOCKED'; detail: string };

/**
 * WDR-09, asked by the withdrawal policy step inside its transaction. Binds an unused consent to the
 * withdrawal (single use); a retried step finds the consent it bound before.
 */
export async function affiliatePayoutGate(q: Queryable, w: { id: string; chain: string; destination: string }): Promise<AffiliateGate> {
  const { rows: dest } = await q.query<DestinationRow>('select * from affiliate_destinations where chain = $1 and address = $2', [w.chain, w.destination]);
  const d = dest[0];
  if (!d) return { outcome: 'not_affiliate' };
  const { rows: breaches } = await q.query<{ id: string }>(`select id from incidents where state <> 'closed' and regulatory_breach order by created_at, id`);
  if (breaches.length === 0) return { outcome: 'no_breach', destinationId: d.id, tag: d.tag };
  const incidentIds = breaches.map((b) => b.id);
  let { rows: consent } = await q.query<ConsentRow>('select * from affiliate_payout_consents where withdrawal_id = $1', [w.id]);
  if (!consent[0]) {
    ({ rows: consent } = await q.query<ConsentRow>(
      `update affiliate_payout_consents set withdrawal_id = $2, used_at = now()
       where id = (select id from affiliate_payout_consents where destination_id = $1 and withdrawal_id is null order by created_at, id limit 1 for update skip locked)
       returning *`, [d.id, w.id]));
  }
  const c = consent[0];
  if (!c) {
    return { outcome: 'blocked', destinationId: d.id, tag: d.tag, incidentIds, code: 'AFFILIATE_PAYOUT_BLOCKED',
      detail: `the destination is registered as ${d.tag} (${d.name}) and a regulatory breach incident is open (${incidentIds.join(', ')}): no payout without an AFSA consent reference (WDR-09)` };
  }
  return { outcome: 'consented', destinationId: d.id, tag: d.tag, afsaReference: c.afsa_reference, consentId: c.id, approvals: AFFILIATE_PAYOUT_APPROVALS, incidentIds };
}
