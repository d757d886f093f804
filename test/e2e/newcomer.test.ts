// The README's first session, against `npm start` itself (src/main.ts as a separate process on its
// embedded defaults: its own Postgres, signer on SoftHSM2, bcoin regtest, Hardhat).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/platform/postgres-server.ts';

const root = path.resolve(import.meta.dirname, '../..');
let child: ChildProcess;
let api: string;
let output = '';
let dataDir: string;
let admin: string;
let exchange: string;
let client: string;

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
  admin = readFileSync(path.join(dataDir, 'secrets', 'bootstrap-admin.key'), 'utf8').trim();
  exchange = (await call('POST', '/v1/api-keys', admin, { name: 'exchange-backend', role: 'exchange' }, 'key-1')).secret as string;
  client = (await call('POST', '/v1/clients', exchange, { externalRef: 'alice', classification: 'retail', kzResident: true }, 'client-1')).id as string;
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

/** `npm run amanat -- …` as the README runs it (the CLI from the repository), against the running service. */
async function amanat(args: string[], apiKey: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), ...args], {
    cwd: root, env: { ...process.env, AMANAT_API_URL: api, AMANAT_API_KEY: apiKey, AMANAT_DATA_DIR: dataDir, AMANAT_CLI_STATE_DIR: path.join(dataDir, 'cli-requests') } });
  return stdout;
}

test('README: the withdrawals walkthrough: quote, confirm, two treasury approvals with the CLI, completed; the other client is credited', async () => {
  assert.ok(client, 'the first session ran');
  const treasury = (await call('POST', '/v1/api-keys', admin, { name: 'treasury', role: 'treasury' }, 'key-2')).secret as string;
  await call('POST', `/v1/clients/${client}/kyc`, exchange, { name: { primary: 'Alice', secondary: 'Example' }, verified: true,
    nationalId: '900101300123', geographicAddress: { town: 'Astana', country: 'KZ' } }, 'kyc-1');
  const bob = (await call('POST', '/v1/clients', exchange, { externalRef: 'bob', classification: 'retail', kzResident: true }, 'client-2')).id as string;
  const destination = (await call('POST', `/v1/clients/${bob}/deposit-addresses`, exchange, { asset: 'BTC' }, 'addr-bob')).address as string;
  await call('POST', `/v1/clients/${client}/address-book`, exchange, { asset: 'BTC', address: destination, destinationType: 'self_hosted' }, 'ab-1');
  const quote = await call('POST', '/v1/withdrawals/quotes', exchange, { clientId: client, asset: 'BTC', amount: '0.01', destination }, 'q-1');
  const withdrawal = (await call('POST', '/v1/withdrawals', exchange, { quoteId: quote.quoteId, clientId: client, acknowledgedWarningId: 'irreversible-v1',
    consent: { method: 'webauthn', reference: 'assertion-1', at: '2026-11-22T10:00:00Z' }, initiatorUserId: 'alice-app',
    destinationType: 'self_hosted', beneficiary: { name: 'Alice Example' } }, 'w-1')).id as string;
  // Deposits land in cold (HOT-04), so the coins leave the cold wallet: two treasury approvals.
  let pending = '';
  for (let poll = 0; !pending.includes(withdrawal); poll++) {
    assert.ok(poll < 600, `the withdrawal never waited for approvals: ${JSON.stringify(await call('GET', `/v1/withdrawals/${withdrawal}`, exchange))}`);
    await new Promise((r) => setTimeout(r, 200));
    pending = await amanat(['treasury', 'pending'], treasury);
  }
  for (const officer of ['dev-officer-1', 'dev-officer-2']) {
    await amanat(['treasury', 'approve', withdrawal, '--approver', officer, '--key', path.join(dataDir, 'treasury', `${officer}.pem`)], treasury);
  }
  let w: { state: string; txid: string | null; networkFee: string | null } = { state: '', txid: null, networkFee: null };
  for (let poll = 0; w.state !== 'completed'; poll++) {
    assert.ok(poll < 3000 && !['rejected', 'failed', 'cancelled'].includes(w.state), `not completed: ${JSON.stringify(w)}\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
    w = await call('GET', `/v1/withdrawals/${withdrawal}`, exchange);
  }
  assert.ok(w.txid && w.networkFee, JSON.stringify(w));
  const events = (await call('GET', '/v1/events?after=0', exchange)).events as { type: string; payload: { txid?: string } }[];
  assert.equal(events.filter((e) => e.type === 'withdrawal.completed' && e.payload.txid === w.txid).length, 1);
  for (let poll = 0; ; poll++) {
    const bobBtc = ((await call('GET', `/v1/clients/${bob}/balances`, exchange)).balances as { asset: string; entitlement: { total: string } }[])
      .find((b) => b.asset === 'BTC')!;
    if (bobBtc.entitlement.total === '0.01') break;
    assert.ok(poll < 3000, `bob was not credited: ${JSON.stringify(bobBtc)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const alice = ((await call('GET', `/v1/clients/${client}/balances`, exchange)).balances as { asset: string; entitlement: { total: string; held: string } }[])
    .find((b) => b.asset === 'BTC')!;
  assert.equal(alice.entitlement.held, '0');
  const sats = (btc: string) => { const [whole, frac = ''] = btc.split('.'); return BigInt(whole!) * 100_000_000n + BigInt(frac.padEnd(8, '0')); };
  assert.equal(sats(alice.entitlement.total), sats('1.5') - sats('0.01') - sats(w.networkFee), 'alice paid the amount and the real fee, to the satoshi');
});

/** The README's fenced bash block under a heading, exactly as written there. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(at >= 0, `README has a "## ${heading}" section`);
  const m = /```bash\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, `the "${heading}" section has a bash block`);
  return m[1]!;
}

test('README: the auditor walkthrough, run as written: the latest reconciliation report in JSON, CSV and PDF verifies offline, Alice\'s proof of reserves verifies, incidents list', async () => {
  assert.ok(client, 'the first session ran');
  const script = path.join(dataDir, 'auditor-walkthrough.sh');
  writeFileSync(script, readmeBlock('For auditors'));
  const scratch = mkdtempSync(path.join(dataDir, 'walkthrough-'));
  // The session's variables as the first session set them; `npm run amanat` from the repository.
  const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', script], {
    cwd: root, maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, API: api, KEY: admin, CLIENT: client, TMPDIR: scratch, AMANAT_DATA_DIR: dataDir, AMANAT_CLI_STATE_DIR: path.join(dataDir, 'cli-requests') },
  });
  // Both verifications (JSON, and the PDF with its detached signature) and the proof.
  const valid = stdout.split('\n').filter((line) => line.startsWith('VALID: '));
  assert.equal(valid.length, 3, stdout);
  assert.match(valid[0]!, /^VALID: reconciliation report \d{4}-\d{2}-\d{2} \(json\)/);
  assert.match(valid[1]!, /^VALID: reconciliation report \d{4}-\d{2}-\d{2} \(pdf\)/);
  assert.match(valid[2]!, /^VALID: BTC liability of client /);
  assert.match(stdout, /the root is in the signed proof_of_reserves report/);
  // pdftotext read the report's PDF: it carries the per-asset summary.
  assert.match(stdout, /BTC/);
  assert.match(stdout, /"incidents"/);
});
