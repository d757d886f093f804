// The withdrawal store: the SQL on withdrawals, their transitions, their signed transactions and
// the approvals read back for the signer. The steps (withdrawal-pipeline.ts) and the chain adapters
// (payout/) decide; this file only reads and writes rows. Nothing here calls the network.
import type { Queryable } from '../platform/tx.ts';
import type { HoldOwner } from '../ledger/ledger-service.ts';

export type WithdrawalState = 'requested' | 'screening' | 'policy' | 'travel_rule' | 'approvals' | 'signing' | 'broadcast' | 'confirming'
  | 'completed' | 'rejected' | 'failed' | 'cancelled';

/** The states a worker still has something to do in. */
export const RUNNABLE_STATES: readonly WithdrawalState[] = ['requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming'];

export interface WithdrawalRow {
  /** null for a tier move (no quote: nothing is asked of the client). */
  id: string; quote_id: string | null; client_id: string; asset: string; chain: 'bitcoin' | 'ethereum'; amount: bigint; service_fee: bigint;
  network_fee_max: bigint; usd_cents: bigint; destination: string; destination_type: 'vasp' | 'self_hosted'; state: WithdrawalState;
  source_tier: 'hot' | 'cold' | null; source_wallet_id: string | null; hold_id: string | null; initiator: string;
  consent: Record<string, unknown>; policy: Record<string, unknown> | null; policy_hash: string | null; approvals_required: number;
  travel_rule_status: string; travel_rule_tier: string | null; travel_rule_payload: Record<string, unknown> | null;
  /** WDR-04: the screening record (src/screening) and the SHA-256 of its canonical JSON, also the intent's screeningHash. */
  screening: Record<string, unknown> | null; screening_hash: string | null;
  intent: Record<string, unknown> | null; intent_hash: string | null; build: Record<string, unknown> | null; signed_tx: string | null;
  txid: string | null; broadcast_at: Date | null; confirmations: number; network_fee: bigint | null; entry_id: number | null;
  attempts: number; next_run_at: Date; failure_code: string | null; failure_detail: string | null;
  created_at: Date; updated_at: Date; completed_at: Date | null;
  /** withdrawal pays a third party; sweep (hot -> cold) and refill (cold -> hot) move coins between the client's own wallets (HOT-02). */
  kind: WithdrawalKind;
  /** Tier moves: the signer key and the wallet behind the destination, the client's own other-tier wallet (HOT-03). */
  destination_key_id: string | null; destination_wallet_id: string | null;
}

export type WithdrawalKind = 'withdrawal' | 'sweep' | 'refill';

/** A move between one client's own hot and cold wallets: no screening, policy or Travel Rule; the signer checks the owner and tier. */
export function isTierMove(w: { kind: WithdrawalKind }): boolean {
  return w.kind !== 'withdrawal';
}

/** Who owns the row's hold (SEG-05): the withdrawal, or the rebalancer for a tier move. */
export function holdOwnerOf(w: { id: string; kind: WithdrawalKind }): HoldOwner {
  return isTierMove(w) ? `rebalancing:${w.id}` : `withdrawal:${w.id}`;
}

/** One signed transaction of a withdrawal: the first, or a replacement of the one before. */
export interface SignedTx { txid: string; raw: string; fee: bigint; replaces_txid: string | null; created_at: Date }

/** Transaction ids as the scanners see them: lower-case hex (Ethereum hashes with 0x). */
export function normalizeTxid(txid: string): string {
  return txid.toLowerCase();
}

export async function transition(q: Queryable, w: { id: string; state: WithdrawalState }, to: WithdrawalState, detail: Record<string, unknown> = {}): Promise<void> {
  await q.query(`update withdrawals set state = $2, updated_at = now(), next_run_at = now(), attempts = 0,
                   completed_at = case when $2 in ('completed', 'rejected', 'failed', 'cancelled') then now() else completed_at end
                 where id = $1`, [w.id, to]);
  await q.query('insert into withdrawal_transitions (withdrawal_id, from_state, to_state, detail) values ($1, $2, $3, $4)', [w.id, w.state, to, detail]);
}

