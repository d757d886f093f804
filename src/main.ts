// `npm start`: the service on its embedded defaults (own Postgres under ./data) or on DATABASE_URL.
import { writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, redactedConfig } from './platform/config.ts';
import { createLogger } from './platform/logger.ts';
import { openDatabase } from './platform/db.ts';
import { inTransaction } from './platform/tx.ts';
import { writeRuntime, removeRuntime } from './platform/runtime-file.ts';
import { createAmanat, VERSION } from './app.ts';
import { isDomainError } from './platform/errors.ts';
import { AssetRegistry } from './assets/asset-registry.ts';
import { LedgerService } from './ledger/ledger-service.ts';
import { SignerClient } from './signer-client/signer-client.ts';
import { WalletService } from './wallets/wallet-service.ts';
import { openChains, type ChainRuntime } from './deposits/chain-runtime.ts';
import { startSignerProcess, type RunningSigner } from '../signer/src/launch.ts';
import { ensureDevTreasury } from './withdrawals/dev-treasury.ts';

async function main(): Promise<void> {
  let config = loadConfig();
  const log = createLogger(config.logLevel);
  log.info({ version: VERSION, config: redactedConfig(config) }, 'starting Amanat');
  mkdirSync(config.dataDir, { recursive: true });

  const db = await openDatabase(config, log);
  const stops: (() => Promise<void>)[] = [() => db.close()];
  const stopAll = async () => { for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined); };
  let signer: RunningSigner | undefined;
  let chains: ChainRuntime | undefined;
  let wallets: WalletService | undefined;
  let signerClient: SignerClient | undefined;
  try {
    if (config.chains.enabled) {
      // The signer is its own process: here it is started as a child for development; in
      // production SIGNER_SOCKET points at the one running next to the HSM.
      let socketPath = config.signer.socketPath;
      if (!socketPath && !config.signer.policyFile && config.env === 'development') {
        // Development: officers with keys under data/treasury, registered in the signer's policy and the API's.
        const treasury = ensureDevTreasury(config.dataDir, path.resolve(import.meta.dirname, '../policies/signer-policy.json'));
        config = Object.freeze({ ...config, signer: { ...config.signer, policyFile: treasury.policyFile },
          withdrawals: { ...config.withdrawals, approversFile: treasury.policyFile } });
        log.info({ officers: treasury.officers }, 'development treasury officers');
      }
      if (!socketPath) {
        signer = await startSignerProcess({ dataDir: path.join(config.dataDir, 'signer'), backend: config.signer.backend, policyFile: config.signer.policyFile,
          onLog: (line) => log.debug({ component: 'signer' }, line) });
        stops.push(() => signer!.stop());
        socketPath = signer.socketPath;
      }
      signerClient = new SignerClient(socketPath);
      await signerClient.health();
      const assets = new AssetRegistry(db.app);
      await assets.load();
      chains = await openChains({
        settings: { bitcoin: config.chains.bitcoin, ethereum: config.chains.ethereum, maxBlocksPerTick: config.deposits.maxBlocksPerTick, maxReorgDepth: config.deposits.maxReorgDepth },
        dataDir: config.dataDir, pool: db.app, assets, ledger: new LedgerService(db.app, assets), log,
      });
      stops.push(() => chains!.stop());
      wallets = new WalletService(signerClient, chains.bitcoin.network);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const amanat = await createAmanat({ pool: db.app, config, log, wallets, chains, signer: signerClient });

  const keyFile = config.auth.bootstrapAdminKeyFile ?? path.join(config.dataDir, 'secrets', 'bootstrap-admin.key');
  const secret = await inTransaction(db.app, (q) => amanat.services.apiKeys.bootstrapAdmin(q));
  if (secret) {
    mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, `${secret}\n`, { mode: 0o600 });
  }

  const server = amanat.http.listen(config.http.port, config.http.host);
  await new Promise<void>((resolve, reject) => { server.once('listening', resolve); server.once('error', reject); });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.http.host}:${port}`;
  amanat.startBackground();
  if (chains && config.chains.devBlockIntervalMs > 0 && (chains.bitcoin.dev || chains.ethereum.dev)) {
    // The embedded dev chains mine only when asked: produce blocks so deposits and withdrawals confirm.
    const devChains = chains;
    const miner = setInterval(() => {
      void Promise.allSettled([devChains.bitcoin.dev?.mine(1), devChains.ethereum.dev?.mine(1)]);
    }, config.chains.devBlockIntervalMs);
    stops.push(async () => clearInterval(miner));
  }
  writeRuntime(config.dataDir, { pid: process.pid, ownerUrl: db.ownerUrl, appUrl: db.appUrl, httpUrl: url });

  const lines = [
    '',
    `Amanat ${VERSION} is listening on ${url}`,
    `  Postgres: ${db.embedded ? `embedded, data in ${path.join(config.dataDir, 'pg')}` : 'DATABASE_URL'}`,
    existsSync(keyFile)
      ? `  Bootstrap admin API key: ${keyFile}${secret ? ' (written now)' : ''}`
      : '  Bootstrap admin API key: an admin key already exists (its file is not here)',
    signer ? `  Signer: ${signer.backend === 'pkcs11' ? 'SoftHSM2 through PKCS#11' : 'DEVELOPMENT ONLY dev-file key backend (install softhsm2 for an HSM)'}, socket ${signer.socketPath}`
      : `  Signer: ${config.signer.socketPath ?? 'none (CHAINS_ENABLED=false)'}`,
    chains ? `  Bitcoin: ${chains.bitcoin.dev ? `embedded bcoin regtest at ${chains.bitcoin.dev.rpcUrl}` : 'BITCOIN_RPC_URL'} (${chains.bitcoin.network})` : '  Chains: disabled',
    chains ? `  Ethereum: ${chains.ethereum.dev ? `embedded Hardhat at ${chains.ethereum.dev.rpcUrl}` : 'ETHEREUM_RPC_URL'} (chain id ${chains.ethereum.chainId})` : '',
    config.withdrawals.approversFile.endsWith('signer-policy.dev.json')
      ? `  Treasury (development): officer keys ${path.join(config.dataDir, 'treasury')}/dev-officer-{1,2,3}.pem` : '',
    `  OpenAPI: ${url}/openapi.json`,
    '  Try:',
    `    curl -s -H "Authorization: Bearer $(cat ${keyFile})" ${url}/v1/assets`,
    '',
  ];
  process.stdout.write(`\n${lines.filter((l) => l !== '').join('\n')}\n\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await amanat.stopBackground();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await amanat.services.audit.sealAll().catch(() => undefined);
    removeRuntime(config.dataDir);
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (isDomainError(error) && error.code === 'CONFIG_INVALID') {
    process.stderr.write(`amanat: bad configuration: ${error.message}\n`);
  } else {
    process.stderr.write(`amanat: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exit(1);
});
