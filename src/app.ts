// Composition root: stores → services → routes → HTTP app. Nothing else news up a service.
import type pg from 'pg';
import type express from 'express';
import type { Config } from './platform/config.ts';
import type { Logger } from './platform/logger.ts';
import { AssetRegistry } from './assets/asset-registry.ts';
import { LedgerService } from './ledger/ledger-service.ts';
import { ClientService } from './clients/client-service.ts';
import { ApiKeyService } from './auth/api-keys.ts';
import { AuditLog } from './audit/audit-log.ts';
import { createMetrics } from './api/metrics.ts';
import { buildHttpApp } from './api/http-app.ts';
import type { RouteDef } from './api/route.ts';
import { systemRoutes } from './api/system-routes.ts';
import { ledgerRoutes } from './ledger/ledger-routes.ts';
import { clientRoutes } from './clients/client-routes.ts';
import { apiKeyRoutes } from './auth/api-key-routes.ts';
import { assetRoutes } from './assets/asset-routes.ts';
import { auditRoutes } from './audit/audit-routes.ts';
import { walletRoutes } from './wallets/wallet-routes.ts';
import { depositRoutes } from './deposits/deposit-routes.ts';
import { devRoutes } from './deposits/dev-routes.ts';
import type { WalletService } from './wallets/wallet-service.ts';
import type { ChainRuntime } from './deposits/chain-runtime.ts';
import type { SignerClient } from './signer-client/signer-client.ts';
import { createWithdrawalModule, type WithdrawalModule } from './withdrawals/withdrawal-module.ts';
import { withdrawalRoutes } from './withdrawals/withdrawal-routes.ts';
import { treasuryRoutes } from './withdrawals/treasury-routes.ts';
import { createCaseService, type CaseService } from './cases/index.ts';
import { caseRoutes } from './cases/case-routes.ts';
import { consoleRoutes } from './console/console-routes.ts';
import { ProofService, ReportService, StatementService, openProofSecret, reportRoutes } from './reports/index.ts';
import { ReconciliationService, BitcoinChainReader, EthereumChainReader, reconciliationRoutes } from './reconciliation/index.ts';
import { loadStaticPrices } from './pricing/index.ts';
import path from 'node:path';
import { createRebalancing, rebalancingRoutes, type RebalancingModule } from './rebalancing/index.ts';
import { createIncidentService, type IncidentService } from './incidents/index.ts';
import { incidentRoutes } from './incidents/incident-routes.ts';
import { inTransaction } from './platform/tx.ts';

export const VERSION = '0.1.0';

export interface Amanat {
  http: express.Express;
  routes: readonly RouteDef[];
  services: { assets: AssetRegistry; ledger: LedgerService; clients: ClientService; apiKeys: ApiKeyService; audit: AuditLog; withdrawals: WithdrawalModule; reports: ReportService; proofs: ProofService; statements: StatementService; rebalancing: RebalancingModule; incidents: IncidentService; reconciliation: ReconciliationService };
  /** Hold expiry and audit sealing loops. */
  startBackground(): void;
  stopBackground(): Promise<void>;
}

export interface AmanatDeps {
  pool: pg.Pool;
  config: Config;
  log: Logger;
  /** Signer-backed wallets; absent when no signer is configured (deposit addresses then answer 503). */
  wallets?: WalletService;
  /** Chain nodes and deposit scanners; absent with CHAINS_ENABLED=false. */
  chains?: ChainRuntime;
  signer?: SignerClient;
  /** The shared services, when the caller built them first (main: the chain runtime uses them too). */
  core?: CoreServices;
}

/** The services every part of the process shares, one instance each: the chain runtime's scanners get these too. */
export interface CoreServices { assets: AssetRegistry; ledger: LedgerService; clients: ClientService; cases: CaseService; incidents: IncidentService }

export async function createCoreServices(pool: pg.Pool, config: Config): Promise<CoreServices> {
  const assets = new AssetRegistry(pool);
  await assets.load();
  const ledger = new LedgerService(pool, assets);
  const clients = new ClientService(ledger);
  return { assets, ledger, clients, cases: createCaseService(config, ledger, clients), incidents: createIncidentService(config) };
}

