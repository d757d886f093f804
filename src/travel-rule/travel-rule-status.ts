// The state of the outgoing Travel Rule exchange for one withdrawal (withdrawals.travel_rule_status),
// shared by the withdrawal pipeline now and the VASP-to-VASP exchange (TRP) later. The gate itself
// (WDR-05: nothing is signed before the data went out or the self-hosted information is held) is
// the pipeline's travel_rule step, src/withdrawals/withdrawal-pipeline.ts; its tests drive that step
// (test/travel-rule/signing-gate.test.ts).

export const TRAVEL_RULE_STATUSES = ['not_required', 'pending', 'self_hosted_info_held', 'sent', 'acked', 'rejected'] as const;
export type TravelRuleStatus = (typeof TRAVEL_RULE_STATUSES)[number];
