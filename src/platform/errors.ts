// Domain errors carry a stable code and data and know nothing of HTTP; src/api/http-errors.ts
// maps codes to statuses in one place.
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'IDEMPOTENCY_KEY_REQUIRED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'IDEMPOTENCY_CONFLICT'
  | 'INSUFFICIENT_FUNDS'
  | 'ACCOUNT_NOT_FOUND'
  | 'CLIENT_NOT_FOUND'
  | 'CLIENT_EXISTS'
  | 'CLIENT_NOT_ACTIVE'
  | 'CASE_NOT_FOUND'
  | 'CASE_STATE'
  | 'ASSET_NOT_FOUND'
  | 'ASSET_NOT_ACTIVE'
  | 'AMOUNT_INVALID'
  | 'HOLD_NOT_FOUND'
  | 'HOLD_NOT_PENDING'
  | 'HOLD_NOT_OWNER'
  | 'HOLD_EXPIRED'
  | 'HOLD_AMOUNT_EXCEEDED'
  | 'HOLD_NOT_ALLOWED'
  | 'UNBALANCED_ENTRY'
  | 'CROSS_ROOT_NOT_ALLOWED'
  | 'ENTRY_POSTINGS_COUNT'
  | 'ENTRY_BAD_POSTING'
  | 'API_KEY_NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'METHOD_NOT_ALLOWED'
  | 'BAD_ARGUMENT'
  | 'CONFIG_INVALID'
  | 'WALLET_NOT_FOUND'
  | 'WALLET_NOT_ACTIVE'
  | 'WALLET_NOT_EMPTY'
  | 'WALLET_STATE_TRANSITION'
  | 'SIGNER_UNAVAILABLE'
  | 'CHAIN_UNAVAILABLE'
  | 'DATABASE_UNAVAILABLE'
  | 'GAS_STATION_EMPTY'
  | 'PRICE_STALE'
  | 'ADDRESS_INVALID'
  | 'ADDRESS_WRONG_NETWORK'
  | 'APPROVAL_INVALID'
  | 'QUOTE_NOT_FOUND'
  | 'QUOTE_EXPIRED'
  | 'CONSENT_REQUIRED'
  | 'WITHDRAWAL_NOT_FOUND'
  | 'WITHDRAWAL_STATE'
  | 'POLICY_DENIED'
  | 'TRAVEL_RULE_INCOMPLETE'
  | 'OWNERSHIP_PROOF_REQUIRED'
  | 'ORIGINATOR_NOT_VERIFIED'
  | 'INCIDENT_NOT_FOUND'
  | 'INCIDENT_STATE'
  | 'INCIDENT_REFERENCE_REQUIRED'
  | 'AFFILIATE_DESTINATION_EXISTS'
  | 'CROSS_CLIENT_TRANSFER'
  | 'HOT_CAP_EXCEEDED'
  | 'RATIO_CONFIG_NOT_FOUND'
  | 'RATIO_CONFIG_STATE'
  | 'CHECKER_REQUIRED'
  | 'REPORT_CONFLICT'
  | 'REPORT_NOT_FOUND'
  | 'PROOF_NOT_FOUND'
  | 'SIGNER_NOT_CONFIGURED'
  | 'INTERNAL';

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.data = data;
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

/** Stable codes raised by the ledger's SQL functions as `CODE: detail` (errcode P0001). */
const SQL_CODES = new Set<string>([
  'INSUFFICIENT_FUNDS', 'ACCOUNT_NOT_FOUND', 'IDEMPOTENCY_CONFLICT', 'HOLD_NOT_FOUND', 'HOLD_NOT_PENDING', 'HOLD_NOT_OWNER',
  'HOLD_EXPIRED', 'HOLD_AMOUNT_EXCEEDED', 'HOLD_NOT_ALLOWED', 'UNBALANCED_ENTRY', 'CROSS_ROOT_NOT_ALLOWED',
  'ENTRY_POSTINGS_COUNT', 'ENTRY_BAD_POSTING', 'BAD_ARGUMENT', 'CLIENT_NOT_ACTIVE',
]);

/** Turns a Postgres error raised by our functions into a DomainError; returns undefined otherwise. */
export function domainErrorFromPg(error: unknown): DomainError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: string; message?: string };
  if (e.code === 'P0001' && typeof e.message === 'string') {
    const match = /^([A-Z_]+): ?(.*)$/s.exec(e.message);
    if (match && SQL_CODES.has(match[1]!)) return new DomainError(match[1] as ErrorCode, match[2] ?? '');
  }
  // The balance CHECK constraints are the last line of defence; report them as what they mean.
  if (e.code === '23514' && typeof e.message === 'string' && e.message.includes('accounts_no_overdraft')) {
    return new DomainError('INSUFFICIENT_FUNDS', 'the balance cannot cover this');
  }
  // invalid_text_representation / numeric out of range on user-supplied values
  // 22021/22P05: bytes or escapes Postgres text cannot hold
  if (e.code === '22P02' || e.code === '22003' || e.code === '22021' || e.code === '22P05') return new DomainError('BAD_ARGUMENT', 'a value is out of range or malformed');
  return undefined;
}
