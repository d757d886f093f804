// How a withdrawal ends, on the ledger and the feed: unsent (hold voided, coins freed), frozen
// under a sanctions case (hold frozen), completed (hold posted with the real fee, the chain's
// bookkeeping, the exchange told) or reverted on-chain (the gas booked, the hold voided). Each
// runs inside the pipeline's record transaction; nothing here calls the network.
import type { LedgerService, Posting } from '../ledger/ledger-service.ts';
import type { Logger } from '../platform/logger.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import { appendEvent } from '../events/event-feed.ts';
import { COMPLIANCE_HOLD } from '../screening/index.ts';
import { holdOwnerOf, isTierMove, transition, type WithdrawalRow, type WithdrawalStore } from './withdrawal-store.ts';
import type { MinedPayout, Payout } from './payout/payout.ts';

export class WithdrawalOutcomes {
  constructor(private readonly deps: {
    ledger: LedgerService; assets: AssetRegistry; store: WithdrawalStore; payouts: Record<'bitcoin' | 'ethereum', Payout>; log: Logger;
  }) {}

  private payout(w: WithdrawalRow): Payout {
    return this.deps.payouts[w.chain];
  }

  /** Rejected, failed or cancelled before anything was broadcast: the hold is voided, reserved coins freed. */
  async finishUnsent(q: Queryable, w: WithdrawalRow, to: 'rejected' | 'failed', code: string, detail: string): Promise<void> {
    if (w.hold_id) {
      const hold = await this.deps.ledger.getHold(q, w.hold_id);
      if (hold?.state === 'pending') await this.deps.ledger.releaseHold(q, w.hold_id, holdOwnerOf(w), 'pipeline');
    }
    await this.payout(w).release(q, w);
    await this.deps.store.set(q, w.id, { failure_code: code, failure_detail: detail.slice(0, 2000) });
    await transition(q, w, to, { code, detail });
    await appendEvent(q, to === 'rejected' ? 'withdrawal.rejected' : 'withdrawal.failed', w.client_id, w.id, { withdrawalId: w.id, code, detail });
  }


  /**
   * A sanctions hit: rejected (SANCTIONED, which never leaves the firm), but unlike finishUnsent the
   * client's funds are not given back. The hold is frozen under the case: it stays held, the
   * expiry loop and the void route cannot release it, and only the case's decision can
   * (LedgerService.releaseFrozenHold). The exchange is told COMPLIANCE_HOLD and nothing more
   * (AML tipping-off).
   */
  async finishFrozen(q: Queryable, w: WithdrawalRow, caseId: string, detail: string): Promise<void> {
    let hold = 'none';
    if (w.hold_id) {
      const current = await this.deps.ledger.getHold(q, w.hold_id);
      hold = current?.state ?? 'missing';
      if (current?.state === 'pending') hold = (await this.deps.ledger.freezeHold(q, w.hold_id, holdOwnerOf(w), { caseId, withdrawalId: w.id, reason: 'sanctions_hit' }, 'pipeline:screening')).state;
      // A hold already gone (it expired while the worker was down) cannot be frozen: the frozen
      // client can still move nothing, and the case says so for compliance to act on.
      if (hold !== 'frozen') this.deps.log.error({ withdrawalId: w.id, caseId, hold }, 'sanctions hit: the withdrawal hold could not be frozen');
    }
    await this.payout(w).release(q, w);
    await this.deps.store.set(q, w.id, { failure_code: 'SANCTIONED', failure_detail: detail.slice(0, 2000) });
    await transition(q, w, 'rejected', { code: 'SANCTIONED', caseId, hold });
    await appendEvent(q, 'withdrawal.rejected', w.client_id, w.id, { withdrawalId: w.id, code: COMPLIANCE_HOLD.code });
  }


  /** WDR-07: post the hold with the real fee, release the rest, record change, tell the exchange. */
  async complete(q: Queryable, w: WithdrawalRow, asset: Asset, mined: MinedPayout, facts: unknown): Promise<void> {
    if (isTierMove(w)) return this.completeTierMove(q, w, asset, mined, facts);
    const { ledger } = this.deps;
    const payout = this.payout(w);
    const networkFee = mined.networkFee;
    const clientPaysFee = payout.clientPaysFee(asset);
    const leaves = w.amount + (clientPaysFee ? networkFee : 0n);
    const walletKind = w.source_tier === 'cold' ? 'client_wallet_cold' : 'client_wallet_hot';
    const credits: Posting[] = [{ accountId: await ledger.systemAccountId(q, asset.code, 'external_world'), amount: leaves }];
    if (w.service_fee > 0n) credits.push({ accountId: await ledger.systemAccountId(q, asset.code, 'house_fees'), amount: w.service_fee });
    const others: Posting[] = [
      { accountId: await ledger.clientAccountId(q, w.client_id, asset.code, walletKind), amount: -leaves },
      { accountId: await ledger.systemAccountId(q, asset.code, 'external_chain'), amount: leaves },
    ];
    const posted = await ledger.postHold(q, {
      holdId: w.hold_id!, owner: holdOwnerOf(w), idempotencyId: `withdrawal:${w.id}`, type: w.service_fee > 0n ? 'fee' : 'withdrawal',
      debit: leaves + w.service_fee, credits, others, actor: 'pipeline',
      cause: { withdrawalId: w.id, txid: w.txid, chain: asset.chain, networkFee: networkFee.toString(), ...(w.service_fee > 0n ? { feeScheduleVersion: 'service-fee-v1' } : {}) },
    });
    await payout.settle(q, w, asset, mined, facts);
    await this.deps.store.set(q, w.id, { network_fee: networkFee, entry_id: posted.entryId });
    await transition(q, w, 'completed', { txid: w.txid, networkFee: networkFee.toString() });
    const feeAsset = payout.feeAsset(asset);
    await appendEvent(q, 'withdrawal.completed', w.client_id, w.id, {
      withdrawalId: w.id, asset: asset.code, amount: this.deps.assets.toDecimal(asset.code, w.amount), txid: w.txid,
      networkFee: this.deps.assets.toDecimal(feeAsset, networkFee), networkFeeAsset: feeAsset, networkFeePaidBy: clientPaysFee ? 'client' : 'house',
      serviceFee: this.deps.assets.toDecimal(asset.code, w.service_fee), usdCents: w.usd_cents.toString(), fxRate: null,
    });
  }

