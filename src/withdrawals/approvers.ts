// Treasury approvers: the officers' registered public keys, read from the same policy file the
// signer loads, so the API and the signer agree on who may approve. An approval is the officer's
// signature over the canonical intent hash and its own validity window (signer/src/intent.ts),
// checked here when it is recorded and again by the signer before it signs (KEY-08). A rejection
// (a veto) is the same officer's signature over a different, domain-separated message that also
// binds the reason; the signer never sees rejections, they are checked and kept here only.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { approvalMessage, canonicalJson, sha256Hex } from '../../signer/src/intent.ts';
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

/** What a rejection carries: the approval's fields and the reason (1..500 characters) it signs by hash. */
export interface RejectionInput extends ApprovalInput { reason: string }

/**
 * The exact bytes an officer signs to reject (Ed25519 directly; P-256 as ECDSA with SHA-256):
 * canonicalJson({ type: 'amanat-rejection-v1', intentHash, approverId, signedAt, expiresAt,
 * reasonSha256 }), reasonSha256 being the lowercase hex SHA-256 of the reason's UTF-8 bytes. Its
 * type tag and its extra member make it differ from every approval message (type
 * 'amanat-approval-v1'), so neither signature can be replayed as the other.
 */
export function rejectionMessage(statement: { intentHash: string; approverId: string; signedAt: string; expiresAt: string; reason: string }): Buffer {
  return Buffer.from(canonicalJson({
    type: 'amanat-rejection-v1', intentHash: statement.intentHash, approverId: statement.approverId,
    signedAt: statement.signedAt, expiresAt: statement.expiresAt, reasonSha256: sha256Hex(statement.reason),
  }), 'utf8');
}

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
    // A quorum counts people (KEY-06): one officer under two approver ids would approve twice.
    const idOfUser = new Map<string, string>();
    for (const a of parsed.approvers) {
      const person = a.userId.trim().toLowerCase();
      const other = idOfUser.get(person);
      if (other !== undefined) throw new Error(`${policyFile}: user ${a.userId} is registered under two approver ids (${other}, ${a.id}); one person, one approver id`);
      idOfUser.set(person, a.id);
    }
    this.byId = new Map(parsed.approvers.map((a) => [a.id, { id: a.id, userId: a.userId, algorithm: a.algorithm, publicKey: createPublicKey(a.publicKeyPem) }]));
  }

  get(id: string): Approver | undefined {
    return this.byId.get(id);
  }

  /** Checks one approval against the intent hash it must cover; returns the approver. The initiator may never approve. */
  verify(approval: ApprovalInput, expectedIntentHash: string, initiatorUserId: string | null, nowMs = Date.now()): Approver {
    const message = approvalMessage({ intentHash: approval.intentHash, approverId: approval.approverId, signedAt: approval.signedAt, expiresAt: approval.expiresAt });
    return this.check('approval', approval, message, expectedIntentHash, initiatorUserId, nowMs);
  }

  /**
   * Checks one signed rejection (a maker-checker veto) against the intent hash it must cover;
   * returns the approver. Same checks as an approval except the initiator rule: a veto only stops
   * money from moving, so any registered officer may give it, the initiator included.
   */
  verifyRejection(rejection: RejectionInput, expectedIntentHash: string, nowMs = Date.now()): Approver {
    return this.check('rejection', rejection, rejectionMessage(rejection), expectedIntentHash, null, nowMs);
  }

  /** The checks approvals and rejections share: known key, algorithm, intent, window, then the signature over `message`. */
  private check(what: 'approval' | 'rejection', statement: ApprovalInput, message: Buffer, expectedIntentHash: string,
    initiatorUserId: string | null, nowMs: number): Approver {
    const approver = this.byId.get(statement.approverId);
    if (!approver) throw new DomainError('APPROVAL_INVALID', `unknown approver ${statement.approverId}`, { reason: 'APPROVER_UNKNOWN' });
    if (approver.algorithm !== statement.algorithm) throw new DomainError('APPROVAL_INVALID', 'algorithm does not match the registered key', { reason: 'ALGORITHM_MISMATCH' });
    if (statement.intentHash !== expectedIntentHash) {
      throw new DomainError('APPROVAL_INVALID', `the ${what} covers another intent`, { reason: 'APPROVAL_INTENT_MISMATCH' });
    }
    if (initiatorUserId !== null && approver.userId === initiatorUserId) {
      throw new DomainError('APPROVAL_INVALID', 'the initiator may not approve their own request', { reason: 'APPROVAL_BY_INITIATOR' });
    }
    const signedAt = Date.parse(statement.signedAt);
    const expiresAt = Date.parse(statement.expiresAt);
    // The signer verifies the statement over exactly these strings as toISOString writes them: any other form could never verify there.
    const canonicalInstant = (text: string, ms: number) => Number.isFinite(ms) && new Date(ms).toISOString() === text;
    if (!canonicalInstant(statement.signedAt, signedAt) || !canonicalInstant(statement.expiresAt, expiresAt) || expiresAt <= signedAt) {
      throw new DomainError('APPROVAL_INVALID', 'signedAt and expiresAt must be UTC instants as toISOString writes them (YYYY-MM-DDTHH:mm:ss.sssZ), expiresAt later', { reason: 'APPROVAL_WINDOW_INVALID' });
    }
    if (expiresAt <= nowMs) throw new DomainError('APPROVAL_INVALID', `the ${what} has expired`, { reason: 'APPROVAL_EXPIRED' });
    if (signedAt > nowMs + this.clockSkewSeconds * 1000) throw new DomainError('APPROVAL_INVALID', `the ${what} is signed in the future`, { reason: 'APPROVAL_FROM_FUTURE' });
    if (expiresAt - signedAt > this.maxLifetimeSeconds * 1000) throw new DomainError('APPROVAL_INVALID', `the ${what} lives longer than policy allows`, { reason: 'APPROVAL_TOO_LONG' });
    const signature = Buffer.from(statement.signature, 'base64');
    const ok = approver.algorithm === 'ed25519'
      ? verify(null, message, approver.publicKey, signature)
      : verify('sha256', message, { key: approver.publicKey, dsaEncoding: 'der' }, signature);
    if (!ok) throw new DomainError('APPROVAL_INVALID', `${what} by ${approver.id} does not verify under the registered key`, { reason: 'APPROVAL_SIGNATURE_INVALID' });
    return approver;
  }
}
