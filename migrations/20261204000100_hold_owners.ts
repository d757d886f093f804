// Holds have an owner, and only the owner ends them (SEG-05, WDR-03). A hold placed by the
// exchange (pre-trade) is the exchange's; a withdrawal's hold belongs to that withdrawal (and later
// rebalancing and settlement own theirs). `owner` is `<purpose>` or `<purpose>:<id>`; `purpose` is
// derived from it. Voiding or posting names the owner, and the database refuses any other with
// HOLD_NOT_OWNER. The application role can no longer call the owner-blind ledger_release_hold.
//
// A hold can also be committed: once its withdrawal's transaction is signed the coins may leave at
// any moment, so the hold no longer expires (ledger_expire_holds and the posting check skip it)
// until its owner posts or voids it.
// Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
alter table holds add column owner text not null default 'exchange'
  check (owner ~ '^(exchange|withdrawal|rebalancing|settlement)(:[A-Za-z0-9._:-]{1,200}){0,1}$');
alter table holds add column purpose text generated always as (split_part(owner, ':', 1)) stored;
alter table holds add column committed_at timestamptz;
alter table holds add constraint holds_committed_pending check (committed_at is null or state <> 'expired');

-- Holds of withdrawals already in flight belong to their withdrawal; those signed are committed.
update holds h set owner = 'withdrawal:' || w.id from withdrawals w where w.hold_id = h.id;
update holds h set committed_at = w.updated_at from withdrawals w
  where w.hold_id = h.id and h.state = 'pending' and w.signed_tx is not null;

-- The hold, locked, for its owner: HOLD_NOT_FOUND, or HOLD_NOT_OWNER for anyone else.
create function ledger_lock_owned_hold(p_hold_id uuid, p_owner text) returns holds language plpgsql as $$
declare v_hold holds;
begin
  select * into v_hold from holds where id = p_hold_id for update;
  if not found then perform ledger_raise('HOLD_NOT_FOUND', coalesce(p_hold_id::text, '')); end if;
  if p_owner is null or v_hold.owner <> p_owner then
    perform ledger_raise('HOLD_NOT_OWNER', format('hold %s belongs to %s: only its owner may end it', v_hold.id, split_part(v_hold.owner, ':', 1)));
  end if;
  return v_hold;
end $$;

create or replace function ledger_place_hold(p jsonb) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  v_hold holds;
  v_amount numeric(78,0) := (p->>'amount')::numeric(78,0);
  v_acct accounts;
  v_client_state text;
begin
  if v_amount is null or v_amount <= 0 then
    perform ledger_raise('BAD_ARGUMENT', 'a hold amount must be a positive integer');
  end if;
  if coalesce(p->>'owner', '') !~ '^(exchange|withdrawal|rebalancing|settlement)(:[A-Za-z0-9._:-]{1,200}){0,1}$' then
    perform ledger_raise('BAD_ARGUMENT', 'a hold needs an owner');
  end if;
  insert into holds (idempotency_id, account_id, amount, state, reference, request_hash, expires_at, owner)
    values (p->>'idempotencyId', (p->>'accountId')::bigint, v_amount, 'pending',
            coalesce(p->'reference', '{}'::jsonb), p->>'requestHash', (p->>'expiresAt')::timestamptz, p->>'owner')
    on conflict (idempotency_id) do nothing
    returning * into v_hold;
  if v_hold.id is null then
    select * into v_hold from holds where idempotency_id = p->>'idempotencyId';
    if v_hold.request_hash <> p->>'requestHash' or v_hold.owner <> p->>'owner' then
      perform ledger_raise('IDEMPOTENCY_CONFLICT', 'this idempotency id was used for another hold');
    end if;
    return ledger_hold_json(v_hold) || '{"replayed": true}'::jsonb;
  end if;
  select * into v_acct from accounts where id = v_hold.account_id;
  if v_acct.may_go_negative or v_acct.book <> 'entitlement' then
    perform ledger_raise('HOLD_NOT_ALLOWED', 'holds are placed on bounded entitlement accounts only');
  end if;
  if v_acct.client_id is not null then
    select state into v_client_state from clients where id = v_acct.client_id;
    if v_client_state <> 'active' then
      perform ledger_raise('CLIENT_NOT_ACTIVE', format('client %s is %s', v_acct.client_id, v_client_state));
    end if;
  end if;
  update accounts set held = held + v_amount where id = v_hold.account_id and balance - held >= v_amount;
  if not found then
    perform ledger_raise('INSUFFICIENT_FUNDS', format('account %s cannot cover a hold of %s', v_hold.account_id, v_amount));
  end if;
  perform audit_append(coalesce(p->>'actor', 'system'), 'ledger.hold.place', v_hold.id::text, p->>'requestHash', 'ok',
    jsonb_build_object('accountId', v_hold.account_id, 'amount', v_amount::text, 'owner', v_hold.owner));
  return ledger_hold_json(v_hold) || '{"replayed": false}'::jsonb;
end $$;

-- Voids a pending (or committed) hold for its owner. Idempotent for a hold already voided.
create function ledger_void_hold(p_hold_id uuid, p_owner text, p_actor text) returns jsonb
language plpgsql security definer set search_path = public as $$
declare v_hold holds;
begin
  v_hold := ledger_lock_owned_hold(p_hold_id, p_owner);
  return ledger_release_hold(p_hold_id, 'voided', p_actor);
