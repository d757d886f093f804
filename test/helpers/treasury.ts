// Treasury over HTTP on the withdrawal fixture: the real routes on the fixture's database (its
// worker runs the pipeline), an API key per role, and a cold BTC withdrawal waiting for its
// approvals. Shared by the treasury API tests and the console tests.
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAmanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';
import { tempDir } from '../../signer/test/helpers.ts';
import { show, type WithdrawalFixture } from './withdrawals.ts';

export type TreasuryRole = 'treasury' | 'exchange' | 'admin' | 'auditor';

export interface TreasuryHttp {
  url: string;
  keys: Record<TreasuryRole, string>;
  close(): Promise<void>;
}

/** The HTTP app with the fixture's approvers (its signer policy) and keyring, listening on a free port. */
export async function startTreasuryHttp(f: WithdrawalFixture, name = 'treasury'): Promise<TreasuryHttp> {
  const config = loadConfig({
    AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: tempDir(`${name}-app`),
    TREASURY_APPROVERS_FILE: path.join(f.signer.dir, 'signer-policy.json'), PII_KEYRING_FILE: f.keyringFile, BITCOIN_NETWORK: 'bcoin-regtest',
  });
  const amanat = await createAmanat({ pool: f.db.app, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent') });
  const keys = {} as Record<TreasuryRole, string>;
  for (const role of ['treasury', 'exchange', 'admin', 'auditor'] as const) {
    keys[role] = (await inTransaction(f.db.app, (q) => amanat.services.apiKeys.create(q, { name: `${name}-test-${role}`, role, createdBy: null }))).secret;
  }
  const server: Server = amanat.http.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keys,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface CliRun { code: number | null; stdout: string; stderr: string }

/** `amanat …` (src/cli.ts) as its own process against `apiUrl`, with its request journal in `stateDir` (never the user's home). */
export function runCli(args: string[], env: { apiUrl: string; apiKey: string; stateDir: string }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../../src/cli.ts'), ...args], {
      cwd: path.resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AMANAT_API_URL: env.apiUrl, AMANAT_API_KEY: env.apiKey, AMANAT_CLI_STATE_DIR: env.stateDir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A cold BTC withdrawal of `amount` waiting for its 2 treasury approvals, intent fixed. */
export async function coldWaiting(f: WithdrawalFixture, amount = '0.01', initiator = 'client-user-1'): Promise<{ client: string; w: WithdrawalRow; availableBefore: bigint }> {
  const client = await f.fundedClient('BTC', 50_000_000n, 'cold');
  const availableBefore = (await f.entitlement(client, 'BTC')).available;
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const requested = await f.request({ clientId: client, asset: 'BTC', amount, destination, initiator });
  const w = await f.settle(requested.id);
  assert.equal(w.state, 'approvals', show({ state: w.state, failure: w.failure_code, detail: w.failure_detail }));
  assert.equal(w.source_tier, 'cold');
  assert.equal(w.approvals_required, 2);
  assert.ok(w.intent_hash);
  return { client, w, availableBefore };
}
