// The hot/cold ratio engine (HOT-01): the hot share of client assets, per client and asset and for
// the pools (all retail clients, all clients, and both at USD value), read from the ledger's
// wallet-holdings book with the moves in flight counted (withdrawals past their policy, sweeps and
// refills). Exact integer arithmetic only: a pool breaches the cap iff hot × 10,000 > cap_bp × total,
// so 30.00 % is within a 30 % cap and 30.01 % is a breach. Snapshots are kept for the auditor, and a
// breach of a hard limit opens a regulatory incident (HOT-06).
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { PriceSource } from '../pricing/index.ts';
import { usdCents } from '../pricing/index.ts';
import type { IncidentService } from '../incidents/index.ts';
import type { Logger } from '../platform/logger.ts';
import type { RatioConfig, RatioConfigStore } from './ratio-config.ts';

/** Basis points in one whole. */
export const BP = 10_000n;

/** Whether `hot` out of `total` is above `capBp` basis points: hot × 10,000 > cap × total, in integers. */
export function exceedsBp(hot: bigint, total: bigint, capBp: number): boolean {
  if (hot < 0n || total < 0n) throw new RangeError('holdings are never negative');
  return hot * BP > BigInt(capBp) * total;
}

/** The share in basis points, rounded down (for display and history); null when there is nothing. */
export function shareBp(hot: bigint, total: bigint): number | null {
  if (total <= 0n) return null;
  return Number((hot * BP) / total);
}

/** What the moves in flight will still take out of, or bring into, each tier. */
export interface InFlight { outOfHot: bigint; outOfCold: bigint; sweepsToCold: bigint; refillsToHot: bigint }

export const NO_FLIGHT: InFlight = Object.freeze({ outOfHot: 0n, outOfCold: 0n, sweepsToCold: 0n, refillsToHot: 0n });

export interface TierView {
  /** The holdings book now. */
  hot: bigint; cold: bigint;
  inFlight: InFlight;
  /** Once the moves in flight are done: what the planner plans on (so it never sweeps twice). */
  projectedHot: bigint; projectedCold: bigint;
  shareBp: number | null; projectedShareBp: number | null;
}

export function tierView(hot: bigint, cold: bigint, inFlight: InFlight = NO_FLIGHT): TierView {
  const clamp = (v: bigint) => (v < 0n ? 0n : v);
  const projectedHot = clamp(hot - inFlight.outOfHot + inFlight.refillsToHot);
  const projectedCold = clamp(cold - inFlight.outOfCold + inFlight.sweepsToCold);
  return { hot, cold, inFlight, projectedHot, projectedCold, shareBp: shareBp(hot, hot + cold), projectedShareBp: shareBp(projectedHot, projectedHot + projectedCold) };
}

export interface PoolView extends TierView {
  capBp: number; alertBp: number; targetBp: number;
  /** A hard limit opens an incident when breached; a monitored one is reported only (HOT-01). */
  hard: boolean;
  /** The holdings book above the cap (what is on the chains now). */
  breach: boolean;
  /** Above the alert level once the moves in flight are done: the rebalancer sweeps. */
  alert: boolean;
}

export interface AssetRatio { asset: string; config: RatioConfig; retail: PoolView; allClients: PoolView }

export interface UsdRatio { retail: PoolView; allClients: PoolView; priceVersion: string; priceSource: string }

export interface RatioSnapshot {
  takenAt: Date;
  assets: AssetRatio[];
  /** USD fair value across assets (HOT-01 b); null when a price is missing or stale (then the reason). */
  usd: UsdRatio | null;
  usdUnavailable?: string;
  /** The hard limits breached now. */
  breaches: { asset: string; pool: 'retail' | 'all_clients' | 'retail_usd' | 'all_clients_usd'; shareBp: number | null; capBp: number }[];
}

/** Per client and asset: the holdings book and the moves in flight. */
export interface ClientHoldings { clientId: string; classification: string; asset: string; hot: bigint; cold: bigint; inFlight: InFlight }