  /**
   * A sweep or refill is final: the client's holdings move from the source tier to the other one;
   * only the network fee leaves the client's entitlement, paid from its own coins (SEG-04). ERC-20
   * gas is the house gas station's (booked by the payout), so such a move touches no entitlement.
   */
  private async completeTierMove(q: Queryable, w: WithdrawalRow, asset: Asset, mined: MinedPayout, facts: unknown): Promise<void> {
    const { ledger } = this.deps;
    const payout = this.payout(w);
    const fee = payout.clientPaysFee(asset) ? mined.networkFee : 0n;
    const from = w.source_tier === 'cold' ? 'client_wallet_cold' : 'client_wallet_hot';
    const to = w.source_tier === 'cold' ? 'client_wallet_hot' : 'client_wallet_cold';
    const holdings: Posting[] = [
      { accountId: await ledger.clientAccountId(q, w.client_id, asset.code, from), amount: -(w.amount + fee) },
      { accountId: await ledger.clientAccountId(q, w.client_id, asset.code, to), amount: w.amount },
    ];
    if (fee > 0n) holdings.push({ accountId: await ledger.systemAccountId(q, asset.code, 'external_chain'), amount: fee });
    const cause = { withdrawalId: w.id, kind: w.kind, txid: w.txid, chain: asset.chain, networkFee: mined.networkFee.toString(), networkFeePaidBy: fee > 0n ? 'client' : 'house' };
    let entryId: number;
    if (fee > 0n) {
      const posted = await ledger.postHold(q, { holdId: w.hold_id!, owner: holdOwnerOf(w), idempotencyId: `withdrawal:${w.id}`, type: 'tier_move', debit: fee,
        credits: [{ accountId: await ledger.systemAccountId(q, asset.code, 'external_world'), amount: fee }], others: holdings, actor: 'rebalancer', cause });
      entryId = posted.entryId;
    } else {
      if (w.hold_id) await ledger.releaseHold(q, w.hold_id, holdOwnerOf(w), 'rebalancer');
      entryId = (await ledger.postEntry(q, { idempotencyId: `withdrawal:${w.id}`, type: 'tier_move', postings: holdings, actor: 'rebalancer', cause })).entryId;
    }
    await payout.settle(q, w, asset, mined, facts);
    await this.deps.store.set(q, w.id, { network_fee: mined.networkFee, entry_id: entryId });
    await transition(q, w, 'completed', { txid: w.txid, networkFee: mined.networkFee.toString(), kind: w.kind });
    const feeAsset = payout.feeAsset(asset);
    // The exchange sees the client's entitlement fall by the fee: the event says it was a tier move, not a payout.
    await appendEvent(q, 'withdrawal.completed', w.client_id, w.id, {
      withdrawalId: w.id, kind: w.kind, asset: asset.code, amount: this.deps.assets.toDecimal(asset.code, w.amount), txid: w.txid,
      networkFee: this.deps.assets.toDecimal(feeAsset, mined.networkFee), networkFeeAsset: feeAsset, networkFeePaidBy: fee > 0n ? 'client' : 'house',
    });
  }

  /** A mined transaction that reverted (ERC-20): the asset did not move, the gas did. */
  async finishFailedOnChain(q: Queryable, w: WithdrawalRow, asset: Asset, mined: MinedPayout, facts: unknown): Promise<void> {
    await this.payout(w).settleReverted(q, w, asset, mined, facts);
    if (w.hold_id) await this.deps.ledger.releaseHold(q, w.hold_id, holdOwnerOf(w), 'pipeline');
    await transition(q, w, 'failed', { code: 'REVERTED_ON_CHAIN' });
    await appendEvent(q, 'withdrawal.failed', w.client_id, w.id, { withdrawalId: w.id, code: 'REVERTED_ON_CHAIN', txid: w.txid });
  }
}
