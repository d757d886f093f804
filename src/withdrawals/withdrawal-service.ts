// Withdrawals, the request side: a quote (WDR-02: asset, amount, fees, USD value, irreversibility
// warning, expiry), a confirmation that places a hold for amount + maximum fee (WDR-03) and creates
// the persisted withdrawal, treasury approvals and rejections (WDR-06) and cancellation. The pipeline
// (withdrawal-pipeline.ts) does the rest.
import { randomUUID } from 'node:crypto';
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import { withdrawalHoldOwner, type LedgerService } from '../ledger/ledger-service.ts';
import type { ClientService } from '../clients/client-service.ts';
import { decodeAddress } from '../chains/bitcoin/address.ts';
import type { BitcoinNetworkName } from '../chains/bitcoin/networks.ts';
import { parseEthereumAddress } from '../chains/ethereum/address.ts';
import { isChainError } from '../chains/errors.ts';
import { networkFeeAsset } from '../chains/capabilities.ts';
import type { ApprovalInput, ApproverRegistry, RejectionInput } from './approvers.ts';
import type { Compliance } from './compliance.ts';
import { appendEvent } from '../events/event-feed.ts';
import { holdOwnerOf, transition, type WithdrawalRow } from './withdrawal-store.ts';
import { CoinStore } from '../wallets/coin-store.ts';
import { ownershipMessage } from './travel-rule-step.ts';

export const IRREVERSIBILITY_WARNING = {
  id: 'irreversible-v1',
  text: 'Transfers on a blockchain cannot be reversed once executed. Check the destination address and network before you confirm.',
};

export interface FeeSettings {
  /** Largest network fee a BTC withdrawal may pay, in satoshi (quoted and held). */
  btcNetworkFeeMaxSat: bigint;
  /** Largest network fee an ETH withdrawal may pay, in wei (gas limit × max fee per gas). */
  ethNetworkFeeMaxWei: bigint;
  /** Disclosed service fee per asset, base units. */
  serviceFee: Record<string, bigint>;
  quoteTtlSeconds: number;
}

export type { WithdrawalRow, WithdrawalState } from './withdrawal-store.ts';

export class WithdrawalService {
  private readonly coins: CoinStore;

  constructor(private readonly deps: {
    assets: AssetRegistry; ledger: LedgerService; clients: ClientService; compliance: Compliance; approvers: ApproverRegistry;
    fees: FeeSettings; bitcoinNetwork: BitcoinNetworkName; holdTtlSeconds: number;
    /** The Bitcoin coins a cancelled or rejected withdrawal had reserved are freed here. */
    coins?: CoinStore;
  }) {
    this.coins = deps.coins ?? new CoinStore();
  }

  /** Validates an address for the asset's chain and network: a 400 with a stable code otherwise. */
  normalizeDestination(asset: Asset, destination: string): string {
    try {
      if (asset.chain === 'bitcoin') return decodeAddress(destination, this.deps.bitcoinNetwork).address;
      return parseEthereumAddress(destination);
    } catch (error) {
      if (isChainError(error)) {
        throw new DomainError(error.code === 'ADDRESS_WRONG_NETWORK' ? 'ADDRESS_WRONG_NETWORK' : 'ADDRESS_INVALID',
          `${destination.slice(0, 100)} is not a ${asset.chain} address for this network: ${error.message}`);
      }
      throw error;
    }
  }

  networkFeeMax(asset: Asset): bigint {
    if (asset.chain === 'bitcoin') return this.deps.fees.btcNetworkFeeMaxSat;
    // ERC-20 gas is paid by the house gas station, booked as house money: the client pays none.
    return asset.contractAddress ? 0n : this.deps.fees.ethNetworkFeeMaxWei;
  }

