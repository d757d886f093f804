// Treasury approvals for cold keys: M valid, unexpired signatures by M distinct people (approver
// userIds), each with its registered approver key, over the canonical intent hash and the
// approval's own validity window. Any bad approval refuses the whole request (fail closed) with
// the specific reason.
import { verify } from 'node:crypto';
import { approvalMessage, type Intent } from './intent.ts';
import { refuse } from './errors.ts';
import { utcInstant } from './instant.ts';
import { personOf, type Policy } from './policy.ts';

export interface Approval {
  approverId: string;
  algorithm: 'ed25519' | 'p256';
  /** Must equal the intent hash the signer computes itself. */
  intentHash: string;
  /** base64: Ed25519 64-byte signature, or P-256 ECDSA (SHA-256) DER signature. */
  signature: string;
  signedAt: string;
  expiresAt: string;
}

const MAX_APPROVALS = 64;

function instant(value: string, field: string, approverId: string): number {
  const ms = utcInstant(value);
  if (ms === undefined) refuse('APPROVAL_TIME_INVALID', `approval by ${approverId}: ${field} ${JSON.stringify(value)} is not a UTC instant as toISOString writes it`);
  return ms;
}

export function checkApprovals(options: { approvals: Approval[]; intent: Intent; intentHash: string; policy: Policy; nowMs: number }): string[] {
  const { approvals, intent, intentHash, policy, nowMs } = options;
  if (approvals.length === 0) refuse('APPROVALS_REQUIRED', 'a cold key signs only with treasury approvals');
  if (approvals.length > MAX_APPROVALS) refuse('INVALID_REQUEST', `at most ${MAX_APPROVALS} approvals`);
  const { maxLifetimeSeconds, clockSkewSeconds } = policy.document.approvals;
  const people = new Set<string>();
  const keys = new Set<string>();
  const approverIds: string[] = [];
  for (const approval of approvals) {
    const approver = policy.approvers.get(approval.approverId);
    if (!approver) refuse('APPROVER_UNKNOWN', `approver ${approval.approverId} is not in signer policy ${policy.document.version}`);
    if (approver.algorithm !== approval.algorithm) refuse('APPROVAL_SIGNATURE_INVALID', `approver ${approver.id} signs with ${approver.algorithm}`);
    if (approval.intentHash !== intentHash) {
      refuse('APPROVAL_INTENT_MISMATCH', `approval by ${approver.id} is for intent ${approval.intentHash.slice(0, 16)}…, not this one`);
    }
    const message = approvalMessage({ intentHash, approverId: approval.approverId, signedAt: approval.signedAt, expiresAt: approval.expiresAt });
    const signature = Buffer.from(approval.signature, 'base64');
    const valid = approver.algorithm === 'ed25519'
      ? verify(null, message, approver.publicKey, signature)
      : verify('sha256', message, { key: approver.publicKey, dsaEncoding: 'der' }, signature);
    if (!valid) refuse('APPROVAL_SIGNATURE_INVALID', `approval by ${approver.id} does not verify under the registered key`);
    // Identity is the verified key; the initiator can never be one of the M.
    if (approver.userId === intent.initiator) refuse('APPROVAL_BY_INITIATOR', `${approver.id} initiated this movement and cannot approve it`);
    const signedAtMs = instant(approval.signedAt, 'signedAt', approver.id);
    const expiresAtMs = instant(approval.expiresAt, 'expiresAt', approver.id);
    if (expiresAtMs <= signedAtMs) refuse('APPROVAL_TIME_INVALID', `approval by ${approver.id} expires (${approval.expiresAt}) before it was signed (${approval.signedAt})`);
    if (expiresAtMs <= nowMs) refuse('APPROVAL_EXPIRED', `approval by ${approver.id} expired at ${approval.expiresAt}`);
    if (signedAtMs > nowMs + clockSkewSeconds * 1000) refuse('APPROVAL_NOT_YET_VALID', `approval by ${approver.id} is dated in the future`);
    if (expiresAtMs - signedAtMs > maxLifetimeSeconds * 1000) {
      refuse('APPROVAL_LIFETIME_TOO_LONG', `approval by ${approver.id} is valid longer than ${maxLifetimeSeconds}s`);
    }
    // Distinct people and distinct keys: the loader allows neither twice, and this holds even if it did.
    const person = personOf(approver.userId);
    if (!people.has(person) && !keys.has(approver.fingerprint)) {
      people.add(person);
      keys.add(approver.fingerprint);
      approverIds.push(approver.id);
    }
  }
  if (approverIds.length < policy.quorum) {
    refuse('APPROVALS_BELOW_QUORUM', `${approverIds.length} distinct approver(s) (people), the policy requires ${policy.quorum} of ${policy.approvers.size}`);
  }
  return approverIds;
}
