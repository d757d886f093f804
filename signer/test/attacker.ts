// Shared harness for the issue 10 §2 tests (KEY-08, the last line of defence), written as an
// attacker who controls the API: anything in a sign request may be a lie. One real signer process
// per test file against SoftHSM2, keys of client-a, approvers alice/bob/carol (quorum 2). A refusal
// must be a 4xx with a stable code, carry no signature, log no internal error, and leave the
// replay log byte for byte as it was.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, sign as cryptoSign } from 'node:crypto';
import { approvalMessage, intentHash, type Intent } from '../src/intent.ts';
import {
  approve, isoIn, makeApprover, p2wpkhAddress, prepareSigner, replayLogBytes, startSigner, testPolicy, type SignerHarness, type TestApprover,
} from './helpers.ts';

export const alice = makeApprover('treasury-alice', 'user-alice', 'ed25519');
export const bob = makeApprover('treasury-bob', 'user-bob', 'p256');
export const carol = makeApprover('treasury-carol', 'user-carol', 'ed25519');

export interface TestKey { id: string; publicKey: string; ethereumAddress: string; tier: string }
export interface Snapshot { entries: number; log: Buffer; errors: number }
export type Answer = { status: number; body: any };

/** An approval over the exact date strings given (approve() takes Dates): the signature is real, the dates may be the lie. */
export function approveStrings(approver: TestApprover, hash: string, signedAt: string, expiresAt: string): Record<string, string> {
  const message = approvalMessage({ intentHash: hash, approverId: approver.id, signedAt, expiresAt });
  const signature = approver.algorithm === 'ed25519' ? cryptoSign(null, message, approver.privateKey) : cryptoSign('sha256', message, { key: approver.privateKey, dsaEncoding: 'der' });
  return { approverId: approver.id, algorithm: approver.algorithm, intentHash: hash, signature: signature.toString('base64'), signedAt, expiresAt };
}

let counter = 0;
export function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** Registers before/after hooks that start the signer and create `keySpecs` (all of client-a). */
export function attackedSigner(name: string, keySpecs: [string, 'hot' | 'cold'][]) {
  const prepared = prepareSigner(name, testPolicy([alice, bob, carol], 2));
  let signer: SignerHarness | undefined;
  const keys: Record<string, TestKey> = {};
  const running = (): SignerHarness => {
    if (!signer) throw new Error('signer not started');
    return signer;
  };

  before(async () => {
    signer = await startSigner(prepared);
    for (const [label, tier] of keySpecs) {
      const response = await signer.call('POST', '/keys', { label, tier, clientId: 'client-a' });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      keys[label] = response.body;
    }
  });
  after(async () => {
    await signer?.stop();
  });

  const key = (label: string): TestKey => {
    const found = keys[label];
    if (!found) throw new Error(`no key ${label}`);
    return found;
  };
  const own = (label: string): string => p2wpkhAddress(key(label).publicKey);
  const internalErrors = (): number => running().output().split('\n').filter((line) => line.includes('"event":"error"')).length;
  const sign = (body: Record<string, unknown>): Promise<Answer> => running().call('POST', '/sign', { requestId: nextId('req'), approvals: [], ...body });
  const snapshot = async (): Promise<Snapshot> => ({
    entries: (await running().call('GET', '/health')).body.replayEntries as number, log: replayLogBytes(prepared.dir), errors: internalErrors(),
  });
  /** A refusal: 4xx, the expected code, no signature material, the replay log unchanged, no internal error logged. */
  const assertRefusal = async (response: Answer, code: string, before: Snapshot): Promise<void> => {
    assert.equal(response.body.code, code, `expected ${code}, got ${response.status} ${JSON.stringify(response.body).slice(0, 400)}`);
    assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`);
    assert.deepEqual(Object.keys(response.body).filter((field) => !['code', 'message', 'details'].includes(field)), [], 'a refusal carries no signature');
    const now = await snapshot();
    assert.equal(now.entries, before.entries, 'no replay-log entry');
    assert.ok(now.log.equals(before.log), 'the replay log file is byte for byte unchanged');
    assert.equal(now.errors, before.errors, 'no internal error (500) on the way');
  };

  return {
    prepared, key, own, sign, snapshot, assertRefusal,
    get signer(): SignerHarness { return running(); },
    async restart(beforeStart?: () => void): Promise<void> {
      await running().stop();
      beforeStart?.();
      signer = await startSigner(prepared);
    },
    async assertRefused(body: Record<string, unknown>, code: string): Promise<void> {
      const before = await snapshot();
      await assertRefusal(await sign(body), code, before);
    },
    async assertSigned(body: Record<string, unknown>): Promise<any> {
      const response = await sign(body);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    },
    btcIntent(source: string, outputs: { address: string; amount: bigint }[], extra: Partial<Intent> = {}): Intent {
      return {
        intentId: nextId('intent'), chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'client-a', initiator: 'user-ivan',
        sourceKeyId: key(source).id, outputs: outputs.map((output) => ({ address: output.address, amount: output.amount.toString() })),
        change: { address: own(source), keyId: key(source).id }, feeCap: '20000', expiresAt: isoIn(24 * 3600_000), ...extra,
      };
    },
    ethIntent(source: string, to: string, amount: bigint, extra: Partial<Intent> = {}): Intent {
      return {
        intentId: nextId('intent'), chain: 'ethereum', network: '31337', asset: 'ETH', clientId: 'client-a', initiator: 'user-ivan',
        sourceKeyId: key(source).id, outputs: [{ address: to, amount: amount.toString() }], feeCap: '100000000000000', expiresAt: isoIn(24 * 3600_000), ...extra,
      };
    },
    quorum(intent: Intent): Record<string, string>[] {
      const hash = intentHash(intent);
      return [approve(alice, hash), approve(bob, hash)];
    },
  };
}
