// The compliance steps of a withdrawal, before anything is built: destination screening (WDR-04),
// the withdrawal policy and the source tier (WDR-06, HOT-01), and the Travel Rule (TR-*, WDR-05).
// Each records its result inside the pipeline's record transaction; the screening provider is
// called by the pipeline before that transaction opens.
import type pg from 'pg';
import type { Logger } from '../platform/logger.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { CaseService } from '../cases/index.ts';
import { screeningHash, type ScreeningRecord } from '../screening/index.ts';
import { transition, type WithdrawalRow, type WithdrawalStore } from './withdrawal-store.ts';
import type { Compliance } from './compliance.ts';
import type { ApproverRegistry } from './approvers.ts';
import type { Payout } from './payout/payout.ts';
import type { WithdrawalOutcomes } from './withdrawal-outcomes.ts';
import { affiliatePayoutGate } from '../incidents/affiliate-register.ts';

/**
 * The stored screening must be the one the intent carries: its record hashes to screening_hash
 * and (once there is an intent) the intent's screeningHash is that hash. A record changed after
 * the approvers saw it never reaches the signer.
 */
export function screeningProblem(w: WithdrawalRow, withIntent: boolean): { code: string; detail: string } | undefined {
  if (!w.screening || !w.screening_hash) return { code: 'SCREENING_MISSING', detail: 'the destination was never screened: nothing is signed unscreened' };
  if (screeningHash(w.screening) !== w.screening_hash) return { code: 'SCREENING_MISMATCH', detail: 'the stored screening result does not hash to the stored screening hash' };
  if (withIntent && (w.intent as { screeningHash?: string } | null)?.screeningHash !== w.screening_hash) {
    return { code: 'SCREENING_MISMATCH', detail: 'the intent does not carry the stored screening hash' };
  }
  return undefined;
}

export class ComplianceSteps {
  constructor(private readonly deps: {
    assets: AssetRegistry; ledger: LedgerService; cases: CaseService; compliance: Compliance; approvers: ApproverRegistry; store: WithdrawalStore;
    payouts: Record<'bitcoin' | 'ethereum', Payout>; outcomes: WithdrawalOutcomes; vaspTravelRule: 'hold' | 'development-auto-ack'; log: Logger;
  }) {}

  private asset(w: WithdrawalRow): Asset {
    return this.deps.assets.get(w.asset);
  }

  /**
   * WDR-04, before the policy (a policy denial releases the hold, which a sanctions hit must never
   * do): the destination is classified, scored and matched against sanctions and privacy-device
   * lists (a provider call, with no transaction open); the record and its hash are stored (the hash
   * goes into the intent). A sanctions hit freezes the funds and the client and opens a case;
   * privacy-device exposure is refused with PRIVACY_DEVICE and a case; a high risk score opens a
   * case and makes treasury approvals mandatory (policyStep). The destination type the Travel Rule
   * goes by is the stricter of the request and the VASP directory.
   */
  async screening(q: pg.PoolClient, w: WithdrawalRow, { record, hash }: { record: ScreeningRecord; hash: string }): Promise<void> {
    await this.deps.store.set(q, w.id, { screening: record as unknown as Record<string, unknown>, screening_hash: hash, destination_type: record.destinationType });
    const r = record.result;
    const details = { screeningHash: hash, screening: record };
    const actor = 'pipeline:screening';
    switch (record.outcome) {
      case 'sanctioned': {
        const hold = w.hold_id ? await this.deps.ledger.getHold(q, w.hold_id) : undefined;
        const opened = await this.deps.cases.open(q, { kind: 'sanctions_hit', clientId: w.client_id, withdrawalId: w.id, actor,
          details: { ...details, holdId: w.hold_id, holdStateAtHit: hold?.state ?? 'missing' },
          summary: `sanctions match on the destination ${r.address} (${r.sanctionsList ?? 'list'}): transfer blocked, funds and client frozen` });
        await this.deps.cases.freezeClient(q, w.client_id, { reasonCode: 'COMPLIANCE', caseId: opened.id, actor });
        return this.deps.outcomes.finishFrozen(q, w, opened.id, `sanctions match: ${r.sanctionsList ?? 'list'} (${r.listVersion}); case ${opened.id}`);
      }
      case 'privacy_device': {
        const opened = await this.deps.cases.open(q, { kind: 'privacy_device', clientId: w.client_id, withdrawalId: w.id, actor, details,
          summary: `destination ${r.address} is exposed to a privacy device (${r.tags.join(', ') || 'tagged'}): transfer refused` });
        this.deps.log.info({ withdrawalId: w.id, caseId: opened.id }, 'privacy-device destination refused');
        return this.deps.outcomes.finishUnsent(q, w, 'rejected', 'PRIVACY_DEVICE', 'the destination is exposed to a mixer or another privacy device; transfers to them are not supported');
      }
      case 'high_risk': {
        const opened = await this.deps.cases.open(q, { kind: 'high_risk_destination', clientId: w.client_id, withdrawalId: w.id, actor, details,
          summary: `destination ${r.address} risk score ${r.riskScore} (threshold ${record.highRiskScore}): treasury approvals required` });
        return transition(q, w, 'policy', { screeningHash: hash, outcome: record.outcome, riskScore: r.riskScore, caseId: opened.id, destinationType: record.destinationType });
      }
      case 'clear':
        return transition(q, w, 'policy', { screeningHash: hash, outcome: record.outcome, riskScore: r.riskScore, destinationType: record.destinationType });
    }
  }


