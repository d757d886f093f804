// The withdrawal intent and its canonical hash. This file is self-contained within the signer
// (node:crypto, ./canonical-json.js, ./errors.ts; nothing from the service) so the API side can
// import it unchanged: both sides must compute the same hash, byte for byte.
//
// Canonical JSON (version 1) is ./canonical-json.js, the one implementation the signer, the service
// and the treasury console all run (its header has the rules): sorted keys, no whitespace,
// undefined members dropped, bigint as a decimal string; numbers, Dates, non-NFC strings and lone
// surrogates are refused (amounts travel as decimal strings; a float must never enter a hash).
// intentHash = lowercase hex SHA-256 of the UTF-8 bytes of canonicalJson(intent).
//
// An approval signs canonicalJson({ type: 'amanat-approval-v1', intentHash, approverId, signedAt,
// expiresAt }) so that neither the intent nor the expiry can be changed after the officer signed.
import { createHash } from 'node:crypto';
import { canonicalJson, CanonicalJsonError } from './canonical-json.js';
import { refuse } from './errors.ts';

export { canonicalJson, CanonicalJsonError };

export interface IntentOutput {
  /** Address as the chain writes it (bech32 for BTC, 0x… for ETH). */
  address: string;
  /** Base units as a decimal string: satoshi, wei or token units. */
  amount: string;
  /** For tier moves (sweep/refill): the signer key behind the address. */
  keyId?: string;
}

export interface Intent {
  intentId: string;
  chain: 'bitcoin' | 'ethereum';
  /** bitcoin: mainnet | testnet | regtest | bcoin-regtest; ethereum: chain id as decimal string. */
  network: string;
  asset: string;
  /** ERC-20 only: the token contract address. */
  tokenContract?: string;
  clientId: string;
  /** User id of the person who requested the movement; may never approve it. */
  initiator: string;
  /** The primary source key: the one named in the answer and the replay log; decides the tier. */
  sourceKeyId: string;
  /**
   * BTC only, optional: every key whose UTXOs this transaction may spend (one HSM key per deposit
   * address). 1..250 distinct ids, must include `sourceKeyId`; every key must belong to `clientId`
   * and live in the same token (tier) as `sourceKeyId`. Absent means `[sourceKeyId]`. Hashed in the
   * order given (not sorted): the API must send the same array the approvers saw. An ethereum intent
   * may carry at most `[sourceKeyId]`.
   */
  sourceKeyIds?: string[];
  /** withdrawal (default) pays third parties; sweep/refill move between the same client's wallets. */
  purpose?: 'withdrawal' | 'sweep' | 'refill';
  outputs: IntentOutput[];
  /** BTC only: where change goes; must be a key of the same client (HOT-03). */
  change?: { address: string; keyId?: string };
  /** BTC: max total fee in satoshi. ETH: max gasLimit * maxFeePerGas in wei. */
  feeCap: string;
  /** ISO 8601 instant after which the signer refuses the intent. */
  expiresAt: string;
  /**
   * Optional: SHA-256 (64 lowercase hex) of the destination screening the API ran (WDR-04). The
   * signer does not interpret it; it is hashed like every other field, so treasury approvals and
   * the signature (and the replay log) are bound to that screening result. Absent = the intent and
   * its hash are as before.
   */
  screeningHash?: string;
}

export type CanonicalValue =
  | string | boolean | null | bigint | undefined
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The intent's hash. An intent without canonical JSON (a number, a non-NFC string, …) is refused
 * INVALID_INTENT (a SignerError): nothing is signed for it, and the signer answers a refusal, not a 500.
 */
export function intentHash(intent: Intent): string {
  let json: string;
  try {
    json = canonicalJson(intent);
  } catch (error) {
    if (error instanceof CanonicalJsonError) refuse('INVALID_INTENT', `the intent has no canonical JSON: ${error.message}`, { reason: error.reason, path: error.path });
    throw error;
  }
  return sha256Hex(json);
}

export interface ApprovalStatement {
  intentHash: string;
  approverId: string;
  signedAt: string;
  expiresAt: string;
}

/** The exact bytes an approver signs (Ed25519 directly; P-256 as ECDSA with SHA-256). */
export function approvalMessage(statement: ApprovalStatement): Buffer {
  return Buffer.from(canonicalJson({ type: 'amanat-approval-v1', ...statement }), 'utf8');
}