  async quote(q: Queryable, input: { clientId: string; asset: string; amount: string; destination: string; actor: string }) {
    const asset = this.deps.assets.get(input.asset);
    const amount = this.deps.assets.fromDecimal(asset.code, input.amount);
    if (amount === 0n) throw new DomainError('AMOUNT_INVALID', 'amount must be greater than zero');
    await this.deps.clients.requireActive(q, input.clientId);
    const destination = this.normalizeDestination(asset, input.destination);
    const networkFeeMax = this.networkFeeMax(asset);
    const serviceFee = this.deps.fees.serviceFee[asset.code] ?? 0n;
    const price = this.deps.compliance.usdCents(asset, amount);
    const { rows } = await q.query<{ id: string; expires_at: Date }>(
      `insert into withdrawal_quotes (client_id, asset, amount, destination, network_fee_max, service_fee, usd_cents, price_version, warning_id, requested_by, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11)) returning id, expires_at`,
      [input.clientId, asset.code, amount.toString(), destination, networkFeeMax.toString(), serviceFee.toString(), price.usdCents.toString(),
        price.version, IRREVERSIBILITY_WARNING.id, input.actor, this.deps.fees.quoteTtlSeconds]);
    const d = (v: bigint) => this.deps.assets.toDecimal(asset.code, v);
    const feeAsset = networkFeeAsset(asset.chain);
    return {
      quoteId: rows[0]!.id, clientId: input.clientId, asset: asset.code, amount: d(amount), destination,
      fees: {
        networkFeeMax: this.deps.assets.toDecimal(feeAsset, networkFeeMax), networkFeeAsset: asset.contractAddress ? null : feeAsset,
        networkFeePaidBy: asset.contractAddress ? 'house gas station' : 'client', serviceFee: d(serviceFee),
      },
      totalMax: d(amount + (asset.contractAddress ? 0n : networkFeeMax) + serviceFee),
      usdValue: `${price.usdCents / 100n}.${(price.usdCents % 100n).toString().padStart(2, '0')}`,
      priceSource: price.version,
      fxRate: null,
      warning: IRREVERSIBILITY_WARNING,
      // DEP-05: to send USD 1,000 or more to a self-hosted wallet, the client signs this with its key.
      ownershipChallenge: ownershipMessage(destination, rows[0]!.id),
      expiresAt: rows[0]!.expires_at.toISOString(),
    };
  }

  /** Confirms a quote: hold for amount + maximum fee + service fee, and a persisted withdrawal. */
  async confirm(q: Queryable, input: {
    quoteId: string; clientId: string; acknowledgedWarningId: string; consent: Record<string, unknown>;
    destinationType: 'vasp' | 'self_hosted'; beneficiary: Record<string, unknown>; initiatorUserId: string;
    ownershipProof?: { message: string; signature: string }; idempotencyId: string; actor: string;
  }): Promise<WithdrawalRow> {
    const { rows: quotes } = await q.query<{ id: string; client_id: string; asset: string; amount: bigint; destination: string;
      network_fee_max: bigint; service_fee: bigint; usd_cents: bigint; warning_id: string; expires_at: Date }>(
      'select * from withdrawal_quotes where id = $1 for update', [input.quoteId]);
    const quote = quotes[0];
    if (!quote || quote.client_id !== input.clientId) throw new DomainError('QUOTE_NOT_FOUND', `no quote ${input.quoteId} for this client`);
    if (quote.expires_at.getTime() <= Date.now()) throw new DomainError('QUOTE_EXPIRED', 'the quote has expired: ask for a new one');
    // A client frozen since the quote (a dispute, a compliance case) confirms nothing.
    await this.deps.clients.requireActive(q, input.clientId);
    if (input.acknowledgedWarningId !== quote.warning_id) {
      throw new DomainError('CONSENT_REQUIRED', `the client must acknowledge warning ${quote.warning_id}`);
    }
    const existing = await q.query<WithdrawalRow>('select * from withdrawals where quote_id = $1', [quote.id]);
    if (existing.rows[0]) throw new DomainError('WITHDRAWAL_STATE', 'this quote was already confirmed', { withdrawalId: existing.rows[0].id });
    const asset = this.deps.assets.get(quote.asset);
    const held = quote.amount + (asset.contractAddress ? 0n : quote.network_fee_max) + quote.service_fee;
    // The hold belongs to the withdrawal (SEG-05): only the withdrawal ends it, never the exchange's hold routes.
    const withdrawalId = randomUUID();
    const { hold } = await this.deps.ledger.placeHold(q, {
      idempotencyId: `${input.idempotencyId}:hold`, clientId: input.clientId, asset: asset.code, amount: held,
      expiresAt: new Date(Date.now() + this.deps.holdTtlSeconds * 1000), reference: { quoteId: quote.id, purpose: 'withdrawal' }, owner: withdrawalHoldOwner(withdrawalId), actor: input.actor,
    });
    const travelRule = this.deps.compliance.sealBeneficiary({ beneficiary: input.beneficiary, ownershipProof: input.ownershipProof ?? null, quoteId: quote.id });
    const { rows } = await q.query<WithdrawalRow>(
      `insert into withdrawals (id, quote_id, client_id, asset, chain, amount, service_fee, network_fee_max, usd_cents, destination, destination_type,
                                state, hold_id, initiator, consent, travel_rule_payload)
       values ($15, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'requested', $11, $12, $13, $14) returning *`,
      [quote.id, input.clientId, asset.code, asset.chain, quote.amount.toString(), quote.service_fee.toString(), quote.network_fee_max.toString(),
        quote.usd_cents.toString(), quote.destination, input.destinationType, hold.id, input.initiatorUserId,
        { ...input.consent, acknowledgedWarningId: input.acknowledgedWarningId, actor: input.actor }, travelRule, withdrawalId]);
    const w = rows[0]!;
    await q.query('insert into withdrawal_transitions (withdrawal_id, from_state, to_state, detail) values ($1, null, $2, $3)', [w.id, 'requested', { holdId: hold.id }]);
    await appendEvent(q, 'withdrawal.requested', w.client_id, w.id, { withdrawalId: w.id, asset: w.asset, amountBaseUnits: w.amount.toString() });
    return w;
  }

