// KEY-06, issue 10 §2.5: a quorum counts people. Each approver entry names the person (userId); the
// policy loader refuses one person under two approver ids, and the approval check counts distinct
// people even if a policy ever held one twice.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { checkApprovals, type Approval } from '../src/approvals.ts';
import { SignerError } from '../src/errors.ts';
import { intentHash, type Intent } from '../src/intent.ts';
import { parsePolicy, type Policy } from '../src/policy.ts';
import { alice, bob, carol, nextId } from './attacker.ts';
import { approve, isoIn, makeApprover, prepareSigner, randomP2wpkhAddress, startSigner, testPolicy, type SignerHarness } from './helpers.ts';

describe('5. a quorum counts people, not approver ids', () => {
  const aliceLaptop = makeApprover('treasury-alice-laptop', 'user-alice', 'p256');
  const onePersonTwice = (userId: string): Record<string, unknown> => {
    const policy = testPolicy([alice, bob, carol], 2) as { approvers: { id: string; userId: string }[] };
    return { ...policy, approvers: [...policy.approvers, { ...(testPolicy([aliceLaptop], 1) as { approvers: Record<string, unknown>[] }).approvers[0], userId }] };
  };

  test('KEY-06 the policy loader refuses one user registered under two approver ids', () => {
    for (const userId of ['user-alice', 'User-Alice', ' user-alice ']) {
      assert.throws(() => parsePolicy(Buffer.from(JSON.stringify(onePersonTwice(userId)))), /user-alice.*treasury-alice.*treasury-alice-laptop/i);
    }
    assert.doesNotThrow(() => parsePolicy(Buffer.from(JSON.stringify(onePersonTwice('user-dave')))));
  });

  test('KEY-06 two approvals by one person under two ids do not make a quorum of 2', () => {
    // What a loader that let the same person in twice would hold: the approval check counts people on its own.
    const policy = parsePolicy(Buffer.from(JSON.stringify(testPolicy([alice, bob], 2))));
    const publicKey = createPublicKey(aliceLaptop.publicKeyPem);
    const approvers = new Map(policy.approvers);
    approvers.set(aliceLaptop.id, {
      id: aliceLaptop.id, userId: 'user-alice', algorithm: 'p256', publicKey,
      fingerprint: createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex'),
    });
    const lenient: Policy = { ...policy, approvers };
    const intent: Intent = {
      intentId: nextId('intent'), chain: 'bitcoin', network: 'regtest', asset: 'BTC', clientId: 'client-a', initiator: 'user-ivan', sourceKeyId: 'k',
      outputs: [{ address: randomP2wpkhAddress(), amount: '1000' }], feeCap: '1000', expiresAt: isoIn(3600_000),
    };
    const hash = intentHash(intent);
    assert.throws(() => checkApprovals({ approvals: [approve(alice, hash), approve(aliceLaptop, hash)] as unknown as Approval[], intent, intentHash: hash, policy: lenient, nowMs: Date.now() }),
      (error: unknown) => error instanceof SignerError && error.code === 'APPROVALS_BELOW_QUORUM' && /1 distinct approver/.test(error.message));
    assert.deepEqual(checkApprovals({ approvals: [approve(alice, hash), approve(aliceLaptop, hash), approve(bob, hash)] as unknown as Approval[], intent, intentHash: hash, policy: lenient, nowMs: Date.now() }),
      ['treasury-alice', 'treasury-bob'], 'one approver id per person');
  });

  test('KEY-06 the signer does not start with a policy that registers one officer under two ids', async () => {
    const other = prepareSigner('signer-one-officer', onePersonTwice('user-alice'));
    let started: SignerHarness | undefined;
    try {
      await assert.rejects(async () => { started = await startSigner(other); }, /user-alice.*two approver ids/);
    } finally {
      await started?.stop();
    }
  });
});
