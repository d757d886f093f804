// npm run bench:signer — in one run: signatures per second through the signer API (HTTP over the
// Unix socket, 8 concurrent clients, full intent checks, low-S, recovery, replay log fsync) and raw
// PKCS#11 signatures per second (C_SignAsync, 8 sessions) on the same SoftHSM2 token.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { constants } from 'node:os';
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { callSocket, makeApprover, prepareSigner, randomEthAddress, startSigner, testPolicy, unsignedEthTx, isoIn } from '../test/helpers.ts';

const P = pkcs11js;
const CONCURRENCY = 8;
const API_SIGNATURES = Number(process.env.BENCH_API_SIGNATURES ?? 4000);
const RAW_SIGNATURES = Number(process.env.BENCH_RAW_SIGNATURES ?? 8000);

async function runConcurrent(total: number, worker: (index: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (;;) {
      const index = next;
      next += 1;
      if (index >= total) return;
      await worker(index);
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return total / seconds;
}

async function benchApi(socketPath: string, keyId: string): Promise<number> {
  const to = randomEthAddress();
  const runId = randomBytes(4).toString('hex');
  const makeRequest = (index: number): Record<string, unknown> => ({
    requestId: `bench-${runId}-${index}`,
    intent: {
      intentId: `bench-${runId}-${index}`, chain: 'ethereum', network: '31337', asset: 'ETH', clientId: 'house', initiator: 'bench',
      sourceKeyId: keyId, outputs: [{ address: to, amount: '1000' }], feeCap: '100000000000000', expiresAt: isoIn(3600_000),
    },
    transaction: { ethereumTx: unsignedEthTx({ to, value: 1000n, nonce: index }) },
    approvals: [],
  });
  const warmup = 200;
  const requests = Array.from({ length: API_SIGNATURES + warmup }, (_, index) => makeRequest(index));
  // 8 clients = 8 persistent connections.
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const send = async (index: number): Promise<void> => {
    const response = await callSocket(socketPath, 'POST', '/sign', requests[index], agent);
    if (response.status !== 200) throw new Error(`sign failed: ${JSON.stringify(response.body)}`);
  };
  await runConcurrent(warmup, send);
  const rate = await runConcurrent(API_SIGNATURES, (index) => send(index + warmup));
  agent.destroy();
  return rate;
}

/** Raw signing with the same kind of key the signer uses: the persistent token key made through the API. */
async function benchRaw(prepared: ReturnType<typeof prepareSigner>, keyId: string): Promise<number> {
  process.env.SOFTHSM2_CONF = prepared.hsm.confPath;
  const module = new P.PKCS11();
  module.load(prepared.hsm.modulePath);
  module.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  try {
    const slot = module.C_GetSlotList(true).find((candidate) => module.C_GetTokenInfo(candidate).label.trim() === prepared.hsm.tokens.hot.label);
    if (slot === undefined) throw new Error('hot token missing');
    const sessions: Handle[] = Array.from({ length: CONCURRENCY }, () => module.C_OpenSession(slot, P.CKF_RW_SESSION | P.CKF_SERIAL_SESSION));
    const [first] = sessions;
    if (first === undefined) throw new Error('no session');
    module.C_Login(first, P.CKU_USER, readFileSync(prepared.hsm.tokens.hot.pinFile, 'utf8').trim());
    module.C_FindObjectsInit(first, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }, { type: P.CKA_ID, value: Buffer.from(keyId, 'hex') }]);
    const [privateKey] = module.C_FindObjects(first, 1);
    module.C_FindObjectsFinal(first);
    if (privateKey === undefined) throw new Error(`key ${keyId} not in the hot token`);
    const digest = randomBytes(32);
    let nextSession = 0;
    const idle = [...sessions];
    const signOnce = async (): Promise<void> => {
      const session = idle.pop() ?? sessions[nextSession++ % sessions.length];
      if (session === undefined) throw new Error('no session');
      module.C_SignInit(session, { mechanism: P.CKM_ECDSA }, privateKey);
      await module.C_SignAsync(session, digest, Buffer.alloc(64));
      idle.push(session);
    };
    await runConcurrent(400, signOnce);
    return await runConcurrent(RAW_SIGNATURES, signOnce);
  } finally {
    module.C_Finalize();
  }
}

async function main(): Promise<void> {
  const prepared = prepareSigner('signer-bench', testPolicy([makeApprover('a', 'user-a', 'ed25519')], 1));
  const signer = await startSigner(prepared);
  // Stopped before the end (Ctrl-C, a timeout): the signer is stopped and waited for, not left running.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping the signer\n`);
      void signer.stop().finally(() => {
        if (!process.env.BENCH_KEEP) rmSync(prepared.dir, { recursive: true, force: true });
        process.exit(128 + constants.signals[signal]);
      });
    });
  }
  try {
    const key = await signer.call('POST', '/keys', { label: 'bench', tier: 'hot' });
    if (key.status !== 201) throw new Error(JSON.stringify(key.body));
    const apiRate = await benchApi(signer.socketPath, key.body.id as string);
    await signer.stop();
    const rawRate = await benchRaw(prepared, key.body.id as string);
    const ratio = apiRate / rawRate;
    process.stdout.write([
      `signer API (ETH EIP-1559 sign requests, ${CONCURRENCY} concurrent clients, ${API_SIGNATURES} requests): ${Math.round(apiRate)} signatures/s`,
      `raw PKCS#11 C_SignInit+C_SignAsync, same token key (${CONCURRENCY} sessions, ${RAW_SIGNATURES} signatures): ${Math.round(rawRate)} signatures/s`,
      `ratio API/raw: ${(Math.round(ratio * 100) / 100).toString()} (target >= 0.80) ${ratio >= 0.8 ? 'OK' : 'BELOW TARGET'}`,
      '',
    ].join('\n'));
  } finally {
    await signer.stop();
    if (!process.env.BENCH_KEEP) rmSync(prepared.dir, { recursive: true, force: true });
  }
}

await main();
