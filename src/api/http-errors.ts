// The one place where error codes become HTTP statuses (RFC 9457 problem+json).
import type { ErrorCode } from '../platform/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400, BAD_ARGUMENT: 400, AMOUNT_INVALID: 400, IDEMPOTENCY_KEY_REQUIRED: 400,
  UNAUTHENTICATED: 401, FORBIDDEN: 403,
  NOT_FOUND: 404, ACCOUNT_NOT_FOUND: 404, CLIENT_NOT_FOUND: 404, ASSET_NOT_FOUND: 404, HOLD_NOT_FOUND: 404, API_KEY_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CLIENT_EXISTS: 409, INSUFFICIENT_FUNDS: 409, HOLD_NOT_PENDING: 409, HOLD_NOT_OWNER: 409, HOLD_EXPIRED: 409, ASSET_NOT_ACTIVE: 409, CLIENT_NOT_ACTIVE: 409,
  PAYLOAD_TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422, IDEMPOTENCY_CONFLICT: 422, HOLD_AMOUNT_EXCEEDED: 422, HOLD_NOT_ALLOWED: 422,
  UNBALANCED_ENTRY: 422, CROSS_ROOT_NOT_ALLOWED: 422, ENTRY_POSTINGS_COUNT: 422, ENTRY_BAD_POSTING: 422,
  WALLET_NOT_FOUND: 404, WALLET_NOT_ACTIVE: 409, WALLET_NOT_EMPTY: 409, WALLET_STATE_TRANSITION: 409,
  SIGNER_UNAVAILABLE: 503, CHAIN_UNAVAILABLE: 503, DATABASE_UNAVAILABLE: 503, GAS_STATION_EMPTY: 503, ADDRESS_INVALID: 400, ADDRESS_WRONG_NETWORK: 400,
  APPROVAL_INVALID: 422, QUOTE_NOT_FOUND: 404, QUOTE_EXPIRED: 409, CONSENT_REQUIRED: 400, WITHDRAWAL_NOT_FOUND: 404,
  WITHDRAWAL_STATE: 409, CASE_NOT_FOUND: 404, CASE_STATE: 409, POLICY_DENIED: 422, TRAVEL_RULE_INCOMPLETE: 422, OWNERSHIP_PROOF_REQUIRED: 422, ORIGINATOR_NOT_VERIFIED: 422,
  // The price feed is behind: the request is fine, the quote waits for a fresh price.
  PRICE_STALE: 503,
  CONFIG_INVALID: 500, INTERNAL: 500,
};

export function statusFor(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  [extra: string]: unknown;
}

export function problem(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  const status = statusFor(code);
  return { type: `urn:amanat:problem:${code.toLowerCase().replace(/_/g, '-')}`, title: code, status, code, detail, ...extra };
}
