// The state of the outgoing Travel Rule exchange for one withdrawal, shared by the withdrawal
// pipeline now and the VASP-to-VASP exchange (TRP) later, and the rule for when signing may start.

export const TRAVEL_RULE_STATUSES = ['not_required', 'pending', 'self_hosted_info_held', 'sent', 'acked', 'rejected'] as const;
export type TravelRuleStatus = (typeof TRAVEL_RULE_STATUSES)[number];

/**
 * `internal` is a movement between the firm's own wallets for the same client (sweeps, refills):
 * no originator hands assets to a beneficiary, so no Travel Rule message exists for it.
 */
export type SigningDestinationType = 'vasp' | 'self_hosted' | 'internal' | 'unknown';

/** Allowed status changes; anything else is a bug in the caller. Terminal: acked, rejected, not_required. */
export const TRAVEL_RULE_TRANSITIONS: Readonly<Record<TravelRuleStatus, readonly TravelRuleStatus[]>> = Object.freeze({
  not_required: [],
  pending: ['self_hosted_info_held', 'sent', 'rejected'],
  self_hosted_info_held: [],
  sent: ['acked', 'rejected'],
  acked: [],
  rejected: [],
});

export function canTransition(from: TravelRuleStatus, to: TravelRuleStatus): boolean {
  return TRAVEL_RULE_TRANSITIONS[from]?.includes(to) ?? false;
}

export interface CanSignOptions {
  /**
   * DEVELOPMENT ONLY. The VASP-to-VASP exchange (TRP) is not built yet, so a VASP transfer can
   * never leave `pending`. With this set, `pending` VASP transfers may be signed. It is a plain
   * argument, not read from the environment here, so the pipeline decides and must tie it to its
   * development configuration; production config must refuse it (WDR-05, TR-06).
   */
  unsafeDevelopmentAllowPendingVaspTransfers?: boolean;
}

/**
 * WDR-05: the withdrawal may reach SIGNING only when the Travel Rule data went out (`sent`, or
 * `acked`) for a VASP destination, or the self-hosted information is held (including the ownership
 * proof where required) for a self-hosted one. Unknown destinations and `rejected` never sign;
 * `not_required` signs only for internal movements. Counterparty DD (TR-07) is a separate check.
 */
export function canSign(status: TravelRuleStatus, destinationType: SigningDestinationType, options: CanSignOptions = {}): boolean {
  switch (destinationType) {
    case 'vasp':
      if (status === 'sent' || status === 'acked') return true;
      return status === 'pending' && options.unsafeDevelopmentAllowPendingVaspTransfers === true;
    case 'self_hosted':
      return status === 'self_hosted_info_held';
    case 'internal':
      return status === 'not_required';
    default:
      return false;
  }
}
