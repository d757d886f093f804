// Policy: versioned withdrawal-policy files and the pure engine that evaluates them. Other
// contexts import from here.
export {
  evaluate, loadPolicy, parsePolicy, POLICY_FILE_BYTES_MAX,
  type LoadedPolicy, type PolicyInput, type PolicyDecision, type RuleTrace, type ConditionTrace, type TraceValue,
} from './policy-engine.ts';
export {
  withdrawalPolicySchema, CONDITION_OPERATORS, ASSET_STATES, CLIENT_CLASSIFICATIONS, DESTINATION_TYPES, SOURCE_TIERS, OUTCOMES,
  POLICY_RULES_MAX, POLICY_CONDITIONS_PER_RULE_MAX, POLICY_APPROVALS_MAX, POLICY_COOLING_OFF_HOURS_MAX,
  type WithdrawalPolicy, type PolicyRule, type PolicyCondition, type PolicyOutcome, type ConditionOperator,
  type AssetState, type ClientClassification, type DestinationType, type SourceTier, type Outcome,
} from './policy-schema.ts';
