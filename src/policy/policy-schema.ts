// The withdrawal-policy file format: versioned JSON data with a closed set of condition operators.
// No expressions and no code, so a reviewer can read every rule and a fixture table can cover it
// (STYLE 9). Amounts stay decimal strings in the file and become bigint only inside the engine.
import { z } from 'zod';

/** Limits on the file itself (STYLE 10): a policy is reviewed by people, not generated. */
export const POLICY_RULES_MAX = 200;
export const POLICY_CONDITIONS_PER_RULE_MAX = 20;
export const POLICY_APPROVALS_MAX = 10;
export const POLICY_COOLING_OFF_HOURS_MAX = 24 * 90;

export const ASSET_STATES = ['admitted', 'suspended', 'custody_only', 'delisted'] as const;
export const CLIENT_CLASSIFICATIONS = ['retail', 'professional', 'market_counterparty'] as const;
export const DESTINATION_TYPES = ['vasp', 'self_hosted', 'unknown'] as const;
export const SOURCE_TIERS = ['hot', 'cold'] as const;
export const OUTCOMES = ['allow', 'require_approvals', 'deny'] as const;

export type AssetState = (typeof ASSET_STATES)[number];
export type ClientClassification = (typeof CLIENT_CLASSIFICATIONS)[number];
export type DestinationType = (typeof DESTINATION_TYPES)[number];
export type SourceTier = (typeof SOURCE_TIERS)[number];
export type Outcome = (typeof OUTCOMES)[number];

/** Asset codes as in the asset registry (BTC, ETH, USDT …). */
const assetCode = z.string().regex(/^[A-Z0-9]{2,12}$/, 'asset code must be 2..12 upper-case letters or digits');
/** A whole-coin decimal string ("0.5"); converted with the asset's decimals at evaluation. */
const assetAmount = z.string().regex(/^(0|[1-9][0-9]{0,29})(\.[0-9]{1,36})?$/, 'amount must be a decimal string like "0.5"');
/** USD with at most 2 decimals ("10000", "10000.00"); compared in integer cents. */
const usdAmount = z.string().regex(/^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$/, 'USD must be a decimal string with at most 2 decimals, like "10000.00"');
const reasonCode = z.string().regex(/^[A-Z][A-Z0-9_]{2,63}$/, 'reason must be a STABLE_REASON_CODE (upper case, digits, underscores)');
const ruleId = z.string().regex(/^[a-z0-9][a-z0-9-]{1,63}$/, 'rule id must be kebab-case, 2..64 characters');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be YYYY-MM-DD');

function nonEmptyUnique<T extends string>(values: readonly [T, ...T[]]) {
  return z.array(z.enum(values)).min(1).refine((list) => new Set(list).size === list.length, 'values must be unique');
}

/** One condition = an object with exactly one operator key. */
const conditionObject = z.strictObject({
  amountGte: z.strictObject({ asset: assetCode, amount: assetAmount }).optional(),
  usdGte: usdAmount.optional(),
  usdLt: usdAmount.optional(),
  velocityUsdGte: usdAmount.optional(),
  destinationNotInAddressBook: z.literal(true).optional(),
  destinationInCoolingOff: z.literal(true).optional(),
  classificationIn: nonEmptyUnique(CLIENT_CLASSIFICATIONS).optional(),
  kzResident: z.boolean().optional(),
  assetStateIn: nonEmptyUnique(ASSET_STATES).optional(),
  sourceTier: z.enum(SOURCE_TIERS).optional(),
  destinationTypeIn: nonEmptyUnique(DESTINATION_TYPES).optional(),
});

export const CONDITION_OPERATORS = Object.keys(conditionObject.shape) as readonly ConditionOperator[];
export type ConditionOperator = keyof z.infer<typeof conditionObject>;

export const conditionSchema = conditionObject.refine(
  (c) => Object.values(c).filter((v) => v !== undefined).length === 1,
  { message: `a condition must have exactly one operator, one of: ${Object.keys(conditionObject.shape).join(', ')}` },
);
export type PolicyCondition = z.infer<typeof conditionSchema>;

export const outcomeSchema = z.strictObject({
  outcome: z.enum(OUTCOMES),
  approvals: z.number().int().min(1).max(POLICY_APPROVALS_MAX).optional(),
  reason: reasonCode,
}).superRefine((then, ctx) => {
  if (then.outcome === 'require_approvals' && then.approvals === undefined) {
    ctx.addIssue({ code: 'custom', path: ['approvals'], message: 'require_approvals needs approvals (1..10)' });
  }
  if (then.outcome !== 'require_approvals' && then.approvals !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['approvals'], message: `approvals is only allowed with require_approvals, not ${then.outcome}` });
  }
});
export type PolicyOutcome = z.infer<typeof outcomeSchema>;

export const ruleSchema = z.strictObject({
  id: ruleId,
  description: z.string().min(1).max(1000),
  /** Requirement IDs the rule implements (WDR-06 …), for the trace and the fixture names. */
  requirements: z.array(z.string().regex(/^[A-Z]{2,5}-[0-9]{2}$/)).max(10).optional(),
  when: z.array(conditionSchema).min(1).max(POLICY_CONDITIONS_PER_RULE_MAX),
  then: outcomeSchema,
});
export type PolicyRule = z.infer<typeof ruleSchema>;

export const withdrawalPolicySchema = z.strictObject({
  $schema: z.string().optional(),
  kind: z.literal('withdrawal-policy'),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'version must be 1..64 of A-Z a-z 0-9 . _ -'),
  description: z.string().min(1).max(4000),
  /** WAL-03: limits carry an owner, an approver, an effective date and a review date ≤ 12 months ahead. */
  review: z.strictObject({
    owner: z.string().min(1),
    approvedBy: z.string().min(1),
    effectiveFrom: isoDate,
    nextReviewDate: isoDate,
  }).refine((r) => {
    const from = Date.parse(`${r.effectiveFrom}T00:00:00Z`);
    const next = Date.parse(`${r.nextReviewDate}T00:00:00Z`);
    return next > from && next <= from + 366 * 24 * 3600 * 1000;
  }, { message: 'nextReviewDate must be after effectiveFrom and at most 12 months later (WAL-03)' }),
  /** An address-book entry younger than this is "in cooling-off". */
  coolingOffHours: z.number().int().min(0).max(POLICY_COOLING_OFF_HOURS_MAX),
  /**
   * Decimals per asset as the policy author assumed them; an evaluation whose input disagrees is
   * refused, so "0.5 BTC" can never silently mean 0.5 of some other unit.
   */
  assetDecimals: z.record(assetCode, z.number().int().min(0).max(36)),
  default: outcomeSchema,
  rules: z.array(ruleSchema).min(1).max(POLICY_RULES_MAX),
}).superRefine((policy, ctx) => {
  const seen = new Set<string>();
  policy.rules.forEach((rule, i) => {
    if (seen.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${rule.id}` });
    seen.add(rule.id);
    rule.when.forEach((c, j) => {
      if (!c.amountGte) return;
      const decimals = policy.assetDecimals[c.amountGte.asset];
      const path = ['rules', i, 'when', j, 'amountGte'];
      if (decimals === undefined) {
        ctx.addIssue({ code: 'custom', path, message: `asset ${c.amountGte.asset} is not listed in assetDecimals` });
      } else if ((c.amountGte.amount.split('.')[1] ?? '').length > decimals) {
        ctx.addIssue({ code: 'custom', path, message: `amount has more than ${decimals} decimals for ${c.amountGte.asset}` });
      }
    });
  });
});
export type WithdrawalPolicy = z.infer<typeof withdrawalPolicySchema>;
