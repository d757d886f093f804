// Every refusal carries a stable code. The HTTP edge (server.ts) is the only place that maps
// codes to statuses; checks throw SignerError and know nothing of HTTP.

const statusByCode: Record<string, number> = {
  INVALID_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  NOT_FOUND: 404,
  KEY_UNKNOWN: 404,
  REPLAY_CONFLICT: 409,
  REQUEST_IN_FLIGHT: 409,
  APPROVALS_REQUIRED: 403,
  APPROVALS_BELOW_QUORUM: 403,
  APPROVAL_BY_INITIATOR: 403,
  APPROVAL_EXPIRED: 403,
  APPROVAL_NOT_YET_VALID: 403,
  APPROVAL_LIFETIME_TOO_LONG: 403,
  APPROVAL_TIME_INVALID: 403,
  APPROVAL_INTENT_MISMATCH: 403,
  APPROVAL_SIGNATURE_INVALID: 403,
  APPROVER_UNKNOWN: 403,
  KEY_NOT_EXTRACTABLE: 403,
  BACKUP_NOT_CONFIGURED: 409,
  HSM_ERROR: 502,
};

export class SignerError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SignerError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    // Anything not listed is a check that failed on a well-formed request.
    return statusByCode[this.code] ?? 422;
  }
}

export function refuse(code: string, message: string, details?: Record<string, unknown>): never {
  throw new SignerError(code, message, details);
}
