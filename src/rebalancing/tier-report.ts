// HOT-05: which wallets count as hot, and why. The tier is where the wallet's keys live, never a
// label: the signer creates each key in the HSM token of the tier asked for and says which token it
// used, and the wallet service refuses a key from the other token (WalletService.assertTier). The
// cold token's keys sign only with the treasury quorum (M-of-N approvals the signer verifies); the
// hot token signs automatically. Anything that is not cold counts as hot (house wallets included).
import type { Queryable } from '../platform/tx.ts';

export const TIER_REASONS = {
  hot: 'keys in the online HSM token; the service signs with them automatically, with no human quorum: hot for the cap',
  cold: 'keys in the cold HSM token; the signer signs with them only with the treasury quorum of M-of-N approvals over the exact intent',
} as const;

export interface TierReportLine {
  walletId: string; owner: 'client' | 'house'; clientId: string | null; housePurpose: string | null; chain: string; tier: 'hot' | 'cold';
  state: string; keys: number; countsAs: 'hot' | 'cold'; reason: string;
}

export async function tierReport(q: Queryable): Promise<{ rule: string; wallets: TierReportLine[]; totals: Record<string, number> }> {
  const { rows } = await q.query<{ id: string; owner: 'client' | 'house'; client_id: string | null; house_purpose: string | null; chain: string; tier: 'hot' | 'cold';
    state: string; keys: number }>(
    `select w.id, w.owner, w.client_id, w.house_purpose, w.chain, w.tier, w.state, (select count(*)::int from wallet_addresses a where a.wallet_id = w.id) as keys
     from wallets w order by w.owner, w.client_id nulls first, w.chain, w.tier`);
  const wallets = rows.map((r) => ({
    walletId: r.id, owner: r.owner, clientId: r.client_id, housePurpose: r.house_purpose, chain: r.chain, tier: r.tier, state: r.state, keys: r.keys,
    countsAs: r.tier, reason: TIER_REASONS[r.tier],
  }));
  const totals: Record<string, number> = { hot: 0, cold: 0 };
  for (const w of wallets) totals[w.countsAs] = (totals[w.countsAs] ?? 0) + 1;
  return { rule: 'a wallet is cold only if its keys live in the cold HSM token and sign only with the treasury quorum; everything else is hot (docs/rebalancing.md)', wallets, totals };
}
