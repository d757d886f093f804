// Hot/cold rebalancing (HOT-01..HOT-06): the ratio engine, the versioned ratio configuration, the
// rebalancer and the tier report. Other contexts import from here.
import type pg from 'pg';
import path from 'node:path';
import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { DomainError } from '../platform/errors.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { WalletService } from '../wallets/wallet-service.ts';
import type { WithdrawalService } from '../withdrawals/withdrawal-service.ts';
import type { IncidentService } from '../incidents/index.ts';
import { loadStaticPrices, type PriceSource } from '../pricing/index.ts';
import { RatioEngine } from './ratio-engine.ts';
import { RatioConfigStore } from './ratio-config.ts';
import { Rebalancer } from './rebalancer.ts';

export { RatioEngine, exceedsBp, shareBp, tierView, type RatioSnapshot, type PoolView, type AssetRatio, type InFlight } from './ratio-engine.ts';
export { RatioConfigStore, HARD_CAP_BP, validateRatioConfig, type RatioConfig, type RatioConfigVersion } from './ratio-config.ts';
export { Rebalancer, assertSameClient, MAX_MOVES_PER_RUN, type Plan, type PlannedMove } from './rebalancer.ts';
export { tierReport, TIER_REASONS } from './tier-report.ts';
export { rebalancingRoutes } from './rebalancing-routes.ts';

export interface RebalancingModule { ratio: RatioEngine; configs: RatioConfigStore; rebalancer: Rebalancer }

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** REBALANCE_MIN_MOVE ("BTC=0.0001,ETH=0.001") in base units, through the asset codec. */
export function minMoves(assets: AssetRegistry, spec: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const pair of spec.split(',').filter(Boolean)) {
    const [code, amount] = pair.split('=') as [string, string];
    try {
      out[assets.get(code).code] = assets.fromDecimal(code, amount);
    } catch (error) {
      throw new DomainError('CONFIG_INVALID', `REBALANCE_MIN_MOVE: ${pair}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return out;
}

export function createRebalancing(deps: {
  config: Config; pool: pg.Pool; assets: AssetRegistry; withdrawals: WithdrawalService; wallets?: WalletService; incidents?: IncidentService; log: Logger;
  prices?: PriceSource;
}): RebalancingModule {
  const { config } = deps;
  const r = config.rebalancing;
  const configs = new RatioConfigStore({ assets: deps.assets, defaults: { targetBp: r.targetBp, alertBp: r.alertBp, capBp: r.capBp } });
  const prices = deps.prices ?? loadStaticPrices(path.resolve(repoRoot, config.withdrawals.pricesFile),
    config.withdrawals.priceMaxAgeSeconds > 0 ? { maxAgeSeconds: config.withdrawals.priceMaxAgeSeconds } : {});
  const ratio = new RatioEngine({ assets: deps.assets, configs, prices, incidents: deps.incidents, limits: { allClientsHard: r.allClientsHard }, log: deps.log });
  const rebalancer = new Rebalancer({ pool: deps.pool, assets: deps.assets, ratio, configs, withdrawals: deps.withdrawals, wallets: deps.wallets,
    settings: { minMove: minMoves(deps.assets, r.minMove) }, log: deps.log,
    // SEG-04: BTC and ETH moves pay their fee from the client's own coins; ERC-20 gas is the house gas station's.
    networkFeeMax: (asset) => (asset.chain === 'bitcoin' ? r.btcFeeMaxSat : asset.contractAddress ? 0n : r.ethFeeMaxWei) });
  return { ratio, configs, rebalancer };
}
