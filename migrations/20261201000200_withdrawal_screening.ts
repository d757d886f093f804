// WDR-04 destination screening: a persisted `screening` state before the policy step, the stored
// screening result and its hash on the withdrawal (the hash is also in the signer's intent), and
// frozen holds. A sanctions hit must neither give the client its funds back nor lose them: the
// withdrawal's hold becomes `frozen`. A frozen hold keeps its amount in `accounts.held` (the funds
// stay the client's entitlement, unavailable), is never touched by ledger_expire_holds, cannot be
// voided or posted by the ordinary functions (they act on pending holds only), and leaves that
// state only through ledger_release_frozen_hold, an explicit call that names the case deciding it.
// Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
alter table withdrawals drop constraint withdrawals_state_check;
alter table withdrawals add constraint withdrawals_state_check
  check (state in ('requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast',
                   'confirming', 'completed', 'rejected', 'failed', 'cancelled'));
drop index withdrawals_runnable;
create index withdrawals_runnable on withdrawals (next_run_at)
  where state in ('requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming');

-- The screening record (provider result, outcome, the list versions and content hashes) and the
-- SHA-256 of its canonical JSON, which the intent carries as screeningHash.
alter table withdrawals add column screening jsonb;
alter table withdrawals add column screening_hash text check (screening_hash is null or screening_hash ~ '^[0-9a-f]{64}$');
alter table withdrawals add constraint withdrawals_screening_pair check ((screening is null) = (screening_hash is null));

alter table holds drop constraint holds_state_check;
alter table holds add constraint holds_state_check check (state in ('pending', 'frozen', 'posted', 'voided', 'expired'));
alter table holds drop constraint holds_resolution;
alter table holds add constraint holds_resolution check ((state in ('pending', 'frozen')) = (resolved_at is null));
-- Why and by whom a hold was frozen ({caseId, withdrawalId, reason, actor, at}); null for every other hold.
alter table holds add column frozen jsonb;
alter table holds add constraint holds_frozen_reference check ((state = 'frozen') <= (frozen is not null));

-- Freezes a pending hold (its amount stays held). Idempotent for a hold that is already frozen.
create function ledger_freeze_hold(p_hold_id uuid, p_reference jsonb, p_actor text) returns jsonb
language plpgsql security definer set search_path = public as $$
declare v_hold holds;
begin
  if p_reference is null or coalesce(p_reference->>'caseId', '') = '' then
    perform ledger_raise('BAD_ARGUMENT', 'a hold is frozen only under a case: reference.caseId');
  end if;
  select * into v_hold from holds where id = p_hold_id for update;
  if not found then perform ledger_raise('HOLD_NOT_FOUND', p_hold_id::text); end if;
  if v_hold.state = 'frozen' then
    return jsonb_build_object('holdId', v_hold.id, 'state', 'frozen', 'replayed', true);
  end if;
  if v_hold.state <> 'pending' then
    perform ledger_raise('HOLD_NOT_PENDING', format('hold %s is %s', v_hold.id, v_hold.state));
  end if;
  update holds set state = 'frozen',
    frozen = p_reference || jsonb_build_object('actor', coalesce(p_actor, 'system'), 'at', clock_timestamp())
    where id = v_hold.id;
  perform audit_append(coalesce(p_actor, 'system'), 'ledger.hold.freeze', v_hold.id::text, null, 'ok',
    jsonb_build_object('accountId', v_hold.account_id, 'amount', v_hold.amount::text, 'caseId', p_reference->>'caseId'));
  return jsonb_build_object('holdId', v_hold.id, 'state', 'frozen', 'replayed', false);
end $$;

-- Releases a frozen hold back to the client (voided) when the case that froze it decides so. The
-- only way out of 'frozen'; it must name that case.
create function ledger_release_frozen_hold(p_hold_id uuid, p_case_id uuid, p_actor text) returns jsonb
language plpgsql security definer set search_path = public as $$
declare v_hold holds;
begin
  select * into v_hold from holds where id = p_hold_id for update;
  if not found then perform ledger_raise('HOLD_NOT_FOUND', p_hold_id::text); end if;
  if v_hold.state <> 'frozen' then
    perform ledger_raise('HOLD_NOT_PENDING', format('hold %s is %s, not frozen', v_hold.id, v_hold.state));
  end if;
  if p_case_id is null or v_hold.frozen->>'caseId' <> p_case_id::text then
    perform ledger_raise('BAD_ARGUMENT', format('hold %s was frozen under another case', v_hold.id));
  end if;
  update accounts set held = held - v_hold.amount where id = v_hold.account_id;
  update holds set state = 'voided', resolved_at = clock_timestamp() where id = v_hold.id;
  perform audit_append(coalesce(p_actor, 'system'), 'ledger.hold.release_frozen', v_hold.id::text, null, 'ok',
    jsonb_build_object('accountId', v_hold.account_id, 'amount', v_hold.amount::text, 'caseId', p_case_id::text));
  return jsonb_build_object('holdId', v_hold.id, 'state', 'voided', 'replayed', false);
end $$;

grant execute on function ledger_freeze_hold(uuid, jsonb, text), ledger_release_frozen_hold(uuid, uuid, text) to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
