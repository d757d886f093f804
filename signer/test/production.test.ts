// Production start checks (KEY-02): with AMANAT_ENV=production (or "environment": "production" in
// the signer config) the signer refuses to start on the DEVELOPMENT ONLY dev-file key backend or on
// a token PIN that is a well-known development default, and names the setting to change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { prepareSignerConfig } from '../src/launch.ts';
import { makeApprover, prepareSigner, repoRoot, testPolicy, tempDir } from './helpers.ts';

const policy = testPolicy([makeApprover('treasury-alice', 'user-alice', 'ed25519'), makeApprover('treasury-bob', 'user-bob', 'p256')], 2);

interface StartResult { listened: boolean; exitCode: number | null; output: string }

/**
 * Runs the signer process until it either listens (then it is stopped again) or exits by itself.
 * `AMANAT_ENV` is exactly what the test says (unset when undefined), never inherited.
 */
async function start(configPath: string, env: { AMANAT_ENV?: string; SOFTHSM2_CONF?: string }): Promise<StartResult> {
  const { AMANAT_ENV: _inherited, ...base } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'signer/src/main.ts'), '--config', configPath], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  let done = false;
  void exited.then(() => { done = true; });
  while (!done && !output.includes('"event":"listening"')) await new Promise((r) => setTimeout(r, 50));
  const listened = output.includes('"event":"listening"');
  if (child.exitCode === null) child.kill('SIGTERM');
  const exitCode = await exited;
  return { listened, exitCode, output };
}

function devFileConfig(extra: Record<string, unknown> = {}): string {
  const dir = tempDir('signer-prod-devfile');
  const policyFile = join(dir, 'signer-policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  const passphraseFile = join(dir, 'dev-passphrase');
  writeFileSync(passphraseFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  const configPath = join(dir, 'signer.json');
  writeFileSync(configPath, JSON.stringify({
    dataDir: join(dir, 'data'), socketPath: join(dir, 'signer.sock'), policyFile,
    backend: { type: 'dev-file', keyFile: join(dir, 'dev-keys.enc.json'), passphraseFile }, ...extra,
  }));
  return configPath;
}

/** Changes the user PIN of a SoftHSM token, as an operator who kept a vendor default would have it. */
function setUserPin(prepared: ReturnType<typeof prepareSigner>, tier: 'hot' | 'cold', pin: string): void {
  const P = pkcs11js;
  process.env.SOFTHSM2_CONF = prepared.hsm.confPath;
  const module = new P.PKCS11();
  module.load(prepared.hsm.modulePath);
  module.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  try {
    const token = prepared.hsm.tokens[tier];
    const slot = module.C_GetSlotList(true).find((candidate) => module.C_GetTokenInfo(candidate).label.trim() === token.label);
    assert.ok(slot, `token ${token.label}`);
    const session = module.C_OpenSession(slot, P.CKF_RW_SESSION | P.CKF_SERIAL_SESSION);
    const old = readFileSync(token.pinFile, 'utf8').trim();
    module.C_Login(session, P.CKU_USER, old);
    module.C_SetPIN(session, old, pin);
    module.C_Logout(session);
    module.C_CloseSession(session);
    writeFileSync(token.pinFile, `${pin}\n`, { mode: 0o600 });
  } finally {
    module.C_Finalize();
  }
}

test('KEY-02 AMANAT_ENV=production: the signer refuses to start on the dev-file key backend and names backend.type', async () => {
  const configPath = devFileConfig();
  const development = await start(configPath, { AMANAT_ENV: 'development' });
  assert.equal(development.listened, true, `development starts on dev-file:\n${development.output}`);
  const production = await start(configPath, { AMANAT_ENV: 'production' });
  assert.equal(production.listened, false, `the signer listened in production on the dev-file backend:\n${production.output}`);
  assert.notEqual(production.exitCode, 0);
  assert.match(production.output, /AMANAT_ENV=production/);
  assert.match(production.output, /backend\.type/);
  assert.match(production.output, /pkcs11/);
  assert.ok(production.output.includes(configPath), 'the message names the config file to change');
});

test('KEY-02 "environment": "production" in the signer config refuses the dev-file backend like AMANAT_ENV does', async () => {
  const result = await start(devFileConfig({ environment: 'production' }), {});
  assert.equal(result.listened, false, result.output);
  assert.notEqual(result.exitCode, 0);
  assert.match(result.output, /backend\.type/);
});

test('KEY-02 the launcher passes the service\'s environment on: startSignerProcess({ environment: "production" }) on dev-file is refused', async () => {
  const { configPath } = prepareSignerConfig({ dataDir: tempDir('signer-prod-launch'), backend: 'dev-file', environment: 'production' });
  const result = await start(configPath, {});
  assert.equal(result.listened, false, result.output);
  assert.notEqual(result.exitCode, 0);
  assert.match(result.output, /backend\.type/);
});

test('KEY-02 AMANAT_ENV=production: the signer refuses a development-default token PIN and names the pinFile setting', async () => {
  const prepared = prepareSigner('signer-prod-pin', policy);
  setUserPin(prepared, 'cold', '1234');
  const development = await start(prepared.configPath, { AMANAT_ENV: 'development', SOFTHSM2_CONF: prepared.hsm.confPath });
  assert.equal(development.listened, true, `the token really opens with that PIN:\n${development.output}`);
  const production = await start(prepared.configPath, { AMANAT_ENV: 'production', SOFTHSM2_CONF: prepared.hsm.confPath });
  assert.equal(production.listened, false, `the signer listened in production with PIN 1234:\n${production.output}`);
  assert.notEqual(production.exitCode, 0);
  assert.match(production.output, /backend\.tokens\.cold\.pinFile/);
  assert.ok(production.output.includes(prepared.hsm.tokens.cold.pinFile), 'the message names the PIN file');
  assert.ok(!/"1234"|: 1234\b/.test(production.output), 'the PIN itself is never logged');
});

test('KEY-02 AMANAT_ENV=production: the signer starts on PKCS#11 with tokens whose PINs are not defaults', async () => {
  const prepared = prepareSigner('signer-prod-ok', policy);
  const result = await start(prepared.configPath, { AMANAT_ENV: 'production', SOFTHSM2_CONF: prepared.hsm.confPath });
  assert.equal(result.listened, true, result.output);
  assert.equal(result.exitCode, 0);
});
