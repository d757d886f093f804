// The README's first session, against `npm start` itself (src/main.ts as a separate process on its
// embedded defaults: its own Postgres, signer on SoftHSM2, bcoin regtest, Hardhat).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/platform/postgres-server.ts';

const root = path.resolve(import.meta.dirname, '../..');
let child: ChildProcess;
let api: string;
let output = '';
let dataDir: string;

before(async () => {
  dataDir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'newcomer-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, AMANAT_DATA_DIR: dataDir, HTTP_PORT: String(port), LOG_LEVEL: 'warn', ETHEREUM_CONFIRMATIONS: '12', SCAN_INTERVAL_MS: '200' };
  for (const k of ['DATABASE_URL', 'DATABASE_APP_URL', 'SIGNER_SOCKET', 'BITCOIN_RPC_URL', 'ETHEREUM_RPC_URL']) delete env[k];
  child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (;;) {
    const state = await Promise.race([exited.then(() => 'exited'), new Promise((r) => setTimeout(r, 100, 'tick'))]);
    if (state === 'exited') throw new Error(`npm start exited:\n${output}`);
    const m = /is listening on (http:\/\/[0-9.:]+)/.exec(output);
    if (m) { api = m[1]!; break; }
  }
});

after(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

async function call(method: string, p: string, key: string, body?: unknown, idem?: string): Promise<any> {
  const res = await fetch(`${api}${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(idem ? { 'idempotency-key': idem } : {}) } });
  const json = await res.json();
  assert.ok(res.status < 300, `${method} ${p} -> ${res.status} ${JSON.stringify(json)}`);
  return json;
}

test('README: npm start prints where it listens, the admin key file and a first curl; the first session credits BTC, ETH and USDT deposits', async () => {
  assert.match(output, /Bootstrap admin API key: .*bootstrap-admin\.key/);
  assert.match(output, /Signer: SoftHSM2 through PKCS#11/);
  assert.match(output, /curl -s -H "Authorization: Bearer \$\(cat /);
  const admin = readFileSync(path.join(dataDir, 'secrets', 'bootstrap-admin.key'), 'utf8').trim();
  const exchange = (await call('POST', '/v1/api-keys', admin, { name: 'exchange-backend', role: 'exchange' }, 'key-1')).secret as string;
  const client = (await call('POST', '/v1/clients', exchange, { externalRef: 'alice', classification: 'retail', kzResident: true }, 'client-1')).id as string;
  for (const asset of ['BTC', 'ETH', 'USDT']) {
    const address = (await call('POST', `/v1/clients/${client}/deposit-addresses`, exchange, { asset }, `addr-${asset}`)).address as string;
    await call('POST', '/v1/dev/faucet', admin, { address, asset, amount: '1.5' }, `faucet-${asset}`);
  }
  let balances: { asset: string; entitlement: { total: string } }[] = [];
  // Polls are counted, not timed: a scanner that never credits fails here with what it showed.
  for (let poll = 0; ; poll++) {
    balances = (await call('GET', `/v1/clients/${client}/balances`, exchange)).balances;
    if (balances.every((b) => b.entitlement.total === '1.5')) break;
    assert.ok(poll < 3000, `deposits not credited: ${JSON.stringify(balances)}\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const events = (await call('GET', '/v1/events?after=0', exchange)).events as { type: string }[];
  assert.equal(events.filter((e) => e.type === 'deposit.credited').length, 3);
  const verify = await call('GET', '/v1/audit/verify', admin);
  assert.equal(verify.ok, true, JSON.stringify(verify));
});
