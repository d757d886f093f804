// Config is one typed, documented, frozen object built once. process.env is read here only.
// Secrets are references (file paths) and are never logged.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DomainError } from './errors.ts';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Each key: environment variable, default, description. */
export const configSchema = z.object({
  env: z.enum(['development', 'test', 'production']).default('development')
    .describe('AMANAT_ENV: development enables embedded components and dev-only routes'),
  dataDir: z.string().min(1).default('./data')
    .describe('AMANAT_DATA_DIR: where embedded Postgres, dev chains, signer tokens and generated secrets live'),
  http: z.object({
    host: z.string().min(1).default('127.0.0.1').describe('HTTP_HOST: listen address'),
    port: z.coerce.number().int().min(0).max(65535).default(8080).describe('HTTP_PORT: listen port (0 = any free port)'),
    bodyLimitBytes: z.coerce.number().int().min(1024).max(10_485_760).default(65_536)
      .describe('HTTP_BODY_LIMIT_BYTES: largest accepted request body'),
  }),
  database: z.object({
    url: z.string().url().optional()
      .describe('DATABASE_URL (or DATABASE_URL_FILE): owner connection used for migrations; unset = embedded Postgres'),
    appUrl: z.string().url().optional()
      .describe('DATABASE_APP_URL (or DATABASE_APP_URL_FILE): connection as the restricted amanat_app role'),
    poolMax: z.coerce.number().int().min(1).max(200).default(20).describe('DATABASE_POOL_MAX: connections per process'),
    embeddedPort: z.coerce.number().int().min(0).max(65535).default(0)
      .describe('EMBEDDED_PG_PORT: port of the embedded Postgres (0 = any free port)'),
  }),
  logLevel: logLevel.default('info').describe('LOG_LEVEL'),
  auth: z.object({
    apiKeyCacheMs: z.coerce.number().int().min(0).max(60_000).default(5_000)
      .describe('API_KEY_CACHE_MS: how long a verified API key is cached (revocation delay)'),
    bootstrapAdminKeyFile: z.string().optional()
      .describe('BOOTSTRAP_ADMIN_KEY_FILE: where the first admin key is written (default <dataDir>/secrets/bootstrap-admin.key)'),
  }),
  ledger: z.object({
    holdDefaultTtlSeconds: z.coerce.number().int().min(1).max(30 * 86_400).default(86_400)
      .describe('HOLD_DEFAULT_TTL_SECONDS: expiry of a hold that names none'),
    holdMaxTtlSeconds: z.coerce.number().int().min(1).max(365 * 86_400).default(30 * 86_400)
      .describe('HOLD_MAX_TTL_SECONDS: the longest hold allowed'),
    expiryIntervalMs: z.coerce.number().int().min(100).max(3_600_000).default(1_000)
      .describe('HOLD_EXPIRY_INTERVAL_MS: how often expired holds are released'),
  }),
  signer: z.object({
    socketPath: z.string().min(1).optional()
      .describe('SIGNER_SOCKET: Unix socket of a running signer; unset = start the signer process here (development)'),
    backend: z.enum(['auto', 'pkcs11', 'dev-file']).default('auto')
      .describe('SIGNER_BACKEND: for the signer started here: pkcs11 (SoftHSM2), dev-file (DEVELOPMENT ONLY), auto'),
    policyFile: z.string().min(1).optional().describe('SIGNER_POLICY_FILE: signer policy for the signer started here'),
  }),
  chains: z.object({
    enabled: z.stringbool().default(true).describe('CHAINS_ENABLED: false runs the API without chains, signer-backed wallets or scanners'),
    devBlockIntervalMs: z.coerce.number().int().min(0).max(3_600_000).default(3_000)
      .describe('DEV_BLOCK_INTERVAL_MS: the embedded dev chains mine a block this often so transfers confirm (0 = only on demand)'),
    bitcoin: z.object({
      rpcUrl: z.string().url().optional().describe('BITCOIN_RPC_URL: Bitcoin Core JSON-RPC; unset = embedded bcoin regtest'),
      rpcUser: z.string().optional().describe('BITCOIN_RPC_USER'),
      rpcPassword: z.string().optional().describe('BITCOIN_RPC_PASSWORD_FILE: file with the RPC password'),
      network: z.enum(['mainnet', 'testnet', 'regtest', 'bcoin-regtest']).default('bcoin-regtest').describe('BITCOIN_NETWORK'),
      confirmations: z.coerce.number().int().min(1).max(1000).default(3).describe('BITCOIN_CONFIRMATIONS: before a deposit is credited'),
      startHeight: z.coerce.number().int().min(0).optional().describe('BITCOIN_SCAN_START_HEIGHT: first block to scan (default: the tip at first start; 0 on the embedded chain)'),
    }),
    ethereum: z.object({
      rpcUrl: z.string().url().optional().describe('ETHEREUM_RPC_URL: any Ethereum JSON-RPC; unset = embedded Hardhat dev chain'),
      chainId: z.coerce.bigint().default(31337n).describe('ETHEREUM_CHAIN_ID'),
      usdtContract: z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional().describe('USDT_CONTRACT: the admitted USDT ERC-20 contract'),
      confirmations: z.coerce.number().int().min(1).max(1000).default(12).describe('ETHEREUM_CONFIRMATIONS: before a deposit is credited'),
      startHeight: z.coerce.number().int().min(0).optional().describe('ETHEREUM_SCAN_START_HEIGHT'),
    }),
  }),
  deposits: z.object({
    tier: z.enum(['hot', 'cold']).default('cold').describe('DEPOSIT_TIER: which wallet deposit addresses come from (HOT-04: cold by default)'),
    scanIntervalMs: z.coerce.number().int().min(50).max(600_000).default(1_000).describe('SCAN_INTERVAL_MS: how often each chain is scanned'),
    maxBlocksPerTick: z.coerce.number().int().min(1).max(10_000).default(200).describe('SCAN_MAX_BLOCKS_PER_TICK'),
    maxReorgDepth: z.coerce.number().int().min(1).max(10_000).default(100).describe('SCAN_MAX_REORG_DEPTH: deeper reorgs stop the scanner with an alert'),
  }),
  withdrawals: z.object({
    policyFile: z.string().min(1).default('policies/withdrawal-policy.json').describe('WITHDRAWAL_POLICY_FILE: the versioned withdrawal policy'),
    pricesFile: z.string().min(1).default('policies/prices.json')
      .describe('PRICES_FILE: USD prices {version, source, asOf, prices}; read again when a feed replaces it (default: the static development prices)'),
    priceMaxAgeSeconds: z.coerce.number().int().min(0).max(7 * 86_400).default(0)
      .describe('PRICE_MAX_AGE_SECONDS: a price set older than this (by its asOf) is not used: quotes that need a USD value fail PRICE_STALE (503) until a fresh one arrives; 0 = no limit (development only)'),
    approversFile: z.string().min(1).default('policies/signer-policy.json').describe('TREASURY_APPROVERS_FILE: registered approver keys (the signer policy file)'),
    piiKeyringFile: z.string().min(1).optional().describe('PII_KEYRING_FILE: {kid: 64 hex} keys for Travel Rule data at rest (default <dataDir>/secrets/pii-keyring.json, generated)'),
    quoteTtlSeconds: z.coerce.number().int().min(10).max(3600).default(300).describe('WITHDRAWAL_QUOTE_TTL_SECONDS'),
    serviceFees: z.string().regex(/^([A-Z0-9]{2,12}=\d+(\.\d+)?)?(,[A-Z0-9]{2,12}=\d+(\.\d+)?)*$/, 'ASSET=amount pairs, comma-separated').default('')
      .describe('WITHDRAWAL_SERVICE_FEES: disclosed service fee per withdrawal, in asset units, e.g. BTC=0.0001,USDT=1 (none by default)'),
    btcNetworkFeeMaxSat: z.coerce.bigint().min(1n).default(200_000n).describe('BTC_NETWORK_FEE_MAX_SAT: quoted and held maximum BTC fee'),
    ethNetworkFeeMaxWei: z.coerce.bigint().min(1n).default(10n ** 16n).describe('ETH_NETWORK_FEE_MAX_WEI: quoted and held maximum ETH gas'),
    btcFeeRateFallbackSatPerVbyte: z.coerce.bigint().min(1n).default(5n).describe('BTC_FEE_RATE_FALLBACK: when the node has no estimate (regtest)'),
    btcFeeRateCapSatPerVbyte: z.coerce.bigint().min(1n).default(200n).describe('BTC_FEE_RATE_CAP'),
    workerIntervalMs: z.coerce.number().int().min(20).max(60_000).default(250).describe('WITHDRAWAL_WORKER_INTERVAL_MS'),
    btcReplaceAfterSeconds: z.coerce.number().int().min(0).max(7 * 86_400).default(1_800)
      .describe('BTC_REPLACE_AFTER_SECONDS: an unconfirmed withdrawal transaction this old is replaced by fee (BIP-125)'),
    ethReplaceAfterSeconds: z.coerce.number().int().min(0).max(7 * 86_400).default(300)
      .describe('ETH_REPLACE_AFTER_SECONDS: an unconfirmed withdrawal transaction this old is replaced (same nonce, higher fees)'),
    maxReplacements: z.coerce.number().int().min(0).max(50).default(5).describe('WITHDRAWAL_MAX_REPLACEMENTS: per withdrawal; then withdrawal.stuck'),
    vaspTravelRule: z.enum(['hold', 'development-auto-ack']).default('hold')
      .describe('TRAVEL_RULE_VASP: hold = VASP-bound transfers wait for the Travel Rule exchange (not built yet)'),
    originatingVasp: z.string().min(1).default('Amanat (development)').describe('ORIGINATING_VASP_NAME'),
  }),
  screening: z.object({
    listFile: z.string().min(1).default('policies/screening-list.json')
      .describe('SCREENING_LIST_FILE: the versioned screening list (sanctioned and privacy-device addresses, risk scores) of the development provider (WDR-04)'),
    vaspDirectoryFile: z.string().min(1).default('policies/vasp-directory.json')
      .describe('VASP_DIRECTORY_FILE: the versioned VASP directory (addresses and prefixes of known VASPs) destinations are classified by'),
    highRiskScore: z.coerce.number().int().min(1).max(100).default(70)
      .describe('SCREENING_HIGH_RISK_SCORE: a destination risk score at or above this opens a compliance case and needs treasury approvals, hot wallet or not'),
  }),
  cases: z.object({
    redressPolicyFile: z.string().min(1).default('policies/redress-policy.json').describe('REDRESS_POLICY_FILE: the versioned redress decisions disputes are resolved by (WDR-08)'),
  }),
  reconciliation: z.object({
    enabled: z.stringbool().default(true).describe('RECON_ENABLED: run the daily reconciliation at its cut-off (REC-01); on demand it always runs'),
    cutoffTime: z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/).default('23:00')
      .describe('RECON_CUTOFF: the daily cut-off in Astana time (UTC+5), HH:MM; the run for a day starts at it'),
    missedAfterMinutes: z.coerce.number().int().min(1).max(24 * 60).default(120)
      .describe('RECON_MISSED_AFTER_MINUTES: a day whose run has not finished this long after its cut-off is a missed run (recon_missed incident)'),
    breakMaxAgeHours: z.coerce.number().min(0).max(24 * 30).default(24)
      .describe('RECON_BREAK_MAX_AGE_HOURS: an unexplained break first seen longer ago than this opens a recon_break incident (REG-06)'),
    missingMovementGraceHours: z.coerce.number().min(0).max(24 * 30).default(6)
      .describe('RECON_MISSING_MOVEMENT_GRACE_HOURS: a journal entry with no on-chain movement is timing while younger than this, a break after (REC-02)'),
    ethereumFromBlock: z.coerce.number().int().min(0).default(0)
      .describe('RECON_ETHEREUM_FROM_BLOCK: the first block scanned for movements touching our Ethereum addresses (the block our first wallet was made in)'),
    intervalMs: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000)
      .describe('RECON_INTERVAL_MS: how often the scheduler checks for a due, unfinished or missed run'),
    leaseSeconds: z.coerce.number().int().min(1).max(86_400).default(600)
      .describe('RECON_LEASE_SECONDS: a run claimed by a process that died is taken over after this long'),
  }),
  incidents: z.object({
    businessCalendarFile: z.string().min(1).default('policies/business-calendar.json')
      .describe('BUSINESS_CALENDAR_FILE: the versioned business calendar (Astana time, weekends, AIFC/KZ holidays) AFSA notification deadlines are counted on (REG-06)'),
    escalateBeforeMinutes: z.coerce.number().int().min(0).max(24 * 60).default(240)
      .describe('INCIDENT_ESCALATE_BEFORE_MINUTES: the escalation alarm of an incident not yet notified to AFSA fires this long before its deadline'),
    escalationIntervalMs: z.coerce.number().int().min(100).max(3_600_000).default(60_000)
      .describe('INCIDENT_ESCALATION_INTERVAL_MS: how often open incidents are checked against their deadlines'),
  }),
  rebalancing: z.object({
    enabled: z.stringbool().default(true).describe('REBALANCE_ENABLED: run the rebalancer on a schedule (sweeps hot -> cold automatically, HOT-02)'),
    intervalMs: z.coerce.number().int().min(1_000).max(86_400_000).default(60_000)
      .describe('REBALANCE_INTERVAL_MS: how often the ratios are snapshotted and the rebalancer runs (the sweep window of HOT-02/HOT-04)'),
    targetBp: z.coerce.number().int().min(0).max(3000).default(1500).describe('HOT_TARGET_BP: default target hot share, basis points, for assets without an approved version'),
    alertBp: z.coerce.number().int().min(0).max(3000).default(2500).describe('HOT_ALERT_BP: default alert level, basis points: above it the rebalancer sweeps'),
    capBp: z.coerce.number().int().min(1).max(3000).default(3000).describe('HOT_CAP_BP: default hard cap, basis points; never above 3000 (30 %, DAA 2.13.9)'),
    btcFeeMaxSat: z.coerce.bigint().min(1n).default(20_000n)
      .describe('REBALANCE_BTC_FEE_MAX_SAT: the most a sweep or refill may pay in BTC fees (held from the client, who pays it from its own coins: SEG-04)'),
    ethFeeMaxWei: z.coerce.bigint().min(1n).default(2_000_000_000_000_000n)
      .describe('REBALANCE_ETH_FEE_MAX_WEI: the most an ETH sweep or refill may pay in gas (gas limit × max fee per gas), from the client\'s own ETH'),
    allClientsHard: z.stringbool().default(false).describe('HOT_ALL_CLIENTS_HARD: make the all-clients pool (the draft reading of 2.13.9) a hard limit, not only monitored'),
    minMove: z.string().regex(/^([A-Z0-9]{2,12}=\d+(\.\d+)?)?(,[A-Z0-9]{2,12}=\d+(\.\d+)?)*$/, 'ASSET=amount pairs, comma-separated').default('BTC=0.0001,ETH=0.001,USDT=1')
      .describe('REBALANCE_MIN_MOVE: the smallest sweep or refill worth a transaction, per asset'),
  }),
  audit: z.object({
    sealIntervalMs: z.coerce.number().int().min(50).max(60_000).default(500)
      .describe('AUDIT_SEAL_INTERVAL_MS: how often new audit rows are sealed into the hash chain'),
  }),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

