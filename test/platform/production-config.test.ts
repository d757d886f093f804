// AMANAT_ENV=production refuses every development fallback: the config loader collects each one
// and fails with one CONFIG_INVALID that names the setting to change. Each case below starts from
// a complete production configuration and brings back exactly one fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/platform/config.ts';
import { DomainError } from '../../src/platform/errors.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'production-config-'));

/** Files a production deployment provides itself: same shapes as the development ones, other content. */
function productionFiles(): Record<string, string> {
  const rewrite = (from: string, to: string, change: (json: Record<string, unknown>) => void): string => {
    const json = JSON.parse(readFileSync(path.join(root, from), 'utf8')) as Record<string, unknown>;
    change(json);
    const file = path.join(dir, to);
    writeFileSync(file, JSON.stringify(json));
    return file;
  };
  const keyring = path.join(dir, 'pii-keyring.json');
  writeFileSync(keyring, JSON.stringify({ k1: randomBytes(32).toString('hex') }), { mode: 0o600 });
  return {
    PRICES_FILE: rewrite('policies/prices.json', 'prices.json', (j) => { j.version = 'feed-2026-12-04T10:00Z'; j.source = 'market feed'; j.asOf = new Date().toISOString(); }),
    SCREENING_LIST_FILE: rewrite('policies/screening-list.json', 'screening-list.json', (j) => { j.version = 'vendor-2026-12-04'; }),
    VASP_DIRECTORY_FILE: rewrite('policies/vasp-directory.json', 'vasp-directory.json', (j) => { j.version = 'gds-2026-12-04'; }),
    TREASURY_APPROVERS_FILE: rewrite('policies/signer-policy.json', 'signer-policy.json', (j) => { j.version = 'officers-2026-12'; }),
    PII_KEYRING_FILE: keyring,
  };
}

const files = productionFiles();

/** Everything a production deployment sets: no development fallback left. */
const production: Record<string, string> = {
  AMANAT_ENV: 'production',
  AMANAT_DATA_DIR: path.join(dir, 'data'),
  DATABASE_URL: 'postgres://amanat_owner:owner-secret@db.internal:5432/amanat',
  DATABASE_APP_URL: 'postgres://amanat_app:app-secret@db.internal:5432/amanat',
  SIGNER_SOCKET: '/run/amanat-signer/signer.sock',
  BITCOIN_RPC_URL: 'http://btc.internal:8332/',
  BITCOIN_NETWORK: 'mainnet',
  ETHEREUM_RPC_URL: 'http://eth.internal:8545/',
  ETHEREUM_CHAIN_ID: '1',
  USDT_CONTRACT: '0xdAC17F958D2ee523a2206206994597C13D831ec7',
  PRICE_MAX_AGE_SECONDS: '300',
  ORIGINATING_VASP_NAME: 'Example Exchange Ltd',
  BOOTSTRAP_ADMIN_KEY_FILE: path.join(dir, 'bootstrap-admin.key'),
  ...files,
};

/** The loader refuses with one CONFIG_INVALID naming exactly `settings` (each on a line of its own). */
function refuses(env: Record<string, string | undefined>, settings: string[]): void {
  assert.throws(() => loadConfig(env), (error: unknown) => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, /AMANAT_ENV=production/);
    for (const setting of settings) assert.ok(error.message.includes(setting), `the refusal names ${setting}:\n${error.message}`);
    assert.deepEqual([...(error.data.settings as string[])].sort(), [...settings].sort(), error.message);
    return true;
  });
}

const without = (...keys: string[]) => Object.fromEntries(Object.entries(production).filter(([k]) => !keys.includes(k)));

test('KEY-02 production accepts a configuration that gives every production setting', () => {
  const config = loadConfig(production);
  assert.equal(config.env, 'production');
  assert.equal(config.withdrawals.priceMaxAgeSeconds, 300);
  // Without chains there is no signer or chain to configure.
  assert.equal(loadConfig({ ...without('SIGNER_SOCKET', 'BITCOIN_RPC_URL', 'ETHEREUM_RPC_URL', 'BITCOIN_NETWORK', 'ETHEREUM_CHAIN_ID', 'USDT_CONTRACT'), CHAINS_ENABLED: 'false' }).chains.enabled, false);
  // Development and test keep every fallback.
  assert.equal(loadConfig({}).env, 'development');
  assert.equal(loadConfig({ AMANAT_ENV: 'test', TRAVEL_RULE_VASP: 'development-auto-ack' }).withdrawals.vaspTravelRule, 'development-auto-ack');
});

test('KEY-02 production refuses to start its own development signer: SIGNER_SOCKET unset, or SIGNER_BACKEND=dev-file', () => {
  refuses(without('SIGNER_SOCKET'), ['SIGNER_SOCKET']);
  refuses({ ...production, SIGNER_BACKEND: 'dev-file' }, ['SIGNER_BACKEND']);
});