/** Columns a step may set on its withdrawal (never state: that goes through transition()). */
type Settable = Partial<Pick<WithdrawalRow, 'screening' | 'screening_hash' | 'destination_type' | 'policy' | 'policy_hash' | 'source_tier'
  | 'approvals_required' | 'travel_rule_status' | 'travel_rule_tier' | 'travel_rule_payload' | 'intent' | 'intent_hash' | 'build'
  | 'signed_tx' | 'txid' | 'confirmations' | 'network_fee' | 'entry_id' | 'failure_code' | 'failure_detail'>>;

const SETTABLE = new Set<string>(['screening', 'screening_hash', 'destination_type', 'policy', 'policy_hash', 'source_tier', 'approvals_required',
  'travel_rule_status', 'travel_rule_tier', 'travel_rule_payload', 'intent', 'intent_hash', 'build', 'signed_tx', 'txid', 'confirmations',
  'network_fee', 'entry_id', 'failure_code', 'failure_detail']);

export class WithdrawalStore {
  async get(q: Queryable, id: string): Promise<WithdrawalRow | undefined> {
    const { rows } = await q.query<WithdrawalRow>('select * from withdrawals where id = $1', [id]);
    return rows[0];
  }

  /** The withdrawal, locked for the caller's transaction. */
  async lock(q: Queryable, id: string): Promise<WithdrawalRow | undefined> {
    const { rows } = await q.query<WithdrawalRow>('select * from withdrawals where id = $1 for update', [id]);
    return rows[0];
  }

  /** The withdrawal if it is runnable and due now (read again once a worker holds its lock). */
  async getIfDue(q: Queryable, id: string): Promise<WithdrawalRow | undefined> {
    const { rows } = await q.query<WithdrawalRow>('select * from withdrawals where id = $1 and state = any($2) and next_run_at <= now()', [id, RUNNABLE_STATES]);
    return rows[0];
  }

  /** Runnable withdrawals whose time has come, oldest first (no lock: the caller claims one). */
  async due(q: Queryable, limit: number): Promise<{ id: string }[]> {
    const { rows } = await q.query<{ id: string }>(
      'select id from withdrawals where state = any($1) and next_run_at <= now() order by next_run_at limit $2', [RUNNABLE_STATES, limit]);
    return rows;
  }

  async set(q: Queryable, id: string, fields: Settable): Promise<void> {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    for (const [k] of entries) if (!SETTABLE.has(k)) throw new Error(`withdrawal column ${k} is not settable`);
    const values = entries.map(([, v]) => (typeof v === 'bigint' ? v.toString() : v));
    await q.query(`update withdrawals set ${entries.map(([k], i) => `${k} = $${i + 2}`).join(', ')} where id = $1`, [id, ...values]);
  }

  /** Merges keys into the build record. */
  async mergeBuild(q: Queryable, id: string, fields: Record<string, unknown>): Promise<void> {
    await q.query('update withdrawals set build = build || $2 where id = $1', [id, fields]);
  }

  /** Waits: the worker looks again after `seconds`, with why it waits. */
  async waitFor(q: Queryable, id: string, seconds: number, why?: { code: string; detail: string }): Promise<void> {
    await q.query(`update withdrawals set next_run_at = now() + make_interval(secs => $2),
                     failure_code = coalesce($3, failure_code), failure_detail = coalesce($4, failure_detail) where id = $1`,
    [id, seconds, why?.code ?? null, why?.detail.slice(0, 2000) ?? null]);
  }

  /** A failed attempt: counted, and retried after `delaySeconds`. */
  async attemptFailed(q: Queryable, id: string, code: string, detail: string, delaySeconds: number): Promise<void> {
    await q.query(`update withdrawals set attempts = attempts + 1, failure_code = $2, failure_detail = $3,
                     next_run_at = now() + make_interval(secs => $4) where id = $1`, [id, code, detail.slice(0, 2000), delaySeconds]);
  }

  async markBroadcast(q: Queryable, id: string): Promise<void> {
    await q.query('update withdrawals set broadcast_at = coalesce(broadcast_at, now()) where id = $1', [id]);
  }

  /** A transition that stays in the same state, recorded for the trail (e.g. an earlier transaction was the one mined). */
  async note(q: Queryable, w: { id: string; state: WithdrawalState }, detail: Record<string, unknown>): Promise<void> {
    await q.query('insert into withdrawal_transitions (withdrawal_id, from_state, to_state, detail) values ($1, $2, $2, $3)', [w.id, w.state, detail]);
  }

