// Foundation schema: asset registry, clients, accounts (two roots, two books), the append-only
// double-entry journal, two-phase holds, API keys, HTTP idempotency and the hash-chained audit log.
//
// The ledger's rules live in the database, not only in code:
//  - the application role (amanat_app) may SELECT, but cannot INSERT/UPDATE/DELETE journal rows,
//    account balances or holds directly: it must call the SECURITY DEFINER ledger_* functions,
//    which validate every entry (zero-sum per asset and book, cross-root allow-list, funds);
//  - CHECK constraints forbid negative or over-held balances on every account that is not
//    explicitly an external/suspense account, and client-trust accounts can never be one;
//  - triggers reject UPDATE/DELETE/TRUNCATE on journal_entries, postings, audit_log, audit_chain
//    for every role, owner included.
// Append-only: never edit this file once landed; add a new migration instead.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'amanat_app') then
    create role amanat_app nologin;
  end if;
end $$;

create function reject_mutation() returns trigger language plpgsql as $$
begin
  raise exception 'IMMUTABLE: % on % is not allowed (append-only)', tg_op, tg_table_name
    using errcode = 'P0001';
end $$;

-- Asset registry: data, not code.
create table assets (
  code text primary key check (code ~ '^[A-Z0-9]{2,12}$'),
  chain text not null check (chain in ('bitcoin', 'ethereum')),
  name text not null,
  decimals integer not null check (decimals between 0 and 36),
  contract_address text,
  state text not null check (state in ('admitted', 'suspended', 'custody_only', 'delisted')),
  capabilities jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
insert into assets (code, chain, name, decimals, contract_address, state, capabilities) values
  ('BTC', 'bitcoin', 'Bitcoin', 8, null, 'admitted', '{"model":"utxo","confirmations":3}'),
  ('ETH', 'ethereum', 'Ether', 18, null, 'admitted', '{"model":"account","confirmations":12}'),
  ('USDT', 'ethereum', 'Tether USD (ERC-20)', 6, null, 'admitted', '{"model":"account","standard":"erc20","confirmations":12}');

create table clients (
  id uuid primary key default gen_random_uuid(),
  external_ref text not null unique check (length(external_ref) between 1 and 128),
  classification text not null check (classification in ('retail', 'professional', 'market_counterparty')),
  kz_resident boolean not null,
  state text not null default 'active' check (state in ('active', 'frozen', 'closed')),
  created_at timestamptz not null default now()
);

-- Two roots (client_trust, house) plus the external counterparty; two books: the entitlement
-- (what a client owns) and the wallet holdings (what sits in that client's own wallets).
create table accounts (
  id bigint generated always as identity primary key,
  code text not null unique,
  root text not null check (root in ('client_trust', 'house', 'external')),
  book text not null check (book in ('entitlement', 'holdings')),
  kind text not null check (kind in (
    'client_entitlement', 'client_wallet_hot', 'client_wallet_cold',
    'house_fees', 'house_treasury', 'house_suspense', 'house_wallet_fees', 'house_wallet_gas',
    'external_world', 'external_chain')),
  client_id uuid references clients(id),
  asset text not null references assets(code),
  may_go_negative boolean not null default false,
  balance numeric(78,0) not null default 0,
  held numeric(78,0) not null default 0,
  created_at timestamptz not null default now(),
  constraint accounts_client_root check ((root = 'client_trust') = (client_id is not null)),
  constraint accounts_client_never_negative check (root <> 'client_trust' or not may_go_negative),
  constraint accounts_negative_only_external_or_suspense
    check (not may_go_negative or kind in ('external_world', 'external_chain', 'house_suspense')),
  constraint accounts_held_nonnegative check (held >= 0),
  constraint accounts_held_only_if_bounded check (held = 0 or not may_go_negative),
  constraint accounts_no_overdraft check (may_go_negative or (balance >= 0 and balance - held >= 0))
);
create unique index accounts_client_kind_asset on accounts (client_id, kind, asset) where client_id is not null;
create unique index accounts_system_kind_asset on accounts (kind, asset) where client_id is null;

create table journal_entries (
  id bigint generated always as identity primary key,
  idempotency_id text not null unique check (length(idempotency_id) between 1 and 200),
  type text not null check (type in (
    'deposit', 'deposit_reversal', 'withdrawal', 'transfer', 'trade', 'fee', 'hold_post',
    'tier_move', 'correction', 'manual', 'opening')),
  cause jsonb not null default '{}'::jsonb,
  memo text,
  request_hash text not null,
  entry_hash text not null,
  reverses_entry_id bigint references journal_entries(id),
  created_at timestamptz not null default clock_timestamp()
);

create table postings (
  id bigint generated always as identity primary key,
  entry_id bigint not null references journal_entries(id),
  account_id bigint not null references accounts(id),
  asset text not null,
  book text not null,
  amount numeric(78,0) not null check (amount <> 0),
  balance_after numeric(78,0) not null,
  created_at timestamptz not null
);
create index postings_account on postings (account_id, id);
create index postings_entry on postings (entry_id);

-- Every entry sums to zero per asset and book. Postings of one entry are inserted by one
-- statement, so a statement-level check over the transition table sees whole entries.
create function postings_zero_sum() returns trigger language plpgsql as $$
declare bad record;
begin
  select entry_id, asset, book, sum(amount) as total into bad
    from new_rows group by entry_id, asset, book having sum(amount) <> 0 limit 1;
  if found then
    raise exception 'UNBALANCED_ENTRY: entry % asset % book % sums to %', bad.entry_id, bad.asset, bad.book, bad.total
      using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger postings_zero_sum after insert on postings
  referencing new table as new_rows for each statement execute function postings_zero_sum();

create trigger journal_entries_immutable before update or delete on journal_entries
  for each row execute function reject_mutation();
create trigger journal_entries_no_truncate before truncate on journal_entries
  for each statement execute function reject_mutation();
create trigger postings_immutable before update or delete on postings
  for each row execute function reject_mutation();
create trigger postings_no_truncate before truncate on postings
  for each statement execute function reject_mutation();

create table holds (
  id uuid primary key default gen_random_uuid(),
  idempotency_id text not null unique check (length(idempotency_id) between 1 and 200),
  account_id bigint not null references accounts(id),
  amount numeric(78,0) not null check (amount > 0),
  state text not null check (state in ('pending', 'posted', 'voided', 'expired')),
  posted_amount numeric(78,0) check (posted_amount is null or posted_amount > 0),
  entry_id bigint references journal_entries(id),
  reference jsonb not null default '{}'::jsonb,
  request_hash text not null,
  expires_at timestamptz not null,
  created_at timestamptz not null default clock_timestamp(),
  resolved_at timestamptz,
  constraint holds_posted_fits check (posted_amount is null or posted_amount <= amount),
  constraint holds_resolution check ((state = 'pending') = (resolved_at is null))
);
create index holds_pending_expiry on holds (expires_at) where state = 'pending';
create index holds_account on holds (account_id, created_at);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 100),
  role text not null check (role in ('exchange', 'treasury', 'auditor', 'admin')),
  key_hash text not null unique,
  key_prefix text not null,
  created_by uuid references api_keys(id),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);

