// The real HTTP app with the real signer (SoftHSM2, a separate process) for the report tests: the
// report key lives in the signer. Same shape as test/helpers/app.ts's TestApp, plus deposits that
// book both the entitlement and the holdings book (as the deposit scanner does) and the CLI.
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { createAmanat, type Amanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { ROLES, type Role } from '../../src/auth/api-keys.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { makeApprover, prepareSigner, repoRoot, startSigner, testPolicy, type SignerHarness } from '../../signer/test/helpers.ts';

export interface ReportApp {
  url: string;
  db: TestDatabase;
  amanat: Amanat;
  signer: SignerHarness;
  keys: Record<Role, string>;
  keyIds: Record<Role, string>;
  dir: string;
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; idem?: string | null }): Promise<{ status: number; body: any; bytes: Buffer; headers: Headers }>;
  /** A confirmed deposit: external world -> entitlement, external chain -> the client's hot (or cold) wallet. */
  deposit(clientId: string, asset: string, amount: bigint, tier?: 'hot' | 'cold'): Promise<void>;
  /** A withdrawal's booking: entitlement and wallet both down by amount. */
  withdraw(clientId: string, asset: string, amount: bigint, tier?: 'hot' | 'cold'): Promise<void>;
  newClient(): Promise<string>;
  close(): Promise<void>;
}

let seq = 0;

export function tempDir(name: string): string {
  return mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), `${name}-`));
}

/** Runs `amanat <args>` (src/cli.ts) as a child process: the offline commands need no configuration. */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli.ts'), ...args], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AMANAT_DATA_DIR: tempDir('cli-no-data') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function startReportApp(env: Record<string, string> = {}): Promise<ReportApp> {
  const db = await createTestDatabase();
  const dir = tempDir('reports');
  const signer = await startSigner(prepareSigner('report-signer', testPolicy([makeApprover('officer-a', 'alice', 'ed25519'), makeApprover('officer-b', 'bob', 'p256')], 2)));
  try {
    const config = loadConfig({ AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: dir, ...env });
    const amanat = await createAmanat({ pool: db.app, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent'), signer: new SignerClient(signer.socketPath) });
    const keys = {} as Record<Role, string>;
    const keyIds = {} as Record<Role, string>;
    for (const role of ROLES) {
      const created = await inTransaction(db.app, (q) => amanat.services.apiKeys.create(q, { name: `test-${role}`, role, createdBy: null }));
      keys[role] = created.secret;
      keyIds[role] = created.key.id;
    }
    const server: Server = amanat.http.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { ledger, clients } = amanat.services;
    const book = async (clientId: string, asset: string, amount: bigint, tier: 'hot' | 'cold') => {
      const world = await ledger.systemAccountId(db.app, asset, 'external_world');
      const chain = await ledger.systemAccountId(db.app, asset, 'external_chain');
      const entitlement = await ledger.clientAccountId(db.app, clientId, asset);
      const wallet = await ledger.clientAccountId(db.app, clientId, asset, tier === 'hot' ? 'client_wallet_hot' : 'client_wallet_cold');
      await ledger.postEntry(db.app, {
        idempotencyId: `test-${amount < 0n ? 'withdraw' : 'deposit'}-${process.pid}-${++seq}`, type: amount < 0n ? 'withdrawal' : 'deposit', actor: 'test',
        postings: [{ accountId: world, amount: -amount }, { accountId: entitlement, amount }, { accountId: chain, amount: -amount }, { accountId: wallet, amount }],
      });
    };
    return {
      url, db, amanat, signer, keys, keyIds, dir,
      async call(method, urlPath, options = {}) {
        const headers: Record<string, string> = {};
        const key = options.key === undefined ? keys.exchange : options.key;
        if (key) headers.authorization = `Bearer ${key}`;
        if (method !== 'GET' && options.idem !== null) headers['idempotency-key'] = options.idem ?? `k-${process.pid}-${++seq}`;
        let body: string | undefined;
        if (options.body !== undefined) { body = JSON.stringify(options.body); headers['content-type'] = 'application/json'; }
        const res = await fetch(`${url}${urlPath}`, { method, headers, body });
        const bytes = Buffer.from(await res.arrayBuffer());
        let parsed: unknown = bytes.toString('utf8');
        try { parsed = JSON.parse(bytes.toString('utf8')); } catch { /* not JSON */ }
        return { status: res.status, body: parsed, bytes, headers: res.headers };
      },
      deposit: (clientId, asset, amount, tier = 'hot') => book(clientId, asset, amount, tier),
      withdraw: (clientId, asset, amount, tier = 'hot') => book(clientId, asset, -amount, tier),
      async newClient() {
        const c = await inTransaction(db.app, (q) => clients.create(q, { externalRef: `acct-${process.pid}-${++seq}`, classification: 'retail', kzResident: false }));
        return c.id;
      },
      async close() {
        await amanat.stopBackground();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await signer.stop();
        await db.drop();
      },
    };
  } catch (error) {
    await signer.stop();
    await db.drop();
    throw error;
  }
}