test('WDR-04 production refuses the development screening lists, by path or as a copy: SCREENING_LIST_FILE, VASP_DIRECTORY_FILE', () => {
  refuses(without('SCREENING_LIST_FILE'), ['SCREENING_LIST_FILE']);
  refuses(without('VASP_DIRECTORY_FILE'), ['VASP_DIRECTORY_FILE']);
  const copy = path.join(dir, 'copied-screening-list.json');
  copyFileSync(path.join(root, 'policies/screening-list.json'), copy);
  refuses({ ...production, SCREENING_LIST_FILE: copy }, ['SCREENING_LIST_FILE']);
  refuses({ ...production, VASP_DIRECTORY_FILE: 'policies/vasp-directory.json' }, ['VASP_DIRECTORY_FILE']);
});

test('TR-02 production refuses the static development prices (PRICES_FILE) and prices of any age (PRICE_MAX_AGE_SECONDS)', () => {
  refuses(without('PRICES_FILE'), ['PRICES_FILE']);
  const copy = path.join(dir, 'copied-prices.json');
  copyFileSync(path.join(root, 'policies/prices.json'), copy);
  refuses({ ...production, PRICES_FILE: copy }, ['PRICES_FILE']);
  refuses(without('PRICE_MAX_AGE_SECONDS'), ['PRICE_MAX_AGE_SECONDS']);
  refuses({ ...production, PRICE_MAX_AGE_SECONDS: '0' }, ['PRICE_MAX_AGE_SECONDS']);
});

test('WDR-05 production refuses TRAVEL_RULE_VASP=development-auto-ack and the development ORIGINATING_VASP_NAME', () => {
  refuses({ ...production, TRAVEL_RULE_VASP: 'development-auto-ack' }, ['TRAVEL_RULE_VASP']);
  refuses(without('ORIGINATING_VASP_NAME'), ['ORIGINATING_VASP_NAME']);
});

test('SEG-11 production refuses generated and development secrets: PII keyring, bootstrap admin key, embedded Postgres password, owner connection', () => {
  refuses(without('PII_KEYRING_FILE'), ['PII_KEYRING_FILE']);
  refuses({ ...production, PII_KEYRING_FILE: path.join(dir, 'no-such-keyring.json') }, ['PII_KEYRING_FILE']);
  refuses(without('BOOTSTRAP_ADMIN_KEY_FILE'), ['BOOTSTRAP_ADMIN_KEY_FILE']);
  // No DATABASE_URL: an embedded Postgres with a superuser password generated into the data dir.
  refuses(without('DATABASE_URL', 'DATABASE_APP_URL'), ['DATABASE_URL', 'DATABASE_APP_URL']);
  refuses(without('DATABASE_APP_URL'), ['DATABASE_APP_URL']);
});

test('WDR-06 production refuses the sample treasury officers of policies/signer-policy.json and the generated dev officers: TREASURY_APPROVERS_FILE', () => {
  refuses(without('TREASURY_APPROVERS_FILE'), ['TREASURY_APPROVERS_FILE']);
  const devOfficers = path.join(dir, 'signer-policy.dev.json');
  const base = JSON.parse(readFileSync(path.join(root, 'policies/signer-policy.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(devOfficers, JSON.stringify({ ...base, version: `${String(base.version)}+dev-officers`,
    approvers: [{ id: 'dev-officer-1', userId: 'dev-treasury-1', algorithm: 'ed25519', publicKeyPem: 'x' }] }));
  refuses({ ...production, TREASURY_APPROVERS_FILE: devOfficers }, ['TREASURY_APPROVERS_FILE']);
});

test('WAL-05 production refuses the embedded dev chains and their networks (and with them the dev faucet): BITCOIN_RPC_URL, ETHEREUM_RPC_URL, BITCOIN_NETWORK, ETHEREUM_CHAIN_ID', () => {
  refuses(without('BITCOIN_RPC_URL'), ['BITCOIN_RPC_URL']);
  refuses(without('ETHEREUM_RPC_URL'), ['ETHEREUM_RPC_URL']);
  refuses(without('BITCOIN_NETWORK'), ['BITCOIN_NETWORK']);
  refuses({ ...production, BITCOIN_NETWORK: 'regtest' }, ['BITCOIN_NETWORK']);
  refuses(without('ETHEREUM_CHAIN_ID'), ['ETHEREUM_CHAIN_ID']);
});

test('KEY-02 AMANAT_ENV=production alone is refused with every fallback listed in one error, each naming its setting', () => {
  refuses({ AMANAT_ENV: 'production' }, [
    'SIGNER_SOCKET', 'SCREENING_LIST_FILE', 'VASP_DIRECTORY_FILE', 'PRICES_FILE', 'PRICE_MAX_AGE_SECONDS', 'ORIGINATING_VASP_NAME',
    'PII_KEYRING_FILE', 'BOOTSTRAP_ADMIN_KEY_FILE', 'DATABASE_URL', 'DATABASE_APP_URL', 'TREASURY_APPROVERS_FILE',
    'BITCOIN_RPC_URL', 'ETHEREUM_RPC_URL', 'BITCOIN_NETWORK', 'ETHEREUM_CHAIN_ID',
  ]);
});