type Env = Record<string, string | undefined>;

function secretFrom(env: Env, key: string): string | undefined {
  const file = env[`${key}_FILE`];
  if (file) {
    if (!existsSync(file)) throw new DomainError('CONFIG_INVALID', `${key}_FILE points to a missing file`, { key: `${key}_FILE` });
    return readFileSync(file, 'utf8').trim();
  }
  return env[key];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Builds the config from the environment and an optional JSON file (AMANAT_CONFIG_FILE). */
export function loadConfig(env: Env = process.env): Config {
  let fileValues: Record<string, unknown> = {};
  if (env.AMANAT_CONFIG_FILE) {
    try {
      fileValues = JSON.parse(readFileSync(env.AMANAT_CONFIG_FILE, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new DomainError('CONFIG_INVALID', `AMANAT_CONFIG_FILE cannot be read as JSON: ${(error as Error).message}`, { key: 'AMANAT_CONFIG_FILE' });
    }
  }
  const pick = (k: string) => env[k] === '' ? undefined : env[k];
  const raw = {
    ...fileValues,
    env: pick('AMANAT_ENV') ?? fileValues.env,
    dataDir: pick('AMANAT_DATA_DIR') ?? fileValues.dataDir,
    logLevel: pick('LOG_LEVEL') ?? fileValues.logLevel,
    http: { ...(fileValues.http as object), host: pick('HTTP_HOST'), port: pick('HTTP_PORT'), bodyLimitBytes: pick('HTTP_BODY_LIMIT_BYTES') },
    database: {
      ...(fileValues.database as object),
      url: secretFrom(env, 'DATABASE_URL'), appUrl: secretFrom(env, 'DATABASE_APP_URL'),
      poolMax: pick('DATABASE_POOL_MAX'), embeddedPort: pick('EMBEDDED_PG_PORT'),
    },
    auth: { ...(fileValues.auth as object), apiKeyCacheMs: pick('API_KEY_CACHE_MS'), bootstrapAdminKeyFile: pick('BOOTSTRAP_ADMIN_KEY_FILE') },
    ledger: {
      ...(fileValues.ledger as object),
      holdDefaultTtlSeconds: pick('HOLD_DEFAULT_TTL_SECONDS'), holdMaxTtlSeconds: pick('HOLD_MAX_TTL_SECONDS'),
      expiryIntervalMs: pick('HOLD_EXPIRY_INTERVAL_MS'),
    },
    screening: {
      ...(fileValues.screening as object), listFile: pick('SCREENING_LIST_FILE'), vaspDirectoryFile: pick('VASP_DIRECTORY_FILE'),
      highRiskScore: pick('SCREENING_HIGH_RISK_SCORE'),
    },
    cases: { ...(fileValues.cases as object), redressPolicyFile: pick('REDRESS_POLICY_FILE') },
    reconciliation: {
      ...(fileValues.reconciliation as object), enabled: pick('RECON_ENABLED'), cutoffTime: pick('RECON_CUTOFF'), missedAfterMinutes: pick('RECON_MISSED_AFTER_MINUTES'),
      breakMaxAgeHours: pick('RECON_BREAK_MAX_AGE_HOURS'), missingMovementGraceHours: pick('RECON_MISSING_MOVEMENT_GRACE_HOURS'),
      ethereumFromBlock: pick('RECON_ETHEREUM_FROM_BLOCK'), intervalMs: pick('RECON_INTERVAL_MS'), leaseSeconds: pick('RECON_LEASE_SECONDS'),
    },
    incidents: {
      ...(fileValues.incidents as object), businessCalendarFile: pick('BUSINESS_CALENDAR_FILE'),
      escalateBeforeMinutes: pick('INCIDENT_ESCALATE_BEFORE_MINUTES'), escalationIntervalMs: pick('INCIDENT_ESCALATION_INTERVAL_MS'),
    },
    audit: { ...(fileValues.audit as object), sealIntervalMs: pick('AUDIT_SEAL_INTERVAL_MS') },
    rebalancing: {
      ...(fileValues.rebalancing as object), enabled: pick('REBALANCE_ENABLED'), intervalMs: pick('REBALANCE_INTERVAL_MS'), targetBp: pick('HOT_TARGET_BP'),
      alertBp: pick('HOT_ALERT_BP'), capBp: pick('HOT_CAP_BP'), allClientsHard: pick('HOT_ALL_CLIENTS_HARD'), minMove: pick('REBALANCE_MIN_MOVE'),
      btcFeeMaxSat: pick('REBALANCE_BTC_FEE_MAX_SAT'), ethFeeMaxWei: pick('REBALANCE_ETH_FEE_MAX_WEI'),
    },
    withdrawals: {
      ...(fileValues.withdrawals as object), policyFile: pick('WITHDRAWAL_POLICY_FILE'), pricesFile: pick('PRICES_FILE'),
      approversFile: pick('TREASURY_APPROVERS_FILE'), piiKeyringFile: pick('PII_KEYRING_FILE'), quoteTtlSeconds: pick('WITHDRAWAL_QUOTE_TTL_SECONDS'), serviceFees: pick('WITHDRAWAL_SERVICE_FEES'),
      btcNetworkFeeMaxSat: pick('BTC_NETWORK_FEE_MAX_SAT'), ethNetworkFeeMaxWei: pick('ETH_NETWORK_FEE_MAX_WEI'),
      btcFeeRateFallbackSatPerVbyte: pick('BTC_FEE_RATE_FALLBACK'), btcFeeRateCapSatPerVbyte: pick('BTC_FEE_RATE_CAP'),
      priceMaxAgeSeconds: pick('PRICE_MAX_AGE_SECONDS'), workerIntervalMs: pick('WITHDRAWAL_WORKER_INTERVAL_MS'), btcReplaceAfterSeconds: pick('BTC_REPLACE_AFTER_SECONDS'),
      ethReplaceAfterSeconds: pick('ETH_REPLACE_AFTER_SECONDS'), maxReplacements: pick('WITHDRAWAL_MAX_REPLACEMENTS'), vaspTravelRule: pick('TRAVEL_RULE_VASP'), originatingVasp: pick('ORIGINATING_VASP_NAME'),
    },
    signer: { ...(fileValues.signer as object), socketPath: pick('SIGNER_SOCKET'), backend: pick('SIGNER_BACKEND'), policyFile: pick('SIGNER_POLICY_FILE') },
    chains: {
      ...(fileValues.chains as object),
      enabled: pick('CHAINS_ENABLED'), devBlockIntervalMs: pick('DEV_BLOCK_INTERVAL_MS'),
      bitcoin: {
        ...((fileValues.chains as { bitcoin?: object } | undefined)?.bitcoin),
        rpcUrl: pick('BITCOIN_RPC_URL'), rpcUser: pick('BITCOIN_RPC_USER'), rpcPassword: secretFrom(env, 'BITCOIN_RPC_PASSWORD'),
        network: pick('BITCOIN_NETWORK'), confirmations: pick('BITCOIN_CONFIRMATIONS'), startHeight: pick('BITCOIN_SCAN_START_HEIGHT'),
      },
      ethereum: {
        ...((fileValues.chains as { ethereum?: object } | undefined)?.ethereum),
        rpcUrl: pick('ETHEREUM_RPC_URL'), chainId: pick('ETHEREUM_CHAIN_ID'), usdtContract: pick('USDT_CONTRACT'),
        confirmations: pick('ETHEREUM_CONFIRMATIONS'), startHeight: pick('ETHEREUM_SCAN_START_HEIGHT'),
      },
    },
    deposits: {
      ...(fileValues.deposits as object), tier: pick('DEPOSIT_TIER'), scanIntervalMs: pick('SCAN_INTERVAL_MS'),
      maxBlocksPerTick: pick('SCAN_MAX_BLOCKS_PER_TICK'), maxReorgDepth: pick('SCAN_MAX_REORG_DEPTH'),
    },
  };
  const stripUndefined = (o: unknown): unknown => {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return o;
    return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k, stripUndefined(v)]));
  };
  const parsed = configSchema.safeParse(stripUndefined(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.');
    throw new DomainError('CONFIG_INVALID', `config key ${key}: ${issue.message}`, { key });
  }
  const config = parsed.data;
  config.dataDir = path.resolve(config.dataDir);
  const frozen = deepFreeze(config);
  if (frozen.env === 'production') assertProductionSafe(frozen);
  return frozen;
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Whether `file` is the shipped development data at `shipped`: the same path, or a copy of it. */
function isShippedFile(file: string, shipped: string): boolean {
  const given = path.resolve(repoRoot, file);
  const original = path.join(repoRoot, shipped);
  if (given === original) return true;
  try {
    return readFileSync(given).equals(readFileSync(original));
  } catch {
    return false; // unreadable: its own loader says so, naming it
  }
}

/** A treasury approvers file with the generated development officers (src/withdrawals/dev-treasury.ts). */
function isDevOfficersFile(file: string): boolean {
  try {
    const policy = JSON.parse(readFileSync(path.resolve(repoRoot, file), 'utf8')) as { version?: unknown; approvers?: { id?: unknown }[] };
    return String(policy.version).endsWith('+dev-officers') || (policy.approvers ?? []).some((a) => /^dev-officer-\d+$/.test(String(a.id)));
  } catch {
    return false;
  }
}

/**
 * Every development fallback this configuration would use, each as "SETTING: what and what to
 * do". Empty = safe for production. Pure apart from reading the named files (to recognise the
 * shipped development data under another name).
 */
export function productionViolations(config: Config): { setting: string; problem: string }[] {
  const found: { setting: string; problem: string }[] = [];
  const refuse = (setting: string, problem: string) => found.push({ setting, problem });
  const { chains, signer, withdrawals, screening, database, auth } = config;
  if (chains.enabled) {
    if (!signer.socketPath) refuse('SIGNER_SOCKET', 'unset: the service would start its own development signer with keys under the data dir; set it to the socket of the signer running beside the HSM');
    if (!chains.bitcoin.rpcUrl) refuse('BITCOIN_RPC_URL', 'unset: the service would start an embedded bcoin regtest node (and the dev faucet); set it to your Bitcoin Core JSON-RPC');
    if (chains.bitcoin.network === 'bcoin-regtest' || chains.bitcoin.network === 'regtest') refuse('BITCOIN_NETWORK', `${chains.bitcoin.network} is a development network; set mainnet (or testnet)`);
    if (!chains.ethereum.rpcUrl) refuse('ETHEREUM_RPC_URL', 'unset: the service would start an embedded Hardhat dev chain (and the dev faucet); set it to your Ethereum JSON-RPC');
    if (chains.ethereum.chainId === 31337n) refuse('ETHEREUM_CHAIN_ID', '31337 is the Hardhat development chain; set the chain id of your network (1 for mainnet)');
  }
  if (signer.backend === 'dev-file') refuse('SIGNER_BACKEND', 'dev-file keeps keys in a file and in process memory (DEVELOPMENT ONLY); remove it and give SIGNER_SOCKET');
  if (isShippedFile(screening.listFile, 'policies/screening-list.json')) refuse('SCREENING_LIST_FILE', 'is the development screening list (made-up example addresses, not a sanctions list); set the list your screening vendor provides');
  if (isShippedFile(screening.vaspDirectoryFile, 'policies/vasp-directory.json')) refuse('VASP_DIRECTORY_FILE', 'is the development VASP directory (made-up VASPs); set the directory your VASP attribution provides');
  if (isShippedFile(withdrawals.pricesFile, 'policies/prices.json')) refuse('PRICES_FILE', 'is the static development price file; set the file your price feed keeps current');
  if (withdrawals.priceMaxAgeSeconds === 0) refuse('PRICE_MAX_AGE_SECONDS', 'unset or 0: prices of any age would be used; set the age after which a price is stale');
  if (withdrawals.vaspTravelRule === 'development-auto-ack') refuse('TRAVEL_RULE_VASP', 'development-auto-ack signs VASP transfers whose Travel Rule data was never sent; set hold');
  if (withdrawals.originatingVasp === configSchema.shape.withdrawals.shape.originatingVasp.parse(undefined)) refuse('ORIGINATING_VASP_NAME', 'is the development name sent as the originating VASP in Travel Rule data; set your legal name');
  if (isShippedFile(withdrawals.approversFile, 'policies/signer-policy.json') || isDevOfficersFile(withdrawals.approversFile)) {
    refuse('TREASURY_APPROVERS_FILE', 'names the sample or generated development treasury officers; set the policy file that registers your officers\' keys');
  }
  if (!withdrawals.piiKeyringFile) refuse('PII_KEYRING_FILE', 'unset: a Travel Rule PII key would be generated into the data dir; set the provisioned keyring');
  else if (!existsSync(path.resolve(withdrawals.piiKeyringFile))) refuse('PII_KEYRING_FILE', `${withdrawals.piiKeyringFile} does not exist and would be generated; provision the keyring there`);
  if (!auth.bootstrapAdminKeyFile) refuse('BOOTSTRAP_ADMIN_KEY_FILE', 'unset: the first admin key would be written into the data dir; set where it goes (or create admin keys offline: amanat keys create)');
  if (!database.url) refuse('DATABASE_URL', 'unset: the service would start an embedded Postgres with a superuser password generated into the data dir; set your database (or DATABASE_URL_FILE)');
  if (!database.appUrl) refuse('DATABASE_APP_URL', 'unset: the service would connect as the owner and SET ROLE amanat_app; set the amanat_app connection (or DATABASE_APP_URL_FILE)');
  return found;
}

/** AMANAT_ENV=production refuses to start on any development fallback: one error listing each, naming its setting. */
export function assertProductionSafe(config: Config): void {
  const found = productionViolations(config);
  if (found.length === 0) return;
  throw new DomainError('CONFIG_INVALID',
    `AMANAT_ENV=production refuses development fallbacks; change these settings:\n${found.map((v) => `  - ${v.setting}: ${v.problem}`).join('\n')}`,
    { key: found[0]!.setting, settings: found.map((v) => v.setting) });
}

/** The config with secrets redacted, for the startup log. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const redactUrl = (u?: string) => {
    if (!u) return u;
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  };
  return {
    ...config,
    database: { ...config.database, url: redactUrl(config.database.url), appUrl: redactUrl(config.database.appUrl) },
    withdrawals: { ...config.withdrawals, btcNetworkFeeMaxSat: config.withdrawals.btcNetworkFeeMaxSat.toString(), ethNetworkFeeMaxWei: config.withdrawals.ethNetworkFeeMaxWei.toString(),
      btcFeeRateFallbackSatPerVbyte: config.withdrawals.btcFeeRateFallbackSatPerVbyte.toString(), btcFeeRateCapSatPerVbyte: config.withdrawals.btcFeeRateCapSatPerVbyte.toString() },
    rebalancing: { ...config.rebalancing, btcFeeMaxSat: config.rebalancing.btcFeeMaxSat.toString(), ethFeeMaxWei: config.rebalancing.ethFeeMaxWei.toString() },
    chains: { ...config.chains, bitcoin: { ...config.chains.bitcoin, rpcUrl: redactUrl(config.chains.bitcoin.rpcUrl), rpcPassword: config.chains.bitcoin.rpcPassword ? '***' : undefined },
      ethereum: { ...config.chains.ethereum, chainId: config.chains.ethereum.chainId.toString(), rpcUrl: redactUrl(config.chains.ethereum.rpcUrl) } },
  };
}
