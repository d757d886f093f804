// A reconciliation run as its own process, for the crash test: it runs one report date and is killed
// (SIGKILL, by itself right after the state named by RECON_KILL_AFTER is committed, or by the test at
// any moment). Env: RECON_DB_URL (app role), RECON_BTC_RPC_URL, RECON_BTC_API_KEY, RECON_SIGNER_SOCKET,
// RECON_DATE, RECON_KILL_AFTER (optional state), RECON_LEASE_SECONDS.
import { createPool } from '../../src/platform/db.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { AssetRegistry } from '../../src/assets/asset-registry.ts';
import { LedgerService } from '../../src/ledger/ledger-service.ts';
import { BitcoinRpcClient } from '../../src/chains/bitcoin/rpc-client.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { ReportService } from '../../src/reports/index.ts';
import { createIncidentService } from '../../src/incidents/index.ts';
import { loadStaticPrices } from '../../src/pricing/index.ts';
import { BitcoinChainReader, ReconciliationService } from '../../src/reconciliation/index.ts';

const env = (k: string) => { const v = process.env[k]; if (!v) throw new Error(`${k} is required`); return v; };
const pool = createPool(env('RECON_DB_URL'), 4);
const config = loadConfig({ AMANAT_ENV: 'test', RECON_LEASE_SECONDS: env('RECON_LEASE_SECONDS') });
const assets = new AssetRegistry(pool);
await assets.load();
const rpc = new BitcoinRpcClient({ url: env('RECON_BTC_RPC_URL'), password: env('RECON_BTC_API_KEY') });
const killAfter = process.env.RECON_KILL_AFTER;
const service = new ReconciliationService({
  pool, ledger: new LedgerService(pool, assets), assets, incidents: createIncidentService(config),
  reports: new ReportService(pool, new SignerClient(env('RECON_SIGNER_SOCKET'))),
  bitcoin: new BitcoinChainReader(rpc, { restUrl: env('RECON_BTC_RPC_URL'), apiKey: env('RECON_BTC_API_KEY') }),
  prices: loadStaticPrices('policies/prices.json'), config: config.reconciliation, log: createLogger('silent'),
  afterStep: async (state) => {
    process.stdout.write(`state ${state}\n`);
    if (state === killAfter) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('worker ready\n');
const run = await service.run({ reportDate: env('RECON_DATE'), trigger: 'cli' });
process.stdout.write(`finished ${run.state}\n`);
await pool.end();