  /** Stores a signed transaction (before it is ever broadcast) and records it as ours for the scanners. */
  async addSignedTransaction(q: Queryable, w: { id: string; chain: string; kind?: WithdrawalKind }, tx: { txid: string; raw: string; fee: bigint; replaces?: string }): Promise<void> {
    await q.query('insert into withdrawal_transactions (withdrawal_id, txid, raw, fee, replaces_txid) values ($1, $2, $3, $4, $5) on conflict do nothing',
      [w.id, tx.txid, tx.raw, tx.fee.toString(), tx.replaces ?? null]);
    await this.recordOwnTransaction(q, w.chain, tx.txid, w.kind ?? 'withdrawal', w.id);
    await q.query('update withdrawals set signed_tx = $2, txid = $3 where id = $1', [w.id, tx.raw, tx.txid]);
  }

  /** Every transaction we sign is ours: the scanners never take it (or its change) for a deposit. */
  async recordOwnTransaction(q: Queryable, chain: string, txid: string, purpose: WithdrawalKind | 'gas_top_up', withdrawalId: string): Promise<void> {
    await q.query('insert into own_transactions (chain, txid, purpose, withdrawal_id) values ($1, $2, $3, $4) on conflict do nothing',
      [chain, normalizeTxid(txid), purpose, withdrawalId]);
  }

  /** The withdrawal's signed transactions, oldest first: the first and its replacements. */
  async signedTransactions(q: Queryable, withdrawalId: string): Promise<SignedTx[]> {
    const { rows } = await q.query<SignedTx>(
      'select txid, raw, fee, replaces_txid, created_at from withdrawal_transactions where withdrawal_id = $1 order by id', [withdrawalId]);
    return rows;
  }

  /** Distinct approvers whose live approval covers the intent. */
  async approvalCount(q: Queryable, w: { id: string; intent_hash: string | null }): Promise<number> {
    const { rows } = await q.query<{ n: number }>(
      `select count(distinct approver_id)::int as n from withdrawal_approvals
       where withdrawal_id = $1 and intent_hash = $2 and expires_at > now() and decision = 'approve'`, [w.id, w.intent_hash]);
    return rows[0]!.n;
  }

  /** The treasury approvals the signer verifies for the intent. */
  async approvals(q: Queryable, w: { id: string; intent_hash: string | null }): Promise<Record<string, string>[]> {
    const { rows } = await q.query<{ approver_id: string; algorithm: string; intent_hash: string; signature: string; signed_at: Date; expires_at: Date }>(
      `select * from withdrawal_approvals where withdrawal_id = $1 and intent_hash = $2 and decision = 'approve'`, [w.id, w.intent_hash]);
    return rows.map((a) => ({ approverId: a.approver_id, algorithm: a.algorithm, intentHash: a.intent_hash,
      signature: a.signature, signedAt: a.signed_at.toISOString(), expiresAt: a.expires_at.toISOString() }));
  }

  /**
   * What the other withdrawals of this client and asset will still take out of its hot wallet: each
   * one sourced from hot, past the policy and not yet completed, reserves its amount and (when the
   * client pays the fee in this asset) its maximum network fee.
   */
  async inFlightFromHot(q: Queryable, w: WithdrawalRow): Promise<bigint> {
    const { rows } = await q.query<{ total: bigint | null }>(
      `select sum(amount + case when chain = 'bitcoin' or asset = 'ETH' then network_fee_max else 0 end) as total
       from withdrawals where client_id = $1 and asset = $2 and id <> $3 and source_tier = 'hot'
         and state in ('travel_rule', 'approvals', 'signing', 'broadcast', 'confirming')`, [w.client_id, w.asset, w.id]);
    return rows[0]!.total ?? 0n;
  }

  /** Gas the other token withdrawals from this address will still burn: their signed maximum, or `unsignedNeed` while unsigned. */
  async gasInFlight(q: Queryable, w: { id: string }, address: string, unsignedNeed: bigint): Promise<bigint> {
    const { rows } = await q.query<{ max_fee: string | null }>(
      `select build->>'maxFeeWei' as max_fee from withdrawals
       where build->>'from' = $1 and id <> $2 and (build->>'gasFromHouse')::boolean and confirmations = 0
         and state in ('signing', 'broadcast', 'confirming')`, [address, w.id]);
    return rows.reduce((sum, r) => sum + (r.max_fee === null ? unsignedNeed : BigInt(r.max_fee)), 0n);
  }
}
