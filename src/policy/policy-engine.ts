// The withdrawal policy engine: a pure function from (policy, facts) to a decision that explains
// itself. Every rule is evaluated and traced, even after a deny, so the stored decision shows the
// whole picture to an approver or an auditor (STYLE 9). File reading happens only in loadPolicy.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DomainError } from '../platform/errors.ts';
import { decimalToBaseUnits } from '../platform/money.ts';
import { formatUsdCents, usdToCents } from '../pricing/index.ts';
import {
  ASSET_STATES, CLIENT_CLASSIFICATIONS, DESTINATION_TYPES, SOURCE_TIERS, withdrawalPolicySchema,
  type AssetState, type ClientClassification, type ConditionOperator, type DestinationType, type Outcome,
  type PolicyCondition, type PolicyOutcome, type SourceTier, type WithdrawalPolicy,
} from './policy-schema.ts';

export const POLICY_FILE_BYTES_MAX = 1024 * 1024;
const HOUR_MS = 3_600_000;

export interface LoadedPolicy {
  readonly policy: WithdrawalPolicy;
  readonly version: string;
  /** sha256 hex of the exact file bytes; stored with every decision. */
  readonly contentHash: string;
  readonly path: string;
}

export interface PolicyInput {
  asset: string;
  assetDecimals: number;
  assetState: AssetState;
  /** Base units of the asset. */
  amount: bigint;
  /** USD value of this withdrawal, integer cents, rounded up by the price source. */
  usdCents: bigint;
  /** USD value of the client's withdrawals in the last 24 h INCLUDING this one, integer cents. */
  velocity24hUsdCents: bigint;
  client: { id: string; classification: ClientClassification; kzResident: boolean };
  destination: {
    address: string;
    type: DestinationType;
    addressBook: { present: boolean; addedAt?: string };
  };
  sourceTier: SourceTier;
  /** Evaluation time, ISO 8601 with a zone; passed in so that the engine stays pure. */
  now: string;
}

export type TraceValue = string | boolean | readonly string[] | { readonly [key: string]: string | boolean | null };

export interface ConditionTrace {
  op: ConditionOperator;
  expected: TraceValue;
  actual: TraceValue;
  result: boolean;
}

export interface RuleTrace {
  ruleId: string;
  matched: boolean;
  conditions: ConditionTrace[];
}

export interface PolicyDecision {
  outcome: Outcome;
  /** Number of distinct approvals required; 0 unless outcome is require_approvals. */
  approvals: number;
  /** Reason codes of the rules that produced the outcome (or the default's reason). */
  reasons: string[];
  /** Ids of every matching rule, in file order, whatever their outcome. */
  matchedRules: string[];
  trace: RuleTrace[];
  policyVersion: string;
  policyHash: string;
}

function policyError(path: string, message: string, data: Record<string, unknown> = {}): DomainError {
  return new DomainError('CONFIG_INVALID', `withdrawal policy ${path}: ${message}`, { path, ...data });
}

