// The compliance checks a withdrawal passes before anything is built: the withdrawal policy
// (src/policy, a pure engine), USD values (src/pricing), and the Travel Rule data set with
// ownership proofs for self-hosted wallets (src/travel-rule). This file gathers their inputs from
// the database; the rules themselves live in those modules.
import type { Queryable } from '../platform/tx.ts';
import type { Asset } from '../assets/asset-registry.ts';
import { evaluate, type LoadedPolicy, type PolicyDecision } from '../policy/index.ts';
import type { StaticPriceSource } from '../pricing/index.ts';
import type { WithdrawalRow } from './withdrawal-store.ts';
import type { TravelRule, TravelRuleRefusal, TravelRuleResult } from './travel-rule-step.ts';

export type { TravelRuleRefusal, TravelRuleResult } from './travel-rule-step.ts';

export class Compliance {
  constructor(private readonly deps: { policy: LoadedPolicy; prices: StaticPriceSource; travelRule: TravelRule }) {}

  get policyHash(): string { return this.deps.policy.contentHash; }

  usdCents(asset: Asset, amount: bigint): { usdCents: bigint; version: string } {
    return { usdCents: this.deps.prices.usdCents(asset.code, amount, asset.decimals), version: this.deps.prices.version };
  }

  /** Seals what the client said about the beneficiary (encrypted at rest) for the Travel Rule step. */
  sealBeneficiary(input: { beneficiary: Record<string, unknown>; ownershipProof: { message: string; signature: string } | null; quoteId: string }): Record<string, unknown> {
    return this.deps.travelRule.sealRequest(input.quoteId, { beneficiary: input.beneficiary, ownershipProof: input.ownershipProof });
  }

  async evaluatePolicy(q: Queryable, w: WithdrawalRow, asset: Asset, sourceTier: 'hot' | 'cold'): Promise<PolicyDecision> {
    const { rows: client } = await q.query<{ classification: 'retail' | 'professional' | 'market_counterparty'; kz_resident: boolean }>(
      'select classification, kz_resident from clients where id = $1', [w.client_id]);
    const { rows: velocity } = await q.query<{ total: bigint | null }>(
      `select sum(usd_cents) as total from withdrawals where client_id = $1 and created_at > now() - interval '24 hours'
         and state not in ('rejected', 'failed', 'cancelled') and id <> $2`, [w.client_id, w.id]);
    const { rows: book } = await q.query<{ added_at: Date }>(
      'select added_at from address_book where client_id = $1 and chain = $2 and address = $3', [w.client_id, w.chain, w.destination]);
    return evaluate(this.deps.policy, {
      asset: asset.code, assetDecimals: asset.decimals, assetState: asset.state, amount: w.amount, usdCents: w.usd_cents,
      velocity24hUsdCents: (velocity[0]!.total ?? 0n) + w.usd_cents,
      client: { id: w.client_id, classification: client[0]!.classification, kzResident: client[0]!.kz_resident },
      destination: { address: w.destination, type: w.destination_type, addressBook: book[0] ? { present: true, addedAt: book[0].added_at.toISOString() } : { present: false } },
      sourceTier, now: new Date().toISOString(),
    });
  }

  travelRule(q: Queryable, w: WithdrawalRow, asset: Asset): Promise<TravelRuleResult | TravelRuleRefusal> {
    return this.deps.travelRule.evaluate(q, w, asset);
  }
}