  async policy(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const asset = this.asset(w);
    // Where the coins come from: the client's hot wallet when it covers amount and fee net of what
    // is already on its way out of it, else cold (WDR-06). The hot wallet's holdings drop only when
    // a withdrawal completes, so the withdrawals in flight from it are reserved against it here,
    // one decision at a time per wallet (two could otherwise both take the same coins or wei).
    await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7262))', [`hot-wallet/${w.client_id}/${asset.chain}`]);
    const balances = await this.deps.ledger.clientBalances(q, w.client_id);
    const hotHoldings = balances.find((b) => b.asset === asset.code)!.holdings.hot;
    const inFlight = await this.deps.store.inFlightFromHot(q, w);
    const needed = w.amount + (this.deps.payouts[w.chain].clientPaysFee(asset) ? w.network_fee_max : 0n);
    const tier: 'hot' | 'cold' = hotHoldings - inFlight >= needed ? 'hot' : 'cold';
    const decision = await this.deps.compliance.evaluatePolicy(q, w, asset, tier);
    // WDR-06 cold, and WDR-04 a high-risk destination from either tier: at least the approver quorum.
    const highRisk = (w.screening as ScreeningRecord | null)?.outcome === 'high_risk';
    // WDR-09: while a breach incident is open, a payout to an affiliate or related person is blocked
    // unless an AFSA consent is registered for it; then it needs two treasury approvals.
    const affiliate = decision.outcome === 'deny' ? undefined : await affiliatePayoutGate(q, w);
    const blocked = affiliate?.outcome === 'blocked';
    const approvals = Math.max(tier === 'cold' || highRisk ? Math.max(decision.approvals, this.deps.approvers.quorum) : decision.approvals,
      affiliate?.outcome === 'consented' ? affiliate.approvals : 0);
    await this.deps.store.set(q, w.id, { policy: decision as unknown as Record<string, unknown>, policy_hash: decision.policyHash, source_tier: tier,
      approvals_required: decision.outcome === 'deny' || blocked ? 0 : approvals });
    if (decision.outcome === 'deny') {
      return this.deps.outcomes.finishUnsent(q, w, 'rejected', 'POLICY_DENIED', `denied by ${decision.matchedRules.join(', ')}: ${decision.reasons.join(', ')}`);
    }
    if (affiliate?.outcome === 'blocked') return this.deps.outcomes.finishUnsent(q, w, 'rejected', affiliate.code, affiliate.detail);
    await transition(q, w, 'travel_rule', { outcome: decision.outcome, approvals, tier, ...(affiliate && affiliate.outcome !== 'not_affiliate' ? { affiliatePayout: affiliate } : {}) });
  }

  async travelRule(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    if (w.travel_rule_tier !== null) {
      // Evaluated before: the sealed data set is stored (it replaced the request it was built from),
      // and what is left is the beneficiary VASP's answer. Waiting is not evaluating again.
      const status = w.travel_rule_status === 'pending' && this.deps.vaspTravelRule === 'development-auto-ack' ? 'acked' : w.travel_rule_status;
      if (status === 'pending' || status === 'sent') return this.deps.store.waitFor(q, w.id, 60);
      if (status !== w.travel_rule_status) await this.deps.store.set(q, w.id, { travel_rule_status: status });
      return transition(q, w, 'approvals', { travelRule: status, tier: w.travel_rule_tier });
    }
    const result = await this.deps.compliance.travelRule(q, w, this.asset(w));
    if (!result.ok) return this.deps.outcomes.finishUnsent(q, w, 'rejected', result.code, result.detail);
    let status = result.status;
    if (status === 'pending' && this.deps.vaspTravelRule === 'development-auto-ack') status = 'acked';
    await this.deps.store.set(q, w.id, { travel_rule_status: status, travel_rule_tier: result.tier, travel_rule_payload: result.payload });
    if (status === 'pending') {
      // WDR-05: nothing is signed before the beneficiary VASP has the data; the VASP exchange picks it up from here.
      await this.deps.store.waitFor(q, w.id, 60);
      return;
    }
    await transition(q, w, 'approvals', { travelRule: status, tier: result.tier });
  }

}
