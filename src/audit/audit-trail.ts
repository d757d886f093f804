// REC-06 / SEG-08: the audit trail of one withdrawal end to end, and the lookup of a custody txid.
// The withdrawal's id is the correlation id: it is the subject of its transitions and events, the
// cause of its journal entry, and the hold's reference. Read-only: rebuilt from the immutable
// records (transitions, approvals, signed transactions, journal, audit log), never stored.
import type { Queryable } from '../platform/tx.ts';
import type { LedgerService, JournalEntry } from '../ledger/ledger-service.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { WithdrawalRow } from '../withdrawals/withdrawal-store.ts';

export interface TrailStep { step: string; required: boolean; present: boolean; at: string | null; evidence: Record<string, unknown> }

export interface WithdrawalTrail {
  correlationId: string;
  withdrawalId: string;
  kind: string;
  clientId: string;
  state: string;
  steps: TrailStep[];
  missing: string[];
  complete: boolean;
  transitions: { from: string | null; to: string; at: string; detail: Record<string, unknown> }[];
  journalEntries: ReturnType<typeof presentEntry>[];
  auditRows: { id: number; occurredAt: string; actor: string; action: string; subject: string | null; outcome: string }[];
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
const str = (v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

export function presentEntry(e: JournalEntry) {
  return {
    id: e.id, idempotencyId: e.idempotencyId, type: e.type, cause: e.cause, memo: e.memo, entryHash: e.entryHash, createdAt: e.createdAt.toISOString(),
    postings: (e as { postings?: { accountCode: string; asset: string; book: string; amount: bigint }[] }).postings?.map((p) => ({ accountCode: p.accountCode, asset: p.asset, book: p.book, amount: p.amount.toString() })) ?? [],
  };
}

export interface TrailDeps { ledger: Pick<LedgerService, 'getEntry'>; assets: AssetRegistry; getWithdrawal(q: Queryable, id: string): Promise<WithdrawalRow> }

export async function withdrawalTrail(q: Queryable, deps: TrailDeps, withdrawalId: string): Promise<WithdrawalTrail> {
  const w = await deps.getWithdrawal(q, withdrawalId);
  const kind = (w as { kind?: string }).kind ?? 'withdrawal';
  const tierMove = kind !== 'withdrawal';
  const [{ rows: quote }, { rows: transitions }, { rows: approvals }, { rows: txs }, { rows: entryIds }] = await Promise.all([
    q.query<{ id: string; amount: bigint; destination: string; network_fee_max: bigint; service_fee: bigint; usd_cents: bigint; price_version: string; warning_id: string; requested_by: string; created_at: Date }>(
      'select * from withdrawal_quotes where id = $1', [w.quote_id]),
    q.query<{ from_state: string | null; to_state: string; detail: Record<string, unknown>; at: Date }>(
      'select from_state, to_state, detail, at from withdrawal_transitions where withdrawal_id = $1 order by id', [w.id]),
    q.query<{ approver_id: string; user_id: string; algorithm: string; intent_hash: string; decision: string; signed_at: Date; created_at: Date }>(
      'select approver_id, user_id, algorithm, intent_hash, decision, signed_at, created_at from withdrawal_approvals where withdrawal_id = $1 order by created_at, approver_id', [w.id]),
    q.query<{ txid: string; fee: bigint; replaces_txid: string | null; created_at: Date }>(
      'select txid, fee, replaces_txid, created_at from withdrawal_transactions where withdrawal_id = $1 order by id', [w.id]),
    q.query<{ id: number }>(`select id from journal_entries where id = $1 or cause->>'withdrawalId' = $2 order by id`, [w.entry_id, w.id]),
  ]);
  const subjects = [w.id, ...(w.hold_id ? [w.hold_id] : [])];
  const { rows: audit } = await q.query<{ id: number; occurred_at: Date; actor: string; action: string; subject: string | null; outcome: string }>(
    'select id, occurred_at, actor, action, subject, outcome from audit_log where subject = any($1) order by id', [subjects]);
  const entries = (await Promise.all(entryIds.map((r) => deps.ledger.getEntry(q, Number(r.id))))).filter((e): e is JournalEntry => e !== undefined);

  const reached = (state: string) => transitions.find((t) => t.to_state === state);
  // The policy decided: the withdrawal went on to the Travel Rule, or was refused there (WDR-09, POLICY_DENIED).
  const leftPolicy = transitions.find((t) => t.from_state === 'policy');
  const completed = w.state === 'completed';
  const approved = approvals.filter((a) => a.decision === 'approve' && a.intent_hash === w.intent_hash);
  const q0 = quote[0];
  const steps: TrailStep[] = [
    { step: 'request', required: true, present: transitions.length > 0 && transitions[0]!.to_state === 'requested',
      at: iso(w.created_at), evidence: { initiator: w.initiator, consent: w.consent, holdId: w.hold_id, amount: w.amount.toString(), destination: w.destination } },
    { step: 'quote', required: !tierMove, present: q0 !== undefined, at: iso(q0?.created_at),
      evidence: q0 ? { quoteId: q0.id, priceVersion: q0.price_version, usdCents: str(q0.usd_cents), warningId: q0.warning_id, requestedBy: q0.requested_by } : {} },
    { step: 'screening', required: !tierMove, present: w.screening_hash !== null, at: iso(reached('policy')?.at),
      evidence: { screeningHash: w.screening_hash, outcome: (w.screening as { outcome?: string } | null)?.outcome ?? null } },
    { step: 'policy', required: !tierMove, present: w.policy_hash !== null && leftPolicy !== undefined, at: iso(leftPolicy?.at),
      evidence: { policyHash: w.policy_hash, sourceTier: w.source_tier, approvalsRequired: w.approvals_required, next: leftPolicy?.to_state ?? null, decision: leftPolicy?.detail ?? null } },
    { step: 'travel_rule', required: !tierMove, present: ['not_required', 'self_hosted_info_held', 'acked'].includes(w.travel_rule_status) && reached('approvals') !== undefined,
      at: iso(reached('approvals')?.at), evidence: { status: w.travel_rule_status, tier: w.travel_rule_tier } },
    { step: 'intent', required: true, present: w.intent_hash !== null, at: null, evidence: { intentHash: w.intent_hash } },
    { step: 'approvals', required: true, present: approved.length >= w.approvals_required, at: iso(approved.at(-1)?.created_at),
      evidence: { required: w.approvals_required, approvals: approvals.map((a) => ({ approverId: a.approver_id, userId: a.user_id, algorithm: a.algorithm, decision: a.decision, intentHash: a.intent_hash, signedAt: iso(a.signed_at) })) } },
    { step: 'sign', required: true, present: txs.length > 0, at: iso(txs[0]?.created_at),
      evidence: { transactions: txs.map((t) => ({ txid: t.txid, fee: str(t.fee), replaces: t.replaces_txid })) } },
    { step: 'broadcast', required: true, present: w.broadcast_at !== null && w.txid !== null, at: iso(w.broadcast_at), evidence: { txid: w.txid } },
    { step: 'confirmations', required: true, present: completed && w.completed_at !== null, at: iso(w.completed_at), evidence: { confirmations: w.confirmations } },
    { step: 'journal', required: true, present: w.entry_id !== null && entries.some((e) => e.id === Number(w.entry_id) && (e.cause as { withdrawalId?: string }).withdrawalId === w.id),
      at: iso(entries.find((e) => e.id === Number(w.entry_id))?.createdAt), evidence: { entryId: w.entry_id, networkFee: str(w.network_fee) } },
    { step: 'audit', required: true, present: audit.length > 0, at: iso(audit[0]?.occurred_at), evidence: { rows: audit.length } },
  ];
  const missing = steps.filter((s) => s.required && !s.present).map((s) => s.step);
  return {
    correlationId: w.id, withdrawalId: w.id, kind, clientId: w.client_id, state: w.state, steps, missing, complete: completed && missing.length === 0,
    transitions: transitions.map((t) => ({ from: t.from_state, to: t.to_state, at: t.at.toISOString(), detail: t.detail })),
    journalEntries: entries.map(presentEntry),
    auditRows: audit.map((a) => ({ id: Number(a.id), occurredAt: a.occurred_at.toISOString(), actor: a.actor, action: a.action, subject: a.subject, outcome: a.outcome })),
  };
}

/** SEG-08: for a custody txid, whose it is, the instruction it came from, its approvals and its journal entries. */
export async function transactionLookup(q: Queryable, deps: TrailDeps, txid: string): Promise<Record<string, unknown> | undefined> {
  const { rows: wd } = await q.query<{ id: string }>(
    `select id from withdrawals where txid = $1 union select withdrawal_id from withdrawal_transactions where txid = $1`, [txid]);
  if (wd[0]) {
    const trail = await withdrawalTrail(q, deps, wd[0].id);
    const step = (name: string) => trail.steps.find((s) => s.step === name)!;
    return {
      txid, direction: 'outgoing', ownerClientId: trail.clientId, withdrawalId: trail.withdrawalId, kind: trail.kind, state: trail.state,
      instruction: { ...step('request').evidence, requestedAt: step('request').at, quote: step('quote').evidence },
      approvals: step('approvals').evidence, intentHash: step('intent').evidence.intentHash,
      journalEntries: trail.journalEntries,
    };
  }
  const { rows: dep } = await q.query<{ id: string; client_id: string | null; asset: string; amount: bigint; address: string; status: string; credit_entry_id: number | null; wallet_id: string; tier: string; block_height: bigint }>(
    'select id, client_id, asset, amount, address, status, credit_entry_id, wallet_id, tier, block_height from deposits where txid = $1 order by id', [txid]);
  if (dep.length === 0) return undefined;
  const { rows: entryIds } = await q.query<{ id: number }>(
    `select id from journal_entries where id = any($1::bigint[]) or cause->>'txid' = $2 order by id`, [dep.map((d) => d.credit_entry_id).filter((x) => x !== null), txid]);
  const entries = (await Promise.all(entryIds.map((r) => deps.ledger.getEntry(q, Number(r.id))))).filter((e): e is JournalEntry => e !== undefined);
  const owners = [...new Set(dep.map((d) => d.client_id))];
  return {
    txid, direction: 'incoming', ownerClientId: owners.length === 1 ? owners[0] : null, owners,
    instruction: null, approvals: null,
    deposits: dep.map((d) => ({ depositId: d.id, clientId: d.client_id, asset: d.asset, amount: d.amount.toString(), address: d.address, walletId: d.wallet_id, tier: d.tier, status: d.status, blockHeight: str(d.block_height) })),
    journalEntries: entries.map(presentEntry),
  };
}
