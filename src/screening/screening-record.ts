// What the pipeline makes of a screening result (WDR-04), as a pure function: the outcome, the
// destination type the Travel Rule and the policy go by, and the record that is stored on the
// withdrawal and hashed into the signer's intent (screeningHash), so treasury approvals and the
// signature cover exactly the screening the approvers were shown.
import { hashOf } from '../platform/canonical.ts';
import type { ScreeningResult } from './screening-provider.ts';

/** In this order of precedence: a sanctions hit beats everything, then privacy devices, then the risk score. */
export type ScreeningOutcome = 'sanctioned' | 'privacy_device' | 'high_risk' | 'clear';

export interface ScreeningRecord {
  version: 1;
  result: ScreeningResult;
  outcome: ScreeningOutcome;
  /** The threshold applied: riskScore at or above it is high risk. */
  highRiskScore: number;
  /** What the request said. */
  declaredDestinationType: 'vasp' | 'self_hosted';
  /** What the Travel Rule and the policy go by. */
  destinationType: 'vasp' | 'self_hosted';
  /** The screening positively contradicts the request (a directory VASP declared self-hosted, or the reverse). */
  classificationMismatch: boolean;
}

export function screeningOutcome(result: ScreeningResult, highRiskScore: number): ScreeningOutcome {
  if (result.sanctioned) return 'sanctioned';
  if (result.privacyDevice) return 'privacy_device';
  if (result.riskScore >= highRiskScore) return 'high_risk';
  return 'clear';
}

/**
 * The stricter obligation wins: the transfer is VASP-bound if the request or the VASP directory
 * says so. A directory VASP declared self-hosted must go through the VASP-to-VASP Travel Rule
 * exchange (a self-hosted ownership proof is no substitute); a declared VASP that analytics calls
 * self-hosted stays VASP-bound (the Travel Rule exchange then finds no counterparty and it waits,
 * visible to compliance), never quietly downgraded to the lighter self-hosted treatment.
 */
export function effectiveDestinationType(declared: 'vasp' | 'self_hosted', result: ScreeningResult): { destinationType: 'vasp' | 'self_hosted'; mismatch: boolean } {
  const destinationType = declared === 'vasp' || result.classification === 'vasp' ? 'vasp' : 'self_hosted';
  const mismatch = result.classification !== 'unknown' && result.classification !== declared;
  return { destinationType, mismatch };
}

export function buildScreeningRecord(result: ScreeningResult, input: { declaredDestinationType: 'vasp' | 'self_hosted'; highRiskScore: number }): ScreeningRecord {
  if (!Number.isInteger(result.riskScore) || result.riskScore < 0 || result.riskScore > 100) {
    throw new RangeError(`screening: riskScore must be an integer 0..100, got ${String(result.riskScore)}`);
  }
  if (!Number.isInteger(input.highRiskScore) || input.highRiskScore < 1 || input.highRiskScore > 100) {
    throw new RangeError(`screening: highRiskScore must be an integer 1..100, got ${String(input.highRiskScore)}`);
  }
  const { destinationType, mismatch } = effectiveDestinationType(input.declaredDestinationType, result);
  return {
    version: 1, result, outcome: screeningOutcome(result, input.highRiskScore), highRiskScore: input.highRiskScore,
    declaredDestinationType: input.declaredDestinationType, destinationType, classificationMismatch: mismatch,
  };
}

/**
 * SHA-256 (hex) of the record's canonical JSON (sorted keys, no whitespace). The same value after a
 * round trip through Postgres jsonb, which reorders keys: the intent carries it as screeningHash.
 */
export function screeningHash(record: ScreeningRecord | Record<string, unknown>): string {
  return hashOf(record);
}