export interface RatioLimits {
  /** HOT-01 (c): all clients' pool, a monitored limit unless switched to hard. */
  allClientsHard: boolean;
}

const IN_FLIGHT_STATES = ['requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming'];

function pool(view: TierView, config: RatioConfig, hard: boolean): PoolView {
  const total = view.hot + view.cold;
  const projectedTotal = view.projectedHot + view.projectedCold;
  return { ...view, capBp: config.capBp, alertBp: config.alertBp, targetBp: config.targetBp, hard,
    breach: exceedsBp(view.hot, total, config.capBp), alert: exceedsBp(view.projectedHot, projectedTotal, config.alertBp) };
}

function addFlight(a: InFlight, b: InFlight): InFlight {
  return { outOfHot: a.outOfHot + b.outOfHot, outOfCold: a.outOfCold + b.outOfCold, sweepsToCold: a.sweepsToCold + b.sweepsToCold, refillsToHot: a.refillsToHot + b.refillsToHot };
}

export class RatioEngine {
  constructor(private readonly deps: {
    assets: AssetRegistry; configs: RatioConfigStore; prices?: PriceSource; incidents?: IncidentService; limits: RatioLimits; log: Logger;
  }) {}

  /**
   * Every client's holdings per asset with its moves in flight, in client order. A withdrawal counts
   * once its source tier is fixed (the policy step), with its maximum fee when the client pays it in
   * this asset; a sweep or refill counts from its creation.
   */
  async clientHoldings(q: Queryable, filter: { clientIds?: string[]; asset?: string } = {}): Promise<ClientHoldings[]> {
    const { rows } = await q.query<{ client_id: string; classification: string; asset: string; hot: bigint | null; cold: bigint | null }>(
      `select a.client_id, c.classification, a.asset,
              sum(case when a.kind = 'client_wallet_hot' then a.balance end) as hot, sum(case when a.kind = 'client_wallet_cold' then a.balance end) as cold
       from accounts a join clients c on c.id = a.client_id
       where a.kind in ('client_wallet_hot', 'client_wallet_cold') and ($1::uuid[] is null or a.client_id = any($1)) and ($2::text is null or a.asset = $2)
       group by a.client_id, c.classification, a.asset order by a.client_id, a.asset`, [filter.clientIds ?? null, filter.asset ?? null]);
    const { rows: flights } = await q.query<{ client_id: string; asset: string; kind: string; source_tier: 'hot' | 'cold'; leaving: bigint; amount: bigint }>(
      `select client_id, asset, kind, source_tier,
              sum(amount + case when chain = 'bitcoin' or asset = 'ETH' then network_fee_max else 0 end) as leaving, sum(amount) as amount
       from withdrawals where state = any($1) and source_tier is not null
         and ($2::uuid[] is null or client_id = any($2)) and ($3::text is null or asset = $3)
       group by client_id, asset, kind, source_tier`, [IN_FLIGHT_STATES, filter.clientIds ?? null, filter.asset ?? null]);
    const flightOf = new Map<string, InFlight>();
    for (const f of flights) {
      const key = `${f.client_id}/${f.asset}`;
      const current = flightOf.get(key) ?? { ...NO_FLIGHT };
      const add: InFlight = { ...NO_FLIGHT };
      if (f.source_tier === 'hot') add.outOfHot = f.leaving; else add.outOfCold = f.leaving;
      if (f.kind === 'sweep') add.sweepsToCold = f.amount;
      if (f.kind === 'refill') add.refillsToHot = f.amount;
      flightOf.set(key, addFlight(current, add));
    }
    return rows.map((r) => ({ clientId: r.client_id, classification: r.classification, asset: r.asset, hot: r.hot ?? 0n, cold: r.cold ?? 0n,
      inFlight: flightOf.get(`${r.client_id}/${r.asset}`) ?? NO_FLIGHT }));
  }