  /**
   * HOT-02: a tier move between the client's own wallets, run by the withdrawal pipeline: a sweep
   * (hot -> cold, no approvals) or a refill (cold -> hot, the treasury quorum, like any cold
   * withdrawal). The destination is the client's own other-tier wallet; the intent names its key and
   * the signer refuses anything else (HOT-03). Only the network fee is held from the client's
   * entitlement (owner `rebalancing:<id>`, SEG-05), as that is all the move costs the client (SEG-04);
   * ERC-20 gas is the house's (no hold). One tier move per client and asset is in flight: asking
   * again returns the one in flight (`created: false`).
   */
  async createTierMove(q: Queryable, input: {
    kind: 'sweep' | 'refill'; clientId: string; asset: string; amount: bigint;
    destination: { address: string; keyId: string; walletId: string }; initiator: string; reason: Record<string, unknown>; actor: string;
    /** The most the move may pay in network fees (held from the client); default the withdrawal maximum. */
    networkFeeMax?: bigint;
  }): Promise<{ withdrawal: WithdrawalRow; created: boolean }> {
    const asset = this.deps.assets.get(input.asset);
    if (input.amount <= 0n) throw new DomainError('AMOUNT_INVALID', 'a tier move moves more than nothing');
    await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7266))', [`tier-move/${input.clientId}/${asset.code}`]);
    const { rows: inFlight } = await q.query<WithdrawalRow>(
      `select * from withdrawals where client_id = $1 and asset = $2 and kind <> 'withdrawal'
         and state in ('requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming')`, [input.clientId, asset.code]);
    if (inFlight[0]) return { withdrawal: inFlight[0], created: false };
    const { rows: owner } = await q.query<{ client_id: string | null; tier: string; chain: string }>(
      'select w.client_id, w.tier, w.chain from wallet_addresses a join wallets w on w.id = a.wallet_id where a.wallet_id = $1 and a.key_id = $2 and a.address = $3',
      [input.destination.walletId, input.destination.keyId, input.destination.address]);
    const wantTier = input.kind === 'sweep' ? 'cold' : 'hot';
    // HOT-03, first line: the planner's destination must be this client's own wallet of the other tier (the signer checks again).
    if (!owner[0] || owner[0].client_id !== input.clientId || owner[0].tier !== wantTier || owner[0].chain !== asset.chain) {
      throw new DomainError('CROSS_CLIENT_TRANSFER', `a ${input.kind} must go to client ${input.clientId}'s own ${wantTier} ${asset.chain} wallet`);
    }
    // ERC-20 gas is the house gas station's whatever is asked: the client pays none.
    const networkFeeMax = asset.contractAddress ? 0n : input.networkFeeMax ?? this.networkFeeMax(asset);
    const id = randomUUID();
    let holdId: string | null = null;
    if (networkFeeMax > 0n) {
      const { hold } = await this.deps.ledger.placeHold(q, {
        idempotencyId: `tier-move:${id}:hold`, clientId: input.clientId, asset: asset.code, amount: networkFeeMax,
        expiresAt: new Date(Date.now() + this.deps.holdTtlSeconds * 1000), reference: { purpose: input.kind, withdrawalId: id },
        owner: holdOwnerOf({ id, kind: input.kind }), actor: input.actor,
      });
      holdId = hold.id;
    }
    const { rows } = await q.query<WithdrawalRow>(
      `insert into withdrawals (id, kind, client_id, asset, chain, amount, service_fee, network_fee_max, usd_cents, destination, destination_type,
                                destination_key_id, destination_wallet_id, state, source_tier, hold_id, initiator, consent, approvals_required, travel_rule_status)
       values ($1, $2, $3, $4, $5, $6, 0, $7, 0, $8, 'own_wallet', $9, $10, 'requested', $11, $12, $13, $14, $15, 'not_required') returning *`,
      [id, input.kind, input.clientId, asset.code, asset.chain, input.amount.toString(), networkFeeMax.toString(), input.destination.address,
        input.destination.keyId, input.destination.walletId, input.kind === 'sweep' ? 'hot' : 'cold', holdId, input.initiator,
        { reason: input.reason, actor: input.actor }, input.kind === 'sweep' ? 0 : this.deps.approvers.quorum]);
    const w = rows[0]!;
    await q.query('insert into withdrawal_transitions (withdrawal_id, from_state, to_state, detail) values ($1, null, $2, $3)',
      [w.id, 'requested', { kind: w.kind, holdId, reason: input.reason }]);
    return { withdrawal: w, created: true };
  }

  async get(q: Queryable, id: string): Promise<WithdrawalRow> {
    const { rows } = await q.query<WithdrawalRow>('select * from withdrawals where id = $1', [id]);
    if (!rows[0]) throw new DomainError('WITHDRAWAL_NOT_FOUND', `no withdrawal ${id}`);
    return rows[0];
  }

  async list(q: Queryable, filter: { clientId?: string; state?: string; limit: number }): Promise<WithdrawalRow[]> {
    const { rows } = await q.query<WithdrawalRow>(
      `select * from withdrawals where ($1::uuid is null or client_id = $1) and ($2::text is null or state = $2) order by created_at desc limit $3`,
      [filter.clientId ?? null, filter.state ?? null, filter.limit]);
    return rows;
  }

  /** The withdrawal, locked for this transaction. */
  private async lock(q: Queryable, withdrawalId: string): Promise<WithdrawalRow> {
    const { rows } = await q.query<WithdrawalRow>('select * from withdrawals where id = $1 for update', [withdrawalId]);
    if (!rows[0]) throw new DomainError('WITHDRAWAL_NOT_FOUND', `no withdrawal ${withdrawalId}`);
    return rows[0];
  }

  /** A withdrawal treasury can still approve or reject: waiting for approvals, with the intent they sign. */
  private async lockAwaitingApprovals(q: Queryable, withdrawalId: string): Promise<WithdrawalRow & { intent_hash: string }> {
    const w = await this.lock(q, withdrawalId);
    if (w.state !== 'approvals' || !w.intent_hash) throw new DomainError('WITHDRAWAL_STATE', `withdrawal ${w.id} is ${w.state}, not waiting for approvals`);
    return w as WithdrawalRow & { intent_hash: string };
  }

  /** Records one treasury approval (WDR-06): verified now, and again by the signer before it signs. */
  async approve(q: Queryable, withdrawalId: string, approval: ApprovalInput): Promise<{ approvals: number; required: number }> {
    const w = await this.lockAwaitingApprovals(q, withdrawalId);
    const approver = this.deps.approvers.verify(approval, w.intent_hash, w.initiator);
    await q.query(
      `insert into withdrawal_approvals (withdrawal_id, approver_id, user_id, algorithm, intent_hash, signature, signed_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (withdrawal_id, approver_id) do nothing`,
      [w.id, approver.id, approver.userId, approval.algorithm, approval.intentHash, approval.signature, approval.signedAt, approval.expiresAt]);
    const count = await q.query<{ n: number }>(
      `select count(*)::int as n from withdrawal_approvals where withdrawal_id = $1 and intent_hash = $2 and expires_at > now() and decision = 'approve'`,
      [w.id, w.intent_hash]);
    await q.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
    return { approvals: count.rows[0]!.n, required: w.approvals_required };
  }

  /**
   * One treasury officer's signed rejection (WDR-06 maker-checker veto) ends a withdrawal waiting
   * for approvals: nothing is signed, the hold is released in full, reserved coins are freed. Any
   * registered officer may veto, the initiator included (a veto only stops money from moving), and
   * earlier approvals by the same officer stay on record. The rejection itself is kept with its
   * signature in withdrawal_rejections.
   */
  async reject(q: Queryable, withdrawalId: string, rejection: RejectionInput, actor: string): Promise<WithdrawalRow> {
    const w = await this.lockAwaitingApprovals(q, withdrawalId);
    const approver = this.deps.approvers.verifyRejection(rejection, w.intent_hash);
    await q.query(
      `insert into withdrawal_rejections (withdrawal_id, approver_id, user_id, algorithm, intent_hash, reason, signature, signed_at, expires_at, recorded_by)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [w.id, approver.id, approver.userId, rejection.algorithm, rejection.intentHash, rejection.reason, rejection.signature,
        rejection.signedAt, rejection.expiresAt, actor]);
    // The officer's reason and name stay with treasury and auditors (withdrawal_rejections, the
    // transition): what the exchange and so the client see is the code alone, never a reason that
    // could tip off a client under investigation (AML tipping-off).
    await this.endUnsigned(q, w, 'rejected', { actor, rejectedBy: approver.id, reason: rejection.reason }, { code: 'TREASURY_REJECTED', detail: 'rejected by treasury' });
    await appendEvent(q, 'withdrawal.rejected', w.client_id, w.id, { withdrawalId: w.id, code: 'TREASURY_REJECTED' });
    return this.get(q, w.id);
  }

  /** Cancels a withdrawal that has not been signed yet; the hold is voided. */
  async cancel(q: Queryable, withdrawalId: string, actor: string): Promise<WithdrawalRow> {
    const w = await this.lock(q, withdrawalId);
    // A sweep or refill is the custodian's move between the client's own wallets, not the client's
    // withdrawal: the exchange cannot cancel it (treasury rejects a refill; a sweep needs no approval).
    if (w.kind !== 'withdrawal') throw new DomainError('WITHDRAWAL_STATE', `withdrawal ${w.id} is a ${w.kind} between the client's own wallets: it is not cancelled through this route`);
    if (!['requested', 'screening', 'policy', 'travel_rule', 'approvals'].includes(w.state)) {
      throw new DomainError('WITHDRAWAL_STATE', `withdrawal ${w.id} is ${w.state}: only unsigned withdrawals can be cancelled`);
    }
    await this.endUnsigned(q, w, 'cancelled', { actor });
    await appendEvent(q, 'withdrawal.cancelled', w.client_id, w.id, { withdrawalId: w.id });
    return this.get(q, w.id);
  }

  /** Ends a locked, unsigned withdrawal: its hold is released in full (unless it already ran out), reserved coins are freed. */
  private async endUnsigned(q: Queryable, w: WithdrawalRow, to: 'cancelled' | 'rejected', detail: Record<string, unknown> & { actor: string },
    failure?: { code: string; detail: string }): Promise<void> {
    if (w.hold_id) {
      const hold = await this.deps.ledger.getHold(q, w.hold_id);
      if (hold?.state === 'pending') await this.deps.ledger.releaseHold(q, w.hold_id, holdOwnerOf(w), detail.actor);
    }
    await this.coins.free(q, w.id);
    if (failure) await q.query('update withdrawals set failure_code = $2, failure_detail = $3 where id = $1', [w.id, failure.code, failure.detail.slice(0, 2000)]);
    await transition(q, w, to, failure ? { ...detail, ...failure } : detail);
  }
}