/** Validates policy bytes; `path` only names the source in errors. */
export function parsePolicy(bytes: Uint8Array, path: string): LoadedPolicy {
  if (bytes.byteLength > POLICY_FILE_BYTES_MAX) throw policyError(path, `file is larger than ${POLICY_FILE_BYTES_MAX} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw policyError(path, `not valid JSON: ${(cause as Error).message}`);
  }
  const parsed = withdrawalPolicySchema.safeParse(json);
  if (!parsed.success) {
    throw policyError(path, `invalid:\n${z.prettifyError(parsed.error)}`, { issues: parsed.error.issues });
  }
  const contentHash = createHash('sha256').update(bytes).digest('hex');
  return Object.freeze({ policy: deepFreeze(parsed.data), version: parsed.data.version, contentHash, path });
}

/** Reads and validates a policy file at load time; errors name the path. */
export function loadPolicy(path: string): LoadedPolicy {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw policyError(path, `cannot be read: ${(cause as Error).message}`);
  }
  return parsePolicy(bytes, path);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

function parseInstant(text: unknown, field: string): number {
  const ms = typeof text === 'string' && ISO_INSTANT.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw new DomainError('BAD_ARGUMENT', `${field} must be an ISO 8601 instant with a zone`, { field });
  return ms;
}

function badInput(field: string, message: string): DomainError {
  return new DomainError('BAD_ARGUMENT', `policy input ${field} ${message}`, { field });
}

/** Asserts the facts at the edge: a wrong type here would otherwise quietly not match a rule. */
function assertInput(policy: WithdrawalPolicy, input: PolicyInput): { nowMs: number; addedAtMs: number | undefined } {
  if (typeof input !== 'object' || input === null) throw badInput('input', 'must be an object');
  if (typeof input.asset !== 'string' || !/^[A-Z0-9]{2,12}$/.test(input.asset)) throw badInput('asset', 'must be an asset code');
  if (!Number.isInteger(input.assetDecimals) || input.assetDecimals < 0 || input.assetDecimals > 36) throw badInput('assetDecimals', 'must be an integer 0..36');
  const declared = policy.assetDecimals[input.asset];
  if (declared !== undefined && declared !== input.assetDecimals) {
    throw badInput('assetDecimals', `is ${input.assetDecimals} but the policy assumes ${declared} for ${input.asset}`);
  }
  if (!ASSET_STATES.includes(input.assetState)) throw badInput('assetState', `must be one of ${ASSET_STATES.join(', ')}`);
  for (const field of ['amount', 'usdCents', 'velocity24hUsdCents'] as const) {
    if (typeof input[field] !== 'bigint' || input[field] < 0n) throw badInput(field, 'must be a non-negative bigint');
  }
  if (input.amount === 0n) throw badInput('amount', 'must be greater than zero');
  if (input.velocity24hUsdCents < input.usdCents) throw badInput('velocity24hUsdCents', 'must include this withdrawal (>= usdCents)');
  const client = input.client;
  if (typeof client !== 'object' || client === null || typeof client.id !== 'string' || client.id.length === 0) throw badInput('client.id', 'is required');
  if (!CLIENT_CLASSIFICATIONS.includes(client.classification)) throw badInput('client.classification', `must be one of ${CLIENT_CLASSIFICATIONS.join(', ')}`);
  if (typeof client.kzResident !== 'boolean') throw badInput('client.kzResident', 'must be a boolean');
  const destination = input.destination;
  if (typeof destination !== 'object' || destination === null || typeof destination.address !== 'string' || destination.address.length === 0) {
    throw badInput('destination.address', 'is required');
  }
  if (!DESTINATION_TYPES.includes(destination.type)) throw badInput('destination.type', `must be one of ${DESTINATION_TYPES.join(', ')}`);
  const book = destination.addressBook;
  if (typeof book !== 'object' || book === null || typeof book.present !== 'boolean') throw badInput('destination.addressBook.present', 'must be a boolean');
  const addedAtMs = book.addedAt === undefined ? undefined : parseInstant(book.addedAt, 'destination.addressBook.addedAt');
  if (!SOURCE_TIERS.includes(input.sourceTier)) throw badInput('sourceTier', `must be one of ${SOURCE_TIERS.join(', ')}`);
  return { nowMs: parseInstant(input.now, 'now'), addedAtMs };
}

interface Facts {
  input: PolicyInput;
  nowMs: number;
  addedAtMs: number | undefined;
}

function evaluateCondition(policy: WithdrawalPolicy, condition: PolicyCondition, facts: Facts): ConditionTrace {
  const { input } = facts;
  if (condition.amountGte) {
    const { asset, amount } = condition.amountGte;
    // The schema guarantees the asset is declared; decimals come from the policy, checked against the input.
    const threshold = decimalToBaseUnits(amount, policy.assetDecimals[asset]!, 'amountGte.amount');
    return {
      op: 'amountGte',
      expected: { asset, amount, baseUnits: threshold.toString() },
      actual: { asset: input.asset, baseUnits: input.amount.toString() },
      result: input.asset === asset && input.amount >= threshold,
    };
  }
  if (condition.usdGte !== undefined) {
    const threshold = usdToCents(condition.usdGte, 'usdGte');
    return { op: 'usdGte', expected: formatUsdCents(threshold), actual: formatUsdCents(input.usdCents), result: input.usdCents >= threshold };
  }
  if (condition.usdLt !== undefined) {
    const threshold = usdToCents(condition.usdLt, 'usdLt');
    return { op: 'usdLt', expected: formatUsdCents(threshold), actual: formatUsdCents(input.usdCents), result: input.usdCents < threshold };
  }
  if (condition.velocityUsdGte !== undefined) {
    const threshold = usdToCents(condition.velocityUsdGte, 'velocityUsdGte');
    return {
      op: 'velocityUsdGte', expected: formatUsdCents(threshold), actual: formatUsdCents(input.velocity24hUsdCents),
      result: input.velocity24hUsdCents >= threshold,
    };
  }
  if (condition.destinationNotInAddressBook) {
    const present = input.destination.addressBook.present;
    return { op: 'destinationNotInAddressBook', expected: true, actual: !present, result: !present };
  }
  if (condition.destinationInCoolingOff) {
    const { present, addedAt } = input.destination.addressBook;
    // Fail closed: an entry without a known age, or dated in the future, is treated as new.
    const ageMs = facts.addedAtMs === undefined ? undefined : facts.nowMs - facts.addedAtMs;
    const inCoolingOff = present && (ageMs === undefined || ageMs < policy.coolingOffHours * HOUR_MS);
    return {
      op: 'destinationInCoolingOff',
      expected: { coolingOffHours: String(policy.coolingOffHours) },
      actual: { present, addedAt: addedAt ?? null, ageHours: ageMs === undefined ? null : formatHours(ageMs), inCoolingOff },
      result: inCoolingOff,
    };
  }
  if (condition.classificationIn) {
    const list = condition.classificationIn;
    return { op: 'classificationIn', expected: list, actual: input.client.classification, result: list.includes(input.client.classification) };
  }
  if (condition.kzResident !== undefined) {
    return { op: 'kzResident', expected: condition.kzResident, actual: input.client.kzResident, result: input.client.kzResident === condition.kzResident };
  }
  if (condition.assetStateIn) {
    const list = condition.assetStateIn;
    return { op: 'assetStateIn', expected: list, actual: input.assetState, result: list.includes(input.assetState) };
  }
  if (condition.sourceTier !== undefined) {
    return { op: 'sourceTier', expected: condition.sourceTier, actual: input.sourceTier, result: input.sourceTier === condition.sourceTier };
  }
  if (condition.destinationTypeIn) {
    const list = condition.destinationTypeIn;
    return { op: 'destinationTypeIn', expected: list, actual: input.destination.type, result: list.includes(input.destination.type) };
  }
  // Unreachable for a schema-validated policy; fail closed if a new operator is added without code.
  throw new DomainError('CONFIG_INVALID', `policy condition has no known operator: ${JSON.stringify(condition)}`);
}

/** Hours with two decimals, for the trace only (never compared). */
function formatHours(ms: number): string {
  const centiHours = Math.trunc((ms * 100) / HOUR_MS);
  const sign = centiHours < 0 ? '-' : '';
  const abs = Math.abs(centiHours);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * Pure: the same policy and input always give the same decision. Combination rule: every matching
 * rule counts; deny beats require_approvals, which beats allow; among require_approvals the largest
 * N wins and the reasons of all of them are kept; no matching rule gives the policy's default.
 */
export function evaluate(loaded: LoadedPolicy, input: PolicyInput): PolicyDecision {
  const { policy } = loaded;
  const { nowMs, addedAtMs } = assertInput(policy, input);
  const facts: Facts = { input, nowMs, addedAtMs };

  const trace: RuleTrace[] = [];
  const matched: { id: string; then: PolicyOutcome }[] = [];
  for (const rule of policy.rules) {
    const conditions = rule.when.map((c) => evaluateCondition(policy, c, facts));
    const isMatch = conditions.every((c) => c.result);
    trace.push({ ruleId: rule.id, matched: isMatch, conditions });
    if (isMatch) matched.push({ id: rule.id, then: rule.then });
  }

  const denies = matched.filter((m) => m.then.outcome === 'deny');
  const approvalRules = matched.filter((m) => m.then.outcome === 'require_approvals');
  const allows = matched.filter((m) => m.then.outcome === 'allow');
  let outcome: Outcome;
  let approvals = 0;
  let reasons: string[];
  if (denies.length > 0) {
    outcome = 'deny';
    reasons = unique(denies.map((m) => m.then.reason));
  } else if (approvalRules.length > 0) {
    outcome = 'require_approvals';
    approvals = Math.max(...approvalRules.map((m) => m.then.approvals ?? 0));
    reasons = unique(approvalRules.map((m) => m.then.reason));
  } else if (allows.length > 0) {
    outcome = 'allow';
    reasons = unique(allows.map((m) => m.then.reason));
  } else {
    outcome = policy.default.outcome;
    approvals = policy.default.outcome === 'require_approvals' ? (policy.default.approvals ?? 0) : 0;
    reasons = [policy.default.reason];
  }
  return {
    outcome, approvals, reasons, matchedRules: matched.map((m) => m.id), trace,
    policyVersion: loaded.version, policyHash: loaded.contentHash,
  };
}