  /** The ratios now (reads only). */
  async compute(q: Queryable): Promise<RatioSnapshot> {
    const holdings = await this.clientHoldings(q);
    const assets: AssetRatio[] = [];
    const breaches: RatioSnapshot['breaches'] = [];
    for (const asset of this.deps.assets.list()) {
      const config = await this.deps.configs.active(q, asset.code);
      const sum = (rows: ClientHoldings[]) => rows.reduce((acc, r) => ({ hot: acc.hot + r.hot, cold: acc.cold + r.cold, f: addFlight(acc.f, r.inFlight) }),
        { hot: 0n, cold: 0n, f: { ...NO_FLIGHT } });
      const of = holdings.filter((r) => r.asset === asset.code);
      const retail = sum(of.filter((r) => r.classification === 'retail'));
      const all = sum(of);
      const ratio: AssetRatio = {
        asset: asset.code, config,
        retail: pool(tierView(retail.hot, retail.cold, retail.f), config, true),
        allClients: pool(tierView(all.hot, all.cold, all.f), config, this.deps.limits.allClientsHard),
      };
      if (ratio.retail.breach) breaches.push({ asset: asset.code, pool: 'retail', shareBp: ratio.retail.shareBp, capBp: config.capBp });
      if (ratio.allClients.breach && ratio.allClients.hard) breaches.push({ asset: asset.code, pool: 'all_clients', shareBp: ratio.allClients.shareBp, capBp: config.capBp });
      assets.push(ratio);
    }
    const snapshot: RatioSnapshot = { takenAt: new Date(), assets, usd: null, breaches };
    try {
      snapshot.usd = this.usdView(assets);
    } catch (error) {
      snapshot.usdUnavailable = error instanceof Error ? error.message : String(error);
    }
    if (snapshot.usd?.retail.breach) breaches.push({ asset: 'USD', pool: 'retail_usd', shareBp: snapshot.usd.retail.shareBp, capBp: snapshot.usd.retail.capBp });
    if (snapshot.usd?.allClients.breach && snapshot.usd.allClients.hard) {
      breaches.push({ asset: 'USD', pool: 'all_clients_usd', shareBp: snapshot.usd.allClients.shareBp, capBp: snapshot.usd.allClients.capBp });
    }
    return snapshot;
  }

  /** HOT-01 (b): both pools at USD fair value, in cents (rounded up per tier, as every USD value here). The cap is the rule's 30 %. */
  private usdView(assets: AssetRatio[]): UsdRatio | null {
    const prices = this.deps.prices;
    if (!prices) throw new Error('no price source');
    const cents = (code: string, v: bigint) => usdCents(prices, code, v, this.deps.assets.get(code).decimals);
    const value = (pick: (a: AssetRatio) => PoolView): TierView => {
      let hot = 0n; let cold = 0n; const f = { ...NO_FLIGHT };
      for (const a of assets) {
        const p = pick(a);
        hot += cents(a.asset, p.hot); cold += cents(a.asset, p.cold);
        f.outOfHot += cents(a.asset, p.inFlight.outOfHot); f.outOfCold += cents(a.asset, p.inFlight.outOfCold);
        f.sweepsToCold += cents(a.asset, p.inFlight.sweepsToCold); f.refillsToHot += cents(a.asset, p.inFlight.refillsToHot);
      }
      return tierView(hot, cold, f);
    };
    const usdConfig: RatioConfig = { asset: 'USD', targetBp: Math.min(...assets.map((a) => a.config.targetBp)), alertBp: Math.min(...assets.map((a) => a.config.alertBp)),
      capBp: Math.min(...assets.map((a) => a.config.capBp)), minHotFloor: 0n, version: null };
    return { retail: pool(value((a) => a.retail), usdConfig, true), allClients: pool(value((a) => a.allClients), usdConfig, this.deps.limits.allClientsHard),
      priceVersion: prices.version, priceSource: prices.source };
  }