export async function createAmanat(deps: AmanatDeps): Promise<Amanat> {
  const { pool, config, log, chains } = deps;
  const { assets, ledger, clients, cases, incidents } = deps.core ?? await createCoreServices(pool, config);
  const apiKeys = new ApiKeyService(pool, config.auth.apiKeyCacheMs);
  const audit = new AuditLog(pool);
  const metrics = createMetrics();
  const withdrawals = createWithdrawalModule({ config, pool, assets, ledger, clients, log, wallets: deps.wallets, signer: deps.signer, chains, cases });
  // Reports (issue 12 §4-§6): the signed report store, proof of reserves, statements of account (CLI-04).
  const reports = new ReportService(pool, deps.signer);
  const proofs = new ProofService({ secret: openProofSecret(`${config.dataDir}/secrets/proof-of-reserves.secret`), reports, ledger, assets });
  const statementPrices = loadStaticPrices(path.resolve(import.meta.dirname, '..', config.withdrawals.pricesFile),
    config.withdrawals.priceMaxAgeSeconds > 0 ? { maxAgeSeconds: config.withdrawals.priceMaxAgeSeconds } : {});
  // REC-01: the daily reconciliation reads the nodes themselves (bcoin's address index on its REST port, Ethereum JSON-RPC batches).
  const reconciliation = new ReconciliationService({
    pool, ledger, assets, incidents, reports, proofs, prices: statementPrices, config: config.reconciliation, log,
    bitcoin: chains ? new BitcoinChainReader(chains.bitcoin.rpc) : undefined,
    ethereum: chains ? new EthereumChainReader(chains.ethereum.rpc) : undefined,
  });
  const statements = new StatementService({ reports, ledger, clients, assets, prices: statementPrices, kyc: (q, clientId) => withdrawals.travelRule.readKyc(q, clientId) });
  const rebalancing = createRebalancing({ config, pool, assets, withdrawals: withdrawals.service, wallets: deps.wallets, incidents, log, prices: statementPrices });

  const routes: RouteDef[] = [];
  routes.push(
    ...systemRoutes({ pool, metrics, allRoutes: () => routes, version: VERSION, signer: deps.signer, chains }),
    ...apiKeyRoutes({ apiKeys }),
    ...assetRoutes({ assets }),
    ...clientRoutes({ clients }),
    ...ledgerRoutes({ ledger, clients, assets, config }),
    ...auditRoutes({ audit, signer: deps.signer, wallets: deps.wallets,
      trail: { ledger, assets, getWithdrawal: (q, id) => withdrawals.service.get(q, id) } }),
    ...walletRoutes({ wallets: deps.wallets, clients, assets, depositTier: config.deposits.tier }),
    ...depositRoutes({ assets }),
    ...withdrawalRoutes({ withdrawals: withdrawals.service, assets, clients, ledger, travelRule: withdrawals.travelRule }),
    ...treasuryRoutes({ withdrawals: withdrawals.service, assets, ledger }),
    ...caseRoutes({ cases, clients }),
    ...reportRoutes({ pool, reports, proofs, statements, ledger, clients, assets }),
    ...reconciliationRoutes({ reconciliation }),
    ...incidentRoutes({ incidents, clients, assets, normalizeDestination: (asset, address) => withdrawals.service.normalizeDestination(asset, address) }),
    ...rebalancingRoutes({ assets, ratio: rebalancing.ratio, configs: rebalancing.configs, rebalancer: rebalancing.rebalancer, withdrawals: withdrawals.service }),
    ...consoleRoutes(),
  );
  if (config.env === 'development' && chains && (chains.bitcoin.dev || chains.ethereum.dev)) {
    routes.push(...devRoutes({ chains, assets, confirmations: { bitcoin: config.chains.bitcoin.confirmations, ethereum: config.chains.ethereum.confirmations } }));
  }
  const http = buildHttpApp({ routes, pool, apiKeys, audit, metrics, log, bodyLimitBytes: config.http.bodyLimitBytes });

  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  const loop = (name: string, everyMs: number, work: () => Promise<unknown>) => {
    let busy = false;
    timers.push(setInterval(() => {
      if (busy) return;
      busy = true;
      const p = work().catch((err: unknown) => log.error({ err, loop: name }, 'background loop failed')).finally(() => { busy = false; running.delete(p); });
      running.add(p);
    }, everyMs));
  };

  return {
    http,
    routes,
    services: { assets, ledger, clients, apiKeys, audit, withdrawals, reports, proofs, statements, rebalancing, incidents, reconciliation },
    startBackground() {
      loop('hold-expiry', config.ledger.expiryIntervalMs, () => ledger.expireHolds(1000));
      loop('audit-seal', config.audit.sealIntervalMs, () => audit.seal(10_000));
      // REG-06: the escalation alarm before an incident's AFSA deadline, and when it has passed.
      loop('incident-escalation', config.incidents.escalationIntervalMs, async () => {
        // REG-07: signer refusals that look like a policy bypass open a security incident (read from
        // the events feed from a cursor kept in the database; at most 20 pages per round).
        for (let page = 0, more = true; more && page < 20; page++) {
          const detected = await inTransaction(pool, (q) => incidents.detectSignerRefusalsFromCursor(q));
          more = detected.more;
          for (const i of detected.opened) log.error({ incidentId: i.id, severity: i.severity, detail: i.detail }, 'incident: signer refused a policy-bypass attempt');
        }
        const raised = await inTransaction(pool, (q) => incidents.escalate(q));
        for (const i of raised.escalated) log.warn({ incidentId: i.id, type: i.type, severity: i.severity, deadlineAt: i.deadlineAt }, 'incident: AFSA notification deadline approaching');
        for (const i of raised.overdue) log.error({ incidentId: i.id, type: i.type, severity: i.severity, latestDeadlineAt: i.latestDeadlineAt }, 'incident: AFSA notification deadline passed');
      });
      for (const scanner of chains?.scanners ?? []) loop(`scan-${scanner.chain}`, config.deposits.scanIntervalMs, () => scanner.tick());
      // REC-01: the daily run at the cut-off (Astana), unfinished runs resumed, missed days turned into incidents.
      if (chains) loop('reconciliation', config.reconciliation.intervalMs, () => reconciliation.tick());
      const pipeline = withdrawals.pipeline;
      if (pipeline) loop('withdrawals', config.withdrawals.workerIntervalMs, () => pipeline.drain(100));
      // HOT-01/HOT-02: ratio snapshot (history, HOT-06 incidents) and the rebalancer's sweeps, on a schedule.
      if (config.rebalancing.enabled) loop('rebalancing', config.rebalancing.intervalMs, () => rebalancing.rebalancer.run());
    },
    async stopBackground() {
      for (const t of timers.splice(0)) clearInterval(t);
      await Promise.allSettled([...running]);
    },
  };
}
