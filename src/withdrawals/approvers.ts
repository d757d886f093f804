// Treasury approvers: the officers' registered public keys, read from the same policy file the
// signer loads, so the API and the signer agree on who may approve. An approval is the officer's
// signature over the canonical intent hash and its own validity window (signer/src/intent.ts),
// checked here when it is recorded and again by the signer before it signs (KEY-08).
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { approvalMessage } from '../../signer/src/intent.ts';
import type { Approval } from '../../signer/src/approvals.ts';
import { DomainError } from '../platform/errors.ts';

const policySchema = z.object({
  version: z.string(),
  approvals: z.object({ quorum: z.number().int().min(1), maxLifetimeSeconds: z.number().int().min(1), clockSkewSeconds: z.number().int().min(0) }),
  approvers: z.array(z.object({ id: z.string(), userId: z.string(), algorithm: z.enum(['ed25519', 'p256']), publicKeyPem: z.string() })),
}).loose();

export interface Approver { id: string; userId: string; algorithm: 'ed25519' | 'p256'; publicKey: KeyObject }

/** What an approval carries: exactly what the signer checks again. */
export type ApprovalInput = Approval;

export class ApproverRegistry {
  readonly quorum: number;
  readonly maxLifetimeSeconds: number;
  readonly clockSkewSeconds: number;
  readonly policyHash: string;
  private readonly byId: Map<string, Approver>;

  constructor(policyFile: string) {
    const bytes = readFileSync(policyFile);
    const parsed = policySchema.parse(JSON.parse(bytes.toString('utf8')));
    this.policyHash = createHash('sha256').update(bytes).digest('hex');
    this.quorum = parsed.approvals.quorum;
    this.maxLifetimeSeconds = parsed.approvals.maxLifetimeSeconds;
    this.clockSkewSeconds = parsed.approvals.clockSkewSeconds;
    this.byId = new Map(parsed.approvers.map((a) => [a.id, { id: a.id, userId: a.userId, algorithm: a.algorithm, publicKey: createPublicKey(a.publicKeyPem) }]));
  }

  get(id: string): Approver | undefined {
    return this.byId.get(id);
  }

  /** Checks one approval against the intent hash it must cover; returns the approver. */
  verify(approval: ApprovalInput, expectedIntentHash: string, initiatorUserId: string | null, nowMs = Date.now()): Approver {
    const approver = this.byId.get(approval.approverId);
    if (!approver) throw new DomainError('APPROVAL_INVALID', `unknown approver ${approval.approverId}`, { reason: 'APPROVER_UNKNOWN' });
    if (approver.algorithm !== approval.algorithm) throw new DomainError('APPROVAL_INVALID', 'algorithm does not match the registered key', { reason: 'ALGORITHM_MISMATCH' });
    if (approval.intentHash !== expectedIntentHash) {
      throw new DomainError('APPROVAL_INVALID', 'the approval covers another intent', { reason: 'APPROVAL_INTENT_MISMATCH' });
    }
    if (initiatorUserId !== null && approver.userId === initiatorUserId) {
      throw new DomainError('APPROVAL_INVALID', 'the initiator may not approve their own request', { reason: 'APPROVAL_BY_INITIATOR' });
    }
    const signedAt = Date.parse(approval.signedAt);
    const expiresAt = Date.parse(approval.expiresAt);
    if (!Number.isFinite(signedAt) || !Number.isFinite(expiresAt) || expiresAt <= signedAt) {
      throw new DomainError('APPROVAL_INVALID', 'signedAt and expiresAt must be instants, expiresAt later', { reason: 'APPROVAL_WINDOW_INVALID' });
    }
    if (expiresAt <= nowMs) throw new DomainError('APPROVAL_INVALID', 'the approval has expired', { reason: 'APPROVAL_EXPIRED' });
    if (signedAt > nowMs + this.clockSkewSeconds * 1000) throw new DomainError('APPROVAL_INVALID', 'the approval is signed in the future', { reason: 'APPROVAL_FROM_FUTURE' });
    if (expiresAt - signedAt > this.maxLifetimeSeconds * 1000) throw new DomainError('APPROVAL_INVALID', 'the approval lives longer than policy allows', { reason: 'APPROVAL_TOO_LONG' });
    const message = approvalMessage({ intentHash: approval.intentHash, approverId: approval.approverId, signedAt: approval.signedAt, expiresAt: approval.expiresAt });
    let signature: Buffer;
    try { signature = Buffer.from(approval.signature, 'base64'); } catch { throw new DomainError('APPROVAL_INVALID', 'signature is not base64', { reason: 'APPROVAL_SIGNATURE_INVALID' }); }
    const ok = approver.algorithm === 'ed25519'
      ? verify(null, message, approver.publicKey, signature)
      : verify('sha256', message, { key: approver.publicKey, dsaEncoding: 'der' }, signature);
    if (!ok) throw new DomainError('APPROVAL_INVALID', `approval by ${approver.id} does not verify under the registered key`, { reason: 'APPROVAL_SIGNATURE_INVALID' });
    return approver;
  }
}
