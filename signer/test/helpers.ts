// Test harness: real SoftHSM2 tokens per test file, the real signer started as a separate process,
// HTTP over its Unix socket, real approver keys (node:crypto), PSBTs and EIP-1559 transactions.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as bitcoin from 'bitcoinjs-lib';
import { Transaction, Wallet } from 'ethers';
import { approvalMessage } from '../src/intent.ts';
import { initSoftHsmTokens, type SoftHsmTokens } from '../src/softhsm.ts';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const USDT_CONTRACT = '0x5FbDB2315678afecb367f032d93F642f64180aa3';

export function tempDir(name: string): string {
  const base = process.env.AMANAT_TEST_TMP ?? tmpdir();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${name}-`));
}

export interface TestApprover {
  id: string;
  userId: string;
  algorithm: 'ed25519' | 'p256';
  privateKey: KeyObject;
  publicKeyPem: string;
}

export function makeApprover(id: string, userId: string, algorithm: 'ed25519' | 'p256'): TestApprover {
  const pair = algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { id, userId, algorithm, privateKey: pair.privateKey, publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export function approve(approver: TestApprover, intentHash: string, window?: { signedAt?: Date; expiresAt?: Date }): Record<string, string> {
  const signedAt = (window?.signedAt ?? new Date()).toISOString();
  const expiresAt = (window?.expiresAt ?? new Date(Date.now() + 3600_000)).toISOString();
  const message = approvalMessage({ intentHash, approverId: approver.id, signedAt, expiresAt });
  const signature = approver.algorithm === 'ed25519'
    ? cryptoSign(null, message, approver.privateKey)
    : cryptoSign('sha256', message, { key: approver.privateKey, dsaEncoding: 'der' });
  return { approverId: approver.id, algorithm: approver.algorithm, intentHash, signature: signature.toString('base64'), signedAt, expiresAt };
}

export function testPolicy(approvers: TestApprover[], quorum: number): Record<string, unknown> {
  return {
    version: 'test-1',
    approvals: { quorum, maxLifetimeSeconds: 86_400, clockSkewSeconds: 60 },
    approvers: approvers.map(({ id, userId, algorithm, publicKeyPem }) => ({ id, userId, algorithm, publicKeyPem })),
    assets: {
      BTC: { chain: 'bitcoin', maxAmountPerTx: '1000000000' },
      ETH: { chain: 'ethereum', maxAmountPerTx: '100000000000000000000' },
      USDT: { chain: 'ethereum', maxAmountPerTx: '10000000000000', contracts: { 31337: USDT_CONTRACT } },
    },
    bitcoin: { networks: ['regtest', 'bcoin-regtest'], maxFeeRateSatPerVbyte: '200', maxInputs: 100, maxOutputs: 100 },
    ethereum: { chainIds: ['31337'], maxFeePerGasWei: '500000000000', maxGasLimit: '1000000' },
  };
}

export interface SignerHarness {
  dir: string;
  socketPath: string;
  configPath: string;
  hsm: SoftHsmTokens;
  process: ChildProcess;
  output: () => string;
  call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  stop: () => Promise<void>;
}

export function prepareSigner(name: string, policy: Record<string, unknown>): { dir: string; configPath: string; hsm: SoftHsmTokens } {
  const dir = tempDir(name);
  const hsm = initSoftHsmTokens(join(dir, 'hsm'), { install: true, labelPrefix: 't' });
  const policyPath = join(dir, 'signer-policy.json');
  writeFileSync(policyPath, JSON.stringify(policy, null, 2));
  const configPath = join(dir, 'signer.json');
  writeFileSync(configPath, JSON.stringify({
    dataDir: join(dir, 'data'),
    socketPath: join(dir, 'signer.sock'),
    policyFile: policyPath,
    backend: { type: 'pkcs11', modulePath: hsm.modulePath, softhsm2Conf: hsm.confPath, tokens: hsm.tokens, sessionsPerToken: 8 },
  }, null, 2));
  return { dir, configPath, hsm };
}

export function callSocket(socketPath: string, method: string, path: string, body?: unknown, agent?: Agent): Promise<{ status: number; body: any }> {
  return new Promise((resolvePromise, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const request = httpRequest({ socketPath, method, path, ...(agent ? { agent } : {}), headers: text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        try {
          resolvePromise({ status: response.statusCode ?? 0, body: JSON.parse(raw) });
        } catch {
          reject(new Error(`non-JSON answer ${response.statusCode}: ${raw}`));
        }
      });
    });
    request.on('error', reject);
    request.end(text);
  });
}

/** Starts `node --import tsx signer/src/main.ts --config …` and waits until /health answers. */
export async function startSigner(prepared: { dir: string; configPath: string; hsm: SoftHsmTokens }): Promise<SignerHarness> {
  const socketPath = join(prepared.dir, 'signer.sock');
  const child = spawn(process.execPath, [...(process.env.SIGNER_NODE_ARGS ? process.env.SIGNER_NODE_ARGS.split(' ') : []), '--import', 'tsx', join(repoRoot, 'signer/src/main.ts'), '--config', prepared.configPath], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SOFTHSM2_CONF: prepared.hsm.confPath },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  // Wait for the socket: the child either listens or exits (and then we fail with its output).
  for (;;) {
    const state = await Promise.race([exited.then(() => 'exited'), new Promise((r) => setTimeout(r, 50, 'tick'))]);
    if (state === 'exited') throw new Error(`signer exited during start:\n${output}`);
    if (existsSync(socketPath) && output.includes('"event":"listening"')) break;
  }
  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => callSocket(socketPath, method, path, body);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  return { ...prepared, socketPath, process: child, output: () => output, call, stop };
}

// ---------- Bitcoin ----------
export const regtest = bitcoin.networks.regtest;

export function p2wpkhAddress(publicKeyHex: string, network: bitcoin.networks.Network = regtest): string {
  const address = bitcoin.payments.p2wpkh({ pubkey: Buffer.from(publicKeyHex, 'hex'), network }).address;
  if (!address) throw new Error('no address');
  return address;
}

export function randomP2wpkhAddress(network: bitcoin.networks.Network = regtest): string {
  return bitcoin.payments.p2wpkh({ hash: randomBytes(20), network }).address ?? '';
}

/**
 * `publicKey` (compressed hex): the key whose P2WPKH output this is; default: buildPsbt's sourcePublicKey.
 * `nonWitnessUtxo`: the full previous transaction, when a test wants the PSBT to carry it.
 */
export interface UtxoSpec { txid: string; vout: number; value: bigint; publicKey?: string; nonWitnessUtxo?: Uint8Array }

export function randomUtxo(value: bigint, publicKey?: string): UtxoSpec {
  return { txid: randomBytes(32).toString('hex'), vout: 0, value, ...(publicKey === undefined ? {} : { publicKey }) };
}

/** nSequence the service builds with (src/chains/bitcoin/psbt.ts SEQUENCE_RBF): BIP-125 replaceable, no relative lock. */
export const SEQUENCE_RBF = 0xfffffffd;

/**
 * An unsigned PSBT shaped like the service's (version 2, nLockTime 0, nSequence 0xfffffffd,
 * witnessUtxo on every input) unless a test overrides a field, as a compromised API would.
 */
export function buildPsbt(options: {
  sourcePublicKey: string; utxos: UtxoSpec[]; outputs: { address?: string; script?: Buffer; value: bigint }[]; network?: bitcoin.networks.Network;
  version?: number; locktime?: number; sequence?: number;
}): string {
  const network = options.network ?? regtest;
  const psbt = new bitcoin.Psbt({ network });
  psbt.setVersion(options.version ?? 2);
  psbt.setLocktime(options.locktime ?? 0);
  for (const utxo of options.utxos) {
    const script = bitcoin.payments.p2wpkh({ pubkey: Buffer.from(utxo.publicKey ?? options.sourcePublicKey, 'hex'), network }).output;
    if (!script) throw new Error('no script');
    psbt.addInput({
      hash: utxo.txid, index: utxo.vout, sequence: options.sequence ?? SEQUENCE_RBF, witnessUtxo: { script, value: utxo.value },
      ...(utxo.nonWitnessUtxo ? { nonWitnessUtxo: utxo.nonWitnessUtxo } : {}),
    });
  }
  for (const output of options.outputs) {
    if (output.script) psbt.addOutput({ script: output.script, value: output.value });
    else psbt.addOutput({ address: output.address ?? '', value: output.value });
  }
  return psbt.toBase64();
}

/** The signer's replay log file in a prepared signer directory (empty before the first signature). */
export function replayLogBytes(dir: string): Buffer {
  const path = join(dir, 'data', 'replay-log.jsonl');
  return existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
}

// ---------- Ethereum ----------
export function unsignedEthTx(fields: { to: string; value?: bigint; data?: string; nonce: number; chainId?: bigint; gasLimit?: bigint; maxFeePerGas?: bigint; maxPriorityFeePerGas?: bigint }): string {
  const tx = Transaction.from({
    type: 2, chainId: fields.chainId ?? 31337n, nonce: fields.nonce, to: fields.to, value: fields.value ?? 0n, data: fields.data ?? '0x',
    gasLimit: fields.gasLimit ?? 21_000n, maxFeePerGas: fields.maxFeePerGas ?? 2_000_000_000n, maxPriorityFeePerGas: fields.maxPriorityFeePerGas ?? 1_000_000_000n,
  });
  return tx.unsignedSerialized;
}

export function erc20TransferData(to: string, amount: bigint): string {
  return `0xa9059cbb${to.toLowerCase().replace(/^0x/, '').padStart(64, '0')}${amount.toString(16).padStart(64, '0')}`;
}

export function randomEthAddress(): string {
  return Wallet.createRandom().address;
}

export function isoIn(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}
