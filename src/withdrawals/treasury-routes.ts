// Treasury: what an approver must see before signing, the approval itself, and the signed
// rejection that vetoes a withdrawal (WDR-06).
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { uuid } from '../api/schemas.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { WithdrawalRow, WithdrawalService } from './withdrawal-service.ts';
import { presentWithdrawal } from './withdrawal-routes.ts';
import type { ScreeningRecord } from '../screening/index.ts';

/** HOT-01: the retail pool's hot share for an asset, now and after this withdrawal leaves its source tier. */
async function hotRatio(ledger: LedgerService, q: Queryable, w: WithdrawalRow): Promise<{ before: string; after: string }> {
  const { hot, cold } = await ledger.retailHoldings(q, w.asset);
  const pct = (h: bigint, c: bigint) => (h + c === 0n ? '0.00' : `${(h * 10_000n) / (h + c) / 100n}.${((h * 10_000n) / (h + c) % 100n).toString().padStart(2, '0')}`);
  const less = (a: bigint, b: bigint) => (a - b > 0n ? a - b : 0n);
  // A refill stays with the client: what leaves cold arrives in hot.
  const after = w.kind === 'refill' ? pct(hot + w.amount, less(cold, w.amount))
    : w.source_tier === 'cold' ? pct(hot, less(cold, w.amount)) : pct(less(hot, w.amount), cold);
  return { before: pct(hot, cold), after };
}

/** The screening record in the approval view: the outcome and what it rests on (treasury and auditors only). */
function presentScreening(w: WithdrawalRow, cases: { id: string; kind: string; status: string }[]): Record<string, unknown> | null {
  const record = w.screening as ScreeningRecord | null;
  if (!record) return null;
  const r = record.result;
  return {
    outcome: record.outcome, riskScore: r.riskScore, highRiskScore: record.highRiskScore, classification: r.classification, vasp: r.vasp ?? null,
    sanctioned: r.sanctioned, privacyDevice: r.privacyDevice, tags: r.tags, declaredDestinationType: record.declaredDestinationType,
    destinationType: record.destinationType, classificationMismatch: record.classificationMismatch,
    source: r.source, listVersion: r.listVersion, listHashes: r.listHashes, screenedAt: r.screenedAt, screeningHash: w.screening_hash,
    cases: cases.map((c) => ({ id: c.id, kind: c.kind, status: c.status })),
  };
}

/** What an officer signs and submits, for an approval and a rejection alike. */
const signedStatement = {
  approverId: z.string().min(1).max(128), algorithm: z.enum(['ed25519', 'p256']), intentHash: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().min(1).max(512), signedAt: z.iso.datetime({ offset: true }), expiresAt: z.iso.datetime({ offset: true }),
};
/** 1..500 characters, not only white space, no control characters (C0). */
const reasonText = z.string().min(1).max(500)
  .refine((v) => v.trim().length > 0, 'the reason must not be empty')
  .refine((v) => ![...v].some((ch) => ch.charCodeAt(0) < 0x20), 'no control characters');

export function treasuryRoutes(deps: { withdrawals: WithdrawalService | undefined; assets: AssetRegistry; ledger: LedgerService }): RouteDef[] {
  const service = () => {
    if (!deps.withdrawals) throw new Error('withdrawals are not configured');
    return deps.withdrawals;
  };
  return [
    defineRoute({
      method: 'get', path: '/v1/treasury/approvals', tag: 'treasury', roles: ['treasury', 'admin', 'auditor'],
      summary: 'Withdrawals waiting for approvals, with what an approver must see: client, amounts, destination, policy trace, screening result, Travel Rule status, hot ratio after the move, and the intent to sign',
      async handler({ q }) {
        const waiting = await service().list(q, { state: 'approvals', limit: 500 });
        const out = [];
        const pending = waiting.filter((x) => x.approvals_required > 0 && x.intent_hash);
        const { rows: cases } = await q.query<{ id: string; withdrawal_id: string; kind: string; status: string }>(
          `select id, withdrawal_id, kind, status from cases where withdrawal_id = any($1::uuid[]) order by opened_at`, [pending.map((x) => x.id)]);
        for (const w of pending) {
          const { rows: client } = await q.query('select id, external_ref, classification, kz_resident from clients where id = $1', [w.client_id]);
          const { rows: approvals } = await q.query<{ approver_id: string; user_id: string; signed_at: Date; expires_at: Date }>(
            'select approver_id, user_id, signed_at, expires_at from withdrawal_approvals where withdrawal_id = $1 and intent_hash = $2', [w.id, w.intent_hash]);
          out.push({
            withdrawal: presentWithdrawal(deps.assets, w), client: client[0], initiator: w.initiator,
            policyTrace: w.policy?.trace ?? [], hotRatioRetailPct: await hotRatio(deps.ledger, q, w), intent: w.intent, intentHash: w.intent_hash,
            // The Travel Rule status only: the (encrypted) originator and beneficiary data never leave the service here.
            travelRule: { status: w.travel_rule_status, tier: w.travel_rule_tier, destinationType: w.destination_type },
            // WDR-04 / WDR-06: the screening result the approval covers (the intent carries its hash), and its compliance case.
            screening: presentScreening(w, cases.filter((c) => c.withdrawal_id === w.id)),
            approvals: approvals.map((a) => ({ approverId: a.approver_id, userId: a.user_id, signedAt: a.signed_at.toISOString(), expiresAt: a.expires_at.toISOString() })),
          });
        }
        return { status: 200, body: { pending: out } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/treasury/approvals/:withdrawalId', tag: 'treasury', roles: ['treasury'],
      summary: 'Approve with the officer’s registered key: a signature over the canonical intent hash and its validity window (checked here and again by the signer); the initiator cannot approve',
      params: z.strictObject({ withdrawalId: uuid }),
      body: z.strictObject(signedStatement),
      async handler({ params, body, q }) {
        const result = await service().approve(q, params.withdrawalId, body);
        return { status: 200, body: { withdrawalId: params.withdrawalId, ...result }, subject: params.withdrawalId };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/treasury/approvals/:withdrawalId/reject', tag: 'treasury', roles: ['treasury'],
      summary: 'Reject (veto) with the officer’s registered key: a signature over the rejection message (intent hash, validity window, SHA-256 of the reason; never valid as an approval); one valid rejection ends the withdrawal and releases its hold',
      params: z.strictObject({ withdrawalId: uuid }),
      body: z.strictObject({ ...signedStatement, reason: reasonText }),
      async handler({ params, body, q, actorLabel }) {
        const w = await service().reject(q, params.withdrawalId, body, actorLabel);
        return { status: 200, body: presentWithdrawal(deps.assets, w), subject: w.id };
      },
    }),
  ];
}
