// AML tipping-off: nothing the exchange (and so the client) is shown may say that a transfer hit
// a sanctions list. These failure codes stay inside the firm (the withdrawal row, its transitions,
// the compliance case); the exchange sees one neutral code, the same one the events feed carries.
export const COMPLIANCE_HOLD = { code: 'COMPLIANCE_HOLD', detail: 'the withdrawal is held for compliance review' } as const;

const CONFIDENTIAL_FAILURE_CODES: ReadonlySet<string> = new Set(['SANCTIONED']);

/** The failure as the exchange may see it. */
export function exchangeFacingFailure(code: string, detail: string | null): { code: string; detail: string | null } {
  return CONFIDENTIAL_FAILURE_CODES.has(code) ? { ...COMPLIANCE_HOLD } : { code, detail };
}