create table idempotency_keys (
  api_key_id uuid not null references api_keys(id),
  key text not null check (length(key) between 1 and 255),
  method text not null,
  path text not null,
  request_hash text not null,
  status_code integer,
  response jsonb,
  created_at timestamptz not null default now(),
  primary key (api_key_id, key)
);

-- Audit log: append-only; each row carries a hash of its own content computed by the database
-- at insert; a sealer appends rows to audit_chain, each link hashing the previous link and the
-- row hash. Sealing apart from the writers keeps the chain from becoming a global lock on every
-- business transaction. The sealer takes rows of finished transactions only: every row whose
-- transaction id is below the oldest running transaction (the snapshot's xmin) has committed or
-- aborted, so a watermark on transaction ids says which rows can no longer appear.
create table audit_log (
  id bigint generated always as identity primary key,
  occurred_at timestamptz not null default clock_timestamp(),
  actor text not null,
  action text not null,
  subject text,
  request_hash text,
  outcome text not null,
  details jsonb not null default '{}'::jsonb,
  txid xid8 not null default pg_current_xact_id(),
  row_hash text not null default ''
);
create index audit_log_txid on audit_log (txid, id);

create function audit_row_hash(r audit_log) returns text language sql immutable as $$
  select encode(sha256(convert_to(jsonb_build_array(
    r.id::text,
    to_char(r.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor, r.action, r.subject, r.request_hash, r.outcome, r.details)::text, 'UTF8')), 'hex')
$$;

create function audit_log_before_insert() returns trigger language plpgsql as $$
begin
  new.row_hash := audit_row_hash(new);
  return new;
end $$;
create trigger audit_log_hash before insert on audit_log for each row execute function audit_log_before_insert();
create trigger audit_log_immutable before update or delete on audit_log
  for each row execute function reject_mutation();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function reject_mutation();

create table audit_chain (
  seq bigint primary key,
  audit_id bigint not null unique references audit_log(id),
  prev_hash text not null,
  chain_hash text not null,
  sealed_at timestamptz not null default clock_timestamp()
);
create trigger audit_chain_immutable before update or delete on audit_chain
  for each row execute function reject_mutation();
create trigger audit_chain_no_truncate before truncate on audit_chain
  for each statement execute function reject_mutation();

-- Every audit row with txid below the watermark is in the chain.
create table audit_seal_state (
  singleton boolean primary key default true check (singleton),
  watermark xid8 not null
);
insert into audit_seal_state (watermark) values ('0'::xid8);

create function audit_seal(max_rows integer) returns integer
language plpgsql security definer set search_path = public as $$
declare
  head_seq bigint;
  head_hash text;
  v_prev text;
  v_watermark xid8;
  v_horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
  v_last xid8;
  r record;
  sealed integer := 0;
begin
  if max_rows is null or max_rows < 1 or max_rows > 100000 then
    raise exception 'BAD_ARGUMENT: max_rows' using errcode = 'P0001';
  end if;
  select watermark into v_watermark from audit_seal_state for update;
  select seq, chain_hash into head_seq, head_hash from audit_chain order by seq desc limit 1;
  if not found then
    head_seq := 0;
    head_hash := repeat('0', 64);
  end if;
  for r in select a.id, a.row_hash, a.txid from audit_log a
           where a.txid >= v_watermark and a.txid < v_horizon
             and not exists (select 1 from audit_chain c where c.audit_id = a.id)
           order by a.txid, a.id limit max_rows loop
    head_seq := head_seq + 1;
    v_prev := head_hash;
    head_hash := encode(sha256(convert_to(v_prev || r.row_hash, 'UTF8')), 'hex');
    insert into audit_chain (seq, audit_id, prev_hash, chain_hash) values (head_seq, r.id, v_prev, head_hash);
    v_last := r.txid;
    sealed := sealed + 1;
  end loop;
  update audit_seal_state set watermark = case when sealed < max_rows then v_horizon else v_last end;
  return sealed;
end $$;

create function audit_append(p_actor text, p_action text, p_subject text, p_request_hash text,
                             p_outcome text, p_details jsonb) returns bigint
language sql security definer set search_path = public as $$
  insert into audit_log (actor, action, subject, request_hash, outcome, details)
  values (p_actor, p_action, p_subject, p_request_hash, p_outcome, coalesce(p_details, '{}'::jsonb))
  returning id
$$;
`);

  await knex.raw(String.raw`
-- Cross-root flows are allowed only for these entry types (SEG-01). Pinned by a unit test.
create function ledger_cross_root_types() returns text[] language sql immutable as $$
  select array['fee', 'trade', 'correction']::text[]
$$;

create function ledger_raise(code text, detail text) returns void language plpgsql as $$
begin
  raise exception '%: %', code, detail using errcode = 'P0001';
end $$;

create function ledger_entry_hash(p_idempotency_id text, p_type text, p_postings jsonb, p_cause jsonb) returns text
language sql immutable as $$
  select encode(sha256(convert_to(jsonb_build_array(p_idempotency_id, p_type,
    (select jsonb_agg(jsonb_build_array((e->>'accountId')::bigint::text, (e->>'amount')::numeric(78,0)::text)
       order by (e->>'accountId')::bigint, (e->>'amount')::numeric(78,0))
     from jsonb_array_elements(p_postings) e), coalesce(p_cause, '{}'::jsonb))::text, 'UTF8')), 'hex')
$$;

-- The entries of a batch, in order.
create function ledger_batch_entries(p jsonb)
returns table (ord integer, idempotency_id text, type text, cause jsonb, memo text, request_hash text, actor text,
               reverses_entry_id bigint, postings jsonb)
language sql immutable as $$
  select t.ord::integer - 1, e->>'idempotencyId', e->>'type', coalesce(e->'cause', '{}'::jsonb), e->>'memo', e->>'requestHash',
         coalesce(e->>'actor', 'system'), (e->>'reversesEntryId')::bigint, e->'postings'
  from jsonb_array_elements(p) with ordinality as t(e, ord)
$$;

-- The postings of a batch, in order.
create function ledger_batch_postings(p jsonb)
returns table (entry_ord integer, posting_ord integer, idempotency_id text, type text, account_id bigint, amount numeric(78,0))
language sql immutable as $$
  select t.ord::integer - 1, u.pord::integer - 1, e->>'idempotencyId', e->>'type', (x->>'accountId')::bigint, (x->>'amount')::numeric(78,0)
  from jsonb_array_elements(p) with ordinality as t(e, ord),
       jsonb_array_elements(e->'postings') with ordinality as u(x, pord)
$$;

-- Posts a batch of journal entries (1..1000) in one call, set-based, all or nothing.
-- Each entry: {idempotencyId, type, postings:[{accountId, amount}], cause, memo, requestHash, actor, reversesEntryId}.
-- Idempotent per entry: an idempotency id seen before with the same request hash returns the first
-- entry (replayed), with another request hash raises IDEMPOTENCY_CONFLICT. Refusals name the batch index.
create function ledger_post_entries(p jsonb) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  v_new jsonb;
  v_bad record;
  v_now timestamptz := clock_timestamp();
begin
  if jsonb_typeof(p) is distinct from 'array' or jsonb_array_length(p) < 1 or jsonb_array_length(p) > 1000 then
    perform ledger_raise('BAD_ARGUMENT', 'a batch holds 1 to 1000 entries');
  end if;
  select e.ord into v_bad from ledger_batch_entries(p) e
    where e.idempotency_id is null or e.type is null or e.request_hash is null or jsonb_typeof(e.postings) is distinct from 'array'
    limit 1;
  if found then perform ledger_raise('BAD_ARGUMENT', format('idempotencyId, type, requestHash and postings are required (batch index %s)', v_bad.ord)); end if;
  select e.ord into v_bad from ledger_batch_entries(p) e where jsonb_array_length(e.postings) not between 2 and 64 limit 1;
  if found then perform ledger_raise('ENTRY_POSTINGS_COUNT', format('an entry has 2 to 64 postings (batch index %s)', v_bad.ord)); end if;
  select b.entry_ord into v_bad from ledger_batch_postings(p) b
    where b.account_id is null or b.amount is null or b.amount = 0 or b.amount <> trunc(b.amount) limit 1;
  if found then perform ledger_raise('ENTRY_BAD_POSTING', format('every posting needs an account and a non-zero integer amount (batch index %s)', v_bad.entry_ord)); end if;
  select min(e.ord) as ord into v_bad from ledger_batch_entries(p) e group by e.idempotency_id having count(*) > 1 limit 1;
  if found then perform ledger_raise('BAD_ARGUMENT', format('an idempotency id appears twice in the batch (batch index %s)', v_bad.ord)); end if;

  -- New entries; the ones seen before are checked against their first request.
  with ins as (
    insert into journal_entries (idempotency_id, type, cause, memo, request_hash, entry_hash, reverses_entry_id)
    select e.idempotency_id, e.type, e.cause, e.memo, e.request_hash, ledger_entry_hash(e.idempotency_id, e.type, e.postings, e.cause), e.reverses_entry_id
    from ledger_batch_entries(p) e order by e.ord
    on conflict (idempotency_id) do nothing
    returning id, idempotency_id, entry_hash
  ) select coalesce(jsonb_object_agg(ins.idempotency_id, jsonb_build_array(ins.id, ins.entry_hash)), '{}'::jsonb) into v_new from ins;
  select e.ord into v_bad from ledger_batch_entries(p) e join journal_entries j on j.idempotency_id = e.idempotency_id
    where not (jsonb_exists(v_new, e.idempotency_id)) and j.request_hash <> e.request_hash order by e.ord limit 1;
  if found then perform ledger_raise('IDEMPOTENCY_CONFLICT', format('this idempotency id was used for another entry (batch index %s)', v_bad.ord)); end if;

  if v_new <> '{}'::jsonb then
    -- Lock every account the new entries touch, in id order: concurrent batches cannot deadlock.
    perform 1 from accounts a
      where a.id in (select b.account_id from ledger_batch_postings(p) b where jsonb_exists(v_new, b.idempotency_id))
      order by a.id for update;
    select b.entry_ord into v_bad from ledger_batch_postings(p) b
      where jsonb_exists(v_new, b.idempotency_id) and not exists (select 1 from accounts a where a.id = b.account_id) order by b.entry_ord limit 1;
    if found then perform ledger_raise('ACCOUNT_NOT_FOUND', format('a posting names an unknown account (batch index %s)', v_bad.entry_ord)); end if;
    select b.entry_ord, a.asset, a.book, sum(b.amount) as total into v_bad
      from ledger_batch_postings(p) b join accounts a on a.id = b.account_id
      where jsonb_exists(v_new, b.idempotency_id)
      group by b.entry_ord, a.asset, a.book having sum(b.amount) <> 0 order by b.entry_ord limit 1;
    if found then
      perform ledger_raise('UNBALANCED_ENTRY', format('asset %s book %s sums to %s (batch index %s)', v_bad.asset, v_bad.book, v_bad.total, v_bad.entry_ord));
    end if;
    select b.entry_ord, min(b.type) as type into v_bad
      from ledger_batch_postings(p) b join accounts a on a.id = b.account_id
      where jsonb_exists(v_new, b.idempotency_id)
      group by b.entry_ord
      having bool_or(a.root = 'client_trust') and bool_or(a.root = 'house') and not (min(b.type) = any(ledger_cross_root_types()))
      order by b.entry_ord limit 1;
    if found then
      perform ledger_raise('CROSS_ROOT_NOT_ALLOWED', format('entry type %s may not move value between client trust and house (batch index %s)', v_bad.type, v_bad.entry_ord));
    end if;
    -- No bounded account may be overdrawn at any point of the batch, in batch order.
    select r.entry_ord, r.account_id, r.after - r.held as available into v_bad from (
      select b.entry_ord, b.account_id, a.held, a.may_go_negative,
             a.balance + sum(b.amount) over (partition by b.account_id order by b.entry_ord, b.posting_ord) as after
      from ledger_batch_postings(p) b join accounts a on a.id = b.account_id where jsonb_exists(v_new, b.idempotency_id)
    ) r where not r.may_go_negative and (r.after < 0 or r.after - r.held < 0) order by r.entry_ord limit 1;
    if found then
      perform ledger_raise('INSUFFICIENT_FUNDS', format('account %s would have %s available (batch index %s)', v_bad.account_id, v_bad.available, v_bad.entry_ord));
    end if;
    insert into postings (entry_id, account_id, asset, book, amount, balance_after, created_at)
      select (v_new->b.idempotency_id->>0)::bigint, b.account_id, a.asset, a.book, b.amount,
             a.balance + sum(b.amount) over (partition by b.account_id order by b.entry_ord, b.posting_ord), v_now
      from ledger_batch_postings(p) b join accounts a on a.id = b.account_id
      where jsonb_exists(v_new, b.idempotency_id)
      order by b.entry_ord, b.posting_ord;
    update accounts a set balance = a.balance + d.delta
      from (select b.account_id, sum(b.amount) as delta from ledger_batch_postings(p) b where jsonb_exists(v_new, b.idempotency_id) group by b.account_id) d
      where a.id = d.account_id;
    insert into audit_log (actor, action, subject, request_hash, outcome, details)
      select e.actor, 'ledger.entry', (v_new->e.idempotency_id->>0), e.request_hash, 'ok',
             jsonb_build_object('type', e.type, 'entryHash', v_new->e.idempotency_id->>1, 'idempotencyId', e.idempotency_id)
      from ledger_batch_entries(p) e where jsonb_exists(v_new, e.idempotency_id) order by e.ord;
  end if;

  return (select jsonb_agg(jsonb_build_object('entryId', j.id, 'entryHash', j.entry_hash, 'replayed', not (jsonb_exists(v_new, e.idempotency_id))) order by e.ord)
          from ledger_batch_entries(p) e join journal_entries j on j.idempotency_id = e.idempotency_id);
end $$;

create function ledger_post_entry(p jsonb) returns jsonb
language sql security definer set search_path = public as $$
  select ledger_post_entries(jsonb_build_array(p))->0
$$;

-- Places a two-phase hold on a client's entitlement: compare-and-set on the available balance.
-- Returns the hold. p = {idempotencyId, accountId, amount, expiresAt, reference, requestHash, actor}
create function ledger_hold_json(h holds) returns jsonb language sql stable as $$
  -- Amounts as text: a JSON number would pass through a float on the way out.
  select to_jsonb(h) - 'request_hash' || jsonb_build_object('client_id', a.client_id, 'asset', a.asset,
    'amount', h.amount::text, 'posted_amount', h.posted_amount::text)
  from accounts a where a.id = h.account_id
$$;

create function ledger_place_hold(p jsonb) returns jsonb
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
  insert into holds (idempotency_id, account_id, amount, state, reference, request_hash, expires_at)
    values (p->>'idempotencyId', (p->>'accountId')::bigint, v_amount, 'pending',
            coalesce(p->'reference', '{}'::jsonb), p->>'requestHash', (p->>'expiresAt')::timestamptz)
    on conflict (idempotency_id) do nothing
    returning * into v_hold;
  if v_hold.id is null then
    select * into v_hold from holds where idempotency_id = p->>'idempotencyId';
    if v_hold.request_hash <> p->>'requestHash' then
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
    jsonb_build_object('accountId', v_hold.account_id, 'amount', v_amount::text));
  return ledger_hold_json(v_hold) || '{"replayed": false}'::jsonb;
end $$;

-- Releases a pending hold (void or expiry). Idempotent for a hold already in the target state.
create function ledger_release_hold(p_hold_id uuid, p_state text, p_actor text) returns jsonb
language plpgsql security definer set search_path = public as $$
declare v_hold holds;
begin
  if p_state not in ('voided', 'expired') then perform ledger_raise('BAD_ARGUMENT', 'state'); end if;
  select * into v_hold from holds where id = p_hold_id for update;
  if not found then perform ledger_raise('HOLD_NOT_FOUND', p_hold_id::text); end if;
  if v_hold.state = p_state then
    return jsonb_build_object('holdId', v_hold.id, 'state', v_hold.state, 'replayed', true);
  end if;
  if v_hold.state <> 'pending' then
    perform ledger_raise('HOLD_NOT_PENDING', format('hold %s is %s', v_hold.id, v_hold.state));
  end if;
  update accounts set held = held - v_hold.amount where id = v_hold.account_id;
  update holds set state = p_state, resolved_at = clock_timestamp() where id = v_hold.id;
  perform audit_append(coalesce(p_actor, 'system'), 'ledger.hold.' || p_state, v_hold.id::text, null, 'ok',
    jsonb_build_object('accountId', v_hold.account_id, 'amount', v_hold.amount::text));
  return jsonb_build_object('holdId', v_hold.id, 'state', p_state, 'replayed', false);
end $$;

-- Posts a pending hold: releases the whole hold and posts an entry whose debit on the held
-- account is at most the hold amount; the remainder is released.
-- p = {holdId, idempotencyId, type, postings (including the held account's debit), cause, memo, requestHash, actor}
create function ledger_post_hold(p jsonb) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  v_hold holds;
  v_debit numeric(78,0);
  v_result jsonb;
begin
  select * into v_hold from holds where id = (p->>'holdId')::uuid for update;
  if not found then perform ledger_raise('HOLD_NOT_FOUND', coalesce(p->>'holdId', '')); end if;
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
  if v_hold.expires_at <= clock_timestamp() then
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

create function ledger_expire_holds(p_max integer) returns integer
language plpgsql security definer set search_path = public as $$
declare h record; n integer := 0;
begin
  for h in select id from holds where state = 'pending' and expires_at <= clock_timestamp()
           order by expires_at limit least(greatest(p_max, 1), 10000) for update skip locked loop
    perform ledger_release_hold(h.id, 'expired', 'system:expiry');
    n := n + 1;
  end loop;
  return n;
end $$;

-- Opens (idempotently) the accounts of one client for one asset.
create function ledger_open_client_accounts(p_client_id uuid, p_asset text) returns void
language plpgsql security definer set search_path = public as $$
begin
  insert into accounts (code, root, book, kind, client_id, asset)
  select format('client_trust/%s/%s/%s', p_client_id, p_asset, k.kind), 'client_trust', k.book, k.kind, p_client_id, p_asset
  from (values ('client_entitlement', 'entitlement'), ('client_wallet_hot', 'holdings'), ('client_wallet_cold', 'holdings')) as k(kind, book)
  on conflict do nothing;
end $$;

create function ledger_open_system_accounts(p_asset text) returns void
language plpgsql security definer set search_path = public as $$
begin
  insert into accounts (code, root, book, kind, asset, may_go_negative)
  select format('%s/%s/%s', k.root, p_asset, k.kind), k.root, k.book, k.kind, p_asset, k.neg
  from (values ('external', 'external_world', 'entitlement', true), ('external', 'external_chain', 'holdings', true),
               ('house', 'house_fees', 'entitlement', false), ('house', 'house_treasury', 'entitlement', false),
               ('house', 'house_suspense', 'entitlement', true), ('house', 'house_wallet_fees', 'holdings', false),
               ('house', 'house_wallet_gas', 'holdings', false)) as k(root, kind, book, neg)
  on conflict do nothing;
end $$;
select ledger_open_system_accounts(code) from assets;
`);

  // The application role: read everything, write only through the functions above, plus the
  // ordinary tables that are not the ledger.
  await knex.raw(String.raw`
revoke all on all tables in schema public from amanat_app;
grant usage on schema public to amanat_app;
grant select on all tables in schema public to amanat_app;
grant insert, update on clients to amanat_app;
grant update (state, contract_address, updated_at) on assets to amanat_app;
grant insert, update on api_keys to amanat_app;
grant insert, update, delete on idempotency_keys to amanat_app;
grant execute on function ledger_hold_json(holds), ledger_post_entry(jsonb), ledger_post_entries(jsonb), ledger_place_hold(jsonb), ledger_release_hold(uuid, text, text),
  ledger_post_hold(jsonb), ledger_expire_holds(integer), ledger_open_client_accounts(uuid, text),
  ledger_open_system_accounts(text), audit_append(text, text, text, text, text, jsonb), audit_seal(integer),
  audit_row_hash(audit_log), ledger_entry_hash(text, text, jsonb, jsonb), ledger_cross_root_types()
  to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