  /**
   * HOT-01 / HOT-06: computes the ratios, keeps them in the history (hot_ratio_snapshots) and opens
   * one incident per breached hard limit (idempotent while it is open), in the caller's transaction.
   */
  async snapshot(q: Queryable): Promise<RatioSnapshot> {
    const snapshot = await this.compute(q);
    const rows: { asset: string; pool: string; view: PoolView; version: number | null }[] = [];
    for (const a of snapshot.assets) {
      rows.push({ asset: a.asset, pool: 'retail', view: a.retail, version: a.config.version }, { asset: a.asset, pool: 'all_clients', view: a.allClients, version: a.config.version });
    }
    if (snapshot.usd) rows.push({ asset: 'USD', pool: 'retail_usd', view: snapshot.usd.retail, version: null }, { asset: 'USD', pool: 'all_clients_usd', view: snapshot.usd.allClients, version: null });
    for (const r of rows) {
      const f = r.view.inFlight;
      await q.query(
        `insert into hot_ratio_snapshots (taken_at, asset, pool, hot, cold, in_flight, share_bp, cap_bp, alert_bp, hard, breach, config_version)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [snapshot.takenAt, r.asset, r.pool, r.view.hot.toString(), r.view.cold.toString(),
          { outOfHot: f.outOfHot.toString(), outOfCold: f.outOfCold.toString(), sweepsToCold: f.sweepsToCold.toString(), refillsToHot: f.refillsToHot.toString(),
            projectedHot: r.view.projectedHot.toString(), projectedCold: r.view.projectedCold.toString(), projectedShareBp: r.view.projectedShareBp,
            ...(r.asset === 'USD' && snapshot.usd ? { unit: 'usd_cents', priceVersion: snapshot.usd.priceVersion } : {}) },
          r.view.shareBp, r.view.capBp, r.view.alertBp, r.view.hard, r.view.breach, r.version]);
    }
    for (const b of snapshot.breaches) {
      const pct = b.shareBp === null ? '-' : `${Math.floor(b.shareBp / 100)}.${String(b.shareBp % 100).padStart(2, '0')} %`;
      this.deps.log.error({ breach: b }, 'ALARM: hot wallet cap breached');
      if (!this.deps.incidents) continue;
      // HOT-06: one open incident per asset (and one for the USD pool) until it is closed; the notification clock runs from now.
      await this.deps.incidents.open(q, { type: 'hot_cap_breach', dedupeKey: b.asset, awareAt: snapshot.takenAt,
        summary: `hot wallets hold ${pct} of ${b.pool.replace('_', ' ')} ${b.asset}, above the ${b.capBp / 100} % cap (DAA 2.13.9)`,
        detail: { asset: b.asset, pool: b.pool, shareBp: b.shareBp, capBp: b.capBp, takenAt: snapshot.takenAt.toISOString() } });
    }
    return snapshot;
  }

  /** The stored history between two instants, oldest first (at most `limit` rows). */
  async history(q: Queryable, filter: { from?: Date; to?: Date; asset?: string; limit: number }): Promise<Record<string, unknown>[]> {
    const { rows } = await q.query<{ id: number; taken_at: Date; asset: string; pool: string; hot: bigint; cold: bigint; in_flight: Record<string, unknown>;
      share_bp: number | null; cap_bp: number; alert_bp: number; hard: boolean; breach: boolean; config_version: number | null }>(
      `select * from hot_ratio_snapshots where ($1::timestamptz is null or taken_at >= $1) and ($2::timestamptz is null or taken_at <= $2)
         and ($3::text is null or asset = $3) order by taken_at, id limit $4`,
      [filter.from ?? null, filter.to ?? null, filter.asset ?? null, filter.limit]);
    return rows.map((r) => ({ id: r.id, takenAt: r.taken_at.toISOString(), asset: r.asset, pool: r.pool,
      hot: r.asset === 'USD' ? r.hot.toString() : this.deps.assets.toDecimal(r.asset, r.hot),
      cold: r.asset === 'USD' ? r.cold.toString() : this.deps.assets.toDecimal(r.asset, r.cold),
      unit: r.asset === 'USD' ? 'usd_cents' : r.asset, inFlight: r.in_flight, shareBp: r.share_bp, capBp: r.cap_bp, alertBp: r.alert_bp, hard: r.hard, breach: r.breach,
      configVersion: r.config_version }));
  }
}
