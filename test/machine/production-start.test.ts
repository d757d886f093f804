// The service itself refuses to start in production on development fallbacks: before it starts
// anything (no Postgres, no signer, no chain), with a message naming every setting to change.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = path.resolve(import.meta.dirname, '../..');
let child: ChildProcess | undefined;
after(() => { if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });

test('KEY-02 AMANAT_ENV=production on the embedded defaults: the service exits 1 naming each setting, and starts nothing', async () => {
  const dataDir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'production-start-'));
  const env: NodeJS.ProcessEnv = { ...process.env, AMANAT_ENV: 'production', AMANAT_DATA_DIR: dataDir, HTTP_PORT: '0', LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'DATABASE_APP_URL', 'SIGNER_SOCKET', 'BITCOIN_RPC_URL', 'ETHEREUM_RPC_URL', 'CHAINS_ENABLED', 'PRICES_FILE', 'PII_KEYRING_FILE']) delete env[k];
  child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  // Counted polls: a service that starts instead of refusing fails here with what it printed.
  for (let poll = 0; child.exitCode === null && child.signalCode === null; poll++) {
    assert.ok(poll < 600, `the service did not refuse to start:\n${output}`);
    await sleep(100);
  }
  assert.equal(child.exitCode, 1, output);
  assert.match(output, /bad configuration: AMANAT_ENV=production refuses development fallbacks/);
  for (const setting of ['SIGNER_SOCKET', 'SCREENING_LIST_FILE', 'VASP_DIRECTORY_FILE', 'PRICES_FILE', 'PRICE_MAX_AGE_SECONDS', 'PII_KEYRING_FILE',
    'BOOTSTRAP_ADMIN_KEY_FILE', 'DATABASE_URL', 'DATABASE_APP_URL', 'TREASURY_APPROVERS_FILE', 'BITCOIN_RPC_URL', 'ETHEREUM_RPC_URL', 'ORIGINATING_VASP_NAME']) {
    assert.match(output, new RegExp(`- ${setting}: `), `${setting} is named:\n${output}`);
  }
  assert.ok(!existsSync(path.join(dataDir, 'pg')) && !existsSync(path.join(dataDir, 'signer')) && !existsSync(path.join(dataDir, 'secrets')),
    `nothing was started or generated: ${readdirSync(dataDir).join(', ')}`);
});