end $$;

-- Commits a pending hold: it no longer expires. Only its owner; idempotent.
create function ledger_commit_hold(p_hold_id uuid, p_owner text, p_actor text) returns jsonb
language plpgsql security definer set search_path = public as $$
declare v_hold holds;
begin
  v_hold := ledger_lock_owned_hold(p_hold_id, p_owner);
  if v_hold.state <> 'pending' then
    perform ledger_raise('HOLD_NOT_PENDING', format('hold %s is %s', v_hold.id, v_hold.state));
  end if;
  if v_hold.committed_at is not null then
    return jsonb_build_object('holdId', v_hold.id, 'committedAt', v_hold.committed_at, 'replayed', true);
  end if;
  if v_hold.expires_at <= clock_timestamp() then
    perform ledger_raise('HOLD_EXPIRED', format('hold %s expired at %s', v_hold.id, v_hold.expires_at));
  end if;
  update holds set committed_at = clock_timestamp() where id = v_hold.id returning * into v_hold;
  perform audit_append(coalesce(p_actor, 'system'), 'ledger.hold.commit', v_hold.id::text, null, 'ok',
    jsonb_build_object('accountId', v_hold.account_id, 'amount', v_hold.amount::text, 'owner', v_hold.owner));
  return jsonb_build_object('holdId', v_hold.id, 'committedAt', v_hold.committed_at, 'replayed', false);
end $$;

create or replace function ledger_post_hold(p jsonb) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  v_hold holds;
  v_debit numeric(78,0);
  v_result jsonb;
begin
  v_hold := ledger_lock_owned_hold((p->>'holdId')::uuid, p->>'owner');
  if v_hold.state = 'posted' then
    if exists (select 1 from journal_entries e where e.id = v_hold.entry_id and e.idempotency_id = p->>'idempotencyId'
               and e.request_hash = p->>'requestHash') then
      return jsonb_build_object('holdId', v_hold.id, 'entryId', v_hold.entry_id, 'postedAmount', v_hold.posted_amount::text, 'replayed', true);
    end if;
    perform ledger_raise('HOLD_NOT_PENDING', format('hold %s is posted', v_hold.id));
  end if;
  if v_hold.state <> 'pending' then
    perform ledger_raise('HOLD_NOT_PENDING', format('hold %s is %s', v_hold.id, v_hold.state));
  end if;
  if v_hold.committed_at is null and v_hold.expires_at <= clock_timestamp() then
    perform ledger_raise('HOLD_EXPIRED', format('hold %s expired at %s', v_hold.id, v_hold.expires_at));
  end if;
  select -sum((e->>'amount')::numeric(78,0)) into v_debit from jsonb_array_elements(p->'postings') e
    where (e->>'accountId')::bigint = v_hold.account_id;
  if v_debit is null or v_debit <= 0 or v_debit > v_hold.amount then
    perform ledger_raise('HOLD_AMOUNT_EXCEEDED', format('the entry must debit the held account by 1..%s', v_hold.amount));
  end if;
  update accounts set held = held - v_hold.amount where id = v_hold.account_id;
  v_result := ledger_post_entry(p);
  if (v_result->>'replayed')::boolean then
    perform ledger_raise('IDEMPOTENCY_CONFLICT', 'this entry idempotency id was already used');
  end if;
  update holds set state = 'posted', posted_amount = v_debit, entry_id = (v_result->>'entryId')::bigint,
    resolved_at = clock_timestamp() where id = v_hold.id;
  return jsonb_build_object('holdId', v_hold.id, 'entryId', (v_result->>'entryId')::bigint, 'postedAmount', v_debit::text, 'replayed', false);
end $$;

-- A committed hold never expires: its transaction may still confirm.
create or replace function ledger_expire_holds(p_max integer) returns integer
language plpgsql security definer set search_path = public as $$
declare h record; n integer := 0;
begin
  for h in select id from holds where state = 'pending' and committed_at is null and expires_at <= clock_timestamp()
           order by expires_at limit least(greatest(p_max, 1), 10000) for update skip locked loop
    perform ledger_release_hold(h.id, 'expired', 'system:expiry');
    n := n + 1;
  end loop;
  return n;
end $$;
drop index holds_pending_expiry;
create index holds_pending_expiry on holds (expires_at) where state = 'pending' and committed_at is null;

-- Freezing (a sanctions hit) is done by the hold's owner too.
create function ledger_freeze_hold(p_hold_id uuid, p_owner text, p_reference jsonb, p_actor text) returns jsonb
language plpgsql security definer set search_path = public as $$
declare v_hold holds;
begin
  v_hold := ledger_lock_owned_hold(p_hold_id, p_owner);
  return ledger_freeze_hold(p_hold_id, p_reference, p_actor);
end $$;

revoke execute on function ledger_release_hold(uuid, text, text) from amanat_app;
revoke execute on function ledger_release_hold(uuid, text, text) from public;
revoke execute on function ledger_freeze_hold(uuid, jsonb, text) from amanat_app;
revoke execute on function ledger_freeze_hold(uuid, jsonb, text) from public;
grant execute on function ledger_void_hold(uuid, text, text), ledger_commit_hold(uuid, text, text),
  ledger_freeze_hold(uuid, text, jsonb, text) to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
