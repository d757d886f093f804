// Wires the withdrawal context from config: policy, prices, approvers, Travel Rule keyring,
// service and pipeline. Used by the composition root and by the tests.
import path from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../platform/config.ts';
import { DomainError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { WalletService } from '../wallets/wallet-service.ts';
import type { SignerClient } from '../signer-client/signer-client.ts';
import type { ChainRuntime } from '../deposits/chain-runtime.ts';
import { loadPolicy } from '../policy/index.ts';
import { loadStaticPrices } from '../pricing/index.ts';
import { loadKeyring, type Keyring } from '../travel-rule/index.ts';
import { ApproverRegistry } from './approvers.ts';
import { Compliance } from './compliance.ts';
import { createCaseService, type CaseService } from '../cases/index.ts';
import { createDestinationScreening, type DestinationScreening } from '../screening/index.ts';
import { TravelRule } from './travel-rule-step.ts';
import { WithdrawalService } from './withdrawal-service.ts';
import { WithdrawalPipeline } from './withdrawal-pipeline.ts';
import { WithdrawalStore } from './withdrawal-store.ts';
import { CoinStore } from '../wallets/coin-store.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** The PII keyring (JSON {kid: 64 hex}); in a fresh data dir one key is generated (mode 0600). The newest kid encrypts. */
export function openKeyring(file: string): { keyring: Keyring; activeKid: string } {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify({ [`k${Date.now()}`]: randomBytes(32).toString('hex') }), { mode: 0o600 });
  }
  const keyring = loadKeyring(file);
  const kids = [...keyring.keys()].sort();
  return { keyring, activeKid: kids[kids.length - 1]! };
}

export interface WithdrawalModule {
  service: WithdrawalService; pipeline: WithdrawalPipeline | undefined; travelRule: TravelRule; approvers: ApproverRegistry; cases: CaseService;
  screening: DestinationScreening;
}

export function createWithdrawalModule(deps: {
  config: Config; pool: pg.Pool; assets: AssetRegistry; ledger: LedgerService; clients: ClientService; log: Logger;
  wallets?: WalletService; signer?: SignerClient; chains?: ChainRuntime;
  /** Compliance cases (freezes, screening hits); built from config when not given. */
  cases?: CaseService;
}): WithdrawalModule {
  const { config } = deps;
  const cases = deps.cases ?? createCaseService(config, deps.ledger, deps.clients);
  const screening = createDestinationScreening(config);
  const at = (p: string) => path.resolve(repoRoot, p);
  const policy = loadPolicy(at(config.withdrawals.policyFile));
  // A price older than PRICE_MAX_AGE_SECONDS is never used (PRICE_STALE); 0 means no limit, development only.
  const prices = loadStaticPrices(at(config.withdrawals.pricesFile),
    config.withdrawals.priceMaxAgeSeconds > 0 ? { maxAgeSeconds: config.withdrawals.priceMaxAgeSeconds } : {});
  const approvers = new ApproverRegistry(at(config.withdrawals.approversFile));
  const { keyring, activeKid } = openKeyring(config.withdrawals.piiKeyringFile ?? path.join(config.dataDir, 'secrets', 'pii-keyring.json'));
  const bitcoinNetwork = deps.chains?.bitcoin.network ?? config.chains.bitcoin.network;
  const travelRule = new TravelRule({ keyring, activeKid, bitcoinNetwork, ethereumChainId: deps.chains?.ethereum.chainId ?? config.chains.ethereum.chainId,
    originatingVasp: config.withdrawals.originatingVasp, clients: deps.clients });
  const compliance = new Compliance({ policy, prices, travelRule });
  const coins = new CoinStore();
  const service = new WithdrawalService({ coins,
    assets: deps.assets, ledger: deps.ledger, clients: deps.clients, compliance, approvers, bitcoinNetwork,
    holdTtlSeconds: config.ledger.holdMaxTtlSeconds,
    fees: { btcNetworkFeeMaxSat: config.withdrawals.btcNetworkFeeMaxSat, ethNetworkFeeMaxWei: config.withdrawals.ethNetworkFeeMaxWei, serviceFee: serviceFees(deps.assets, config.withdrawals.serviceFees), quoteTtlSeconds: config.withdrawals.quoteTtlSeconds },
  });
  const pipeline = deps.wallets && deps.signer && deps.chains ? new WithdrawalPipeline({
    pool: deps.pool, assets: deps.assets, ledger: deps.ledger, wallets: deps.wallets, signer: deps.signer, chains: deps.chains, compliance, approvers, cases, screening, log: deps.log,
    store: new WithdrawalStore(), coins,
    settings: {
      confirmations: { bitcoin: config.chains.bitcoin.confirmations, ethereum: config.chains.ethereum.confirmations },
      btcFeeRateFallbackSatPerVbyte: config.withdrawals.btcFeeRateFallbackSatPerVbyte, btcFeeRateCapSatPerVbyte: config.withdrawals.btcFeeRateCapSatPerVbyte,
      ethPriorityFeeWei: 10n ** 9n, ethMaxFeePerGasCapWei: 500n * 10n ** 9n, erc20GasLimit: 100_000n, maxAttempts: 20, retryDelayMs: 500,
      vaspTravelRule: config.withdrawals.vaspTravelRule,
      replaceAfterSeconds: { bitcoin: config.withdrawals.btcReplaceAfterSeconds, ethereum: config.withdrawals.ethReplaceAfterSeconds },
      maxReplacements: config.withdrawals.maxReplacements,
    },
  }) : undefined;
  return { service, pipeline, travelRule, approvers, cases, screening };
}

/** WITHDRAWAL_SERVICE_FEES ("BTC=0.0001,USDT=1") in base units, through the asset codec: an unknown asset or too many decimals stops the start. */
export function serviceFees(assets: AssetRegistry, spec: string): Record<string, bigint> {
  const fees: Record<string, bigint> = {};
  for (const pair of spec.split(',').filter(Boolean)) {
    const [code, amount] = pair.split('=') as [string, string];
    try {
      fees[assets.get(code).code] = assets.fromDecimal(code, amount);
    } catch (error) {
      throw new DomainError('CONFIG_INVALID', `WITHDRAWAL_SERVICE_FEES: ${pair}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return fees;
}
