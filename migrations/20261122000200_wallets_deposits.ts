// Wallets (per client, per chain, hot and cold; house wallets apart), immutable address ownership,
// deposits with their state machine, per-chain scanner cursors, the unknown-token quarantine and
// the events feed for the exchange backend. Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
-- WAL-01: provisioning → active ⇄ frozen → retiring → retired. Nothing is hard-deleted.
create table wallets (
  id uuid primary key default gen_random_uuid(),
  owner text not null check (owner in ('client', 'house')),
  client_id uuid references clients(id),
  house_purpose text check (house_purpose in ('fees', 'gas_station')),
  chain text not null check (chain in ('bitcoin', 'ethereum')),
  tier text not null check (tier in ('hot', 'cold')),
  custodian text not null default 'self' check (custodian in ('self')),
  -- Ethereum: the one account key of the wallet. Bitcoin: keys are per address (fresh address per deposit).
  key_id text,
  state text not null default 'active' check (state in ('provisioning', 'active', 'frozen', 'retiring', 'retired')),
  config jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint wallets_owner check ((owner = 'client') = (client_id is not null) and (owner = 'house') = (house_purpose is not null))
);
-- SEG-02: one wallet set per client (one hot, one cold per chain); no omnibus type exists.
create unique index wallets_client_chain_tier on wallets (client_id, chain, tier) where owner = 'client';
create unique index wallets_house_chain_tier on wallets (house_purpose, chain, tier) where owner = 'house';

create function wallets_state_transition() returns trigger language plpgsql as $$
begin
  if new.state <> old.state and not (
       (old.state = 'provisioning' and new.state in ('active', 'retired'))
    or (old.state = 'active' and new.state in ('frozen', 'retiring'))
    or (old.state = 'frozen' and new.state in ('active', 'retiring'))
    or (old.state = 'retiring' and new.state in ('retired', 'active'))) then
    raise exception 'WALLET_STATE_TRANSITION: % -> % is not allowed', old.state, new.state using errcode = 'P0001';
  end if;
  if new.owner <> old.owner or new.client_id is distinct from old.client_id or new.chain <> old.chain or new.tier <> old.tier
     or new.key_id is distinct from old.key_id and old.key_id is not null then
    raise exception 'IMMUTABLE: a wallet''s owner, chain, tier and key never change' using errcode = 'P0001';
  end if;
  return new;
end $$;
create trigger wallets_state before update on wallets for each row execute function wallets_state_transition();
create trigger wallets_no_delete before delete on wallets for each row execute function reject_mutation();

-- SEG-02 / DEP-08: every address belongs to exactly one wallet, for ever.
create table wallet_addresses (
  id bigint generated always as identity primary key,
  wallet_id uuid not null references wallets(id),
  chain text not null,
  address text not null,
  key_id text not null,
  public_key text not null,
  purpose text not null check (purpose in ('deposit', 'change', 'account')),
  created_at timestamptz not null default now(),
  unique (chain, address)
);
create index wallet_addresses_wallet on wallet_addresses (wallet_id);
create trigger wallet_addresses_immutable before update or delete on wallet_addresses
  for each row execute function reject_mutation();

-- Deposits: pending → credited, or orphaned (reorg before credit), reversed (reorg after credit),
-- suspense (retired wallet: booked to house suspense with an alert). A transfer seen again after a
-- reorg reopens its row with the next generation, so it is credited exactly once net.
create table deposits (
  id uuid primary key default gen_random_uuid(),
  chain text not null,
  deposit_key text not null,
  asset text not null references assets(code),
  txid text not null,
  output_index integer,
  address text not null,
  wallet_id uuid not null references wallets(id),
  client_id uuid references clients(id),
  tier text not null,
  amount numeric(78,0) not null check (amount > 0),
  block_height bigint not null,
  block_hash text not null,
  status text not null check (status in ('pending', 'credited', 'orphaned', 'reversed', 'suspense')),
  generation integer not null default 1,
  credit_entry_id bigint references journal_entries(id),
  reversal_entry_id bigint references journal_entries(id),
  sender text,
  detected_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (chain, deposit_key)
);
create index deposits_pending on deposits (chain, block_height) where status = 'pending';
create index deposits_client on deposits (client_id, asset, status);

-- DEP-07: transfers of tokens that are not admitted never reach balances.
create table token_quarantine (
  id bigint generated always as identity primary key,
  chain text not null,
  deposit_key text not null,
  token_contract text not null,
  txid text not null,
  address text not null,
  wallet_id uuid references wallets(id),
  amount numeric(78,0) not null,
  block_height bigint not null,
  block_hash text not null,
  status text not null default 'quarantined' check (status in ('quarantined', 'orphaned')),
  detected_at timestamptz not null default now(),
  unique (chain, deposit_key)
);

-- One cursor per chain; the scanner holds its row lock for a tick (the lease), so two workers never
-- scan the same chain at once.
create table scanner_cursors (
  chain text primary key,
  height bigint not null,
  block_hash text not null,
  updated_at timestamptz not null default now()
);
-- Recent blocks as seen, to find the fork point on a reorg.
create table scanned_blocks (
  chain text not null,
  height bigint not null,
  block_hash text not null,
  parent_hash text not null,
  primary key (chain, height)
);

-- The events feed (cursor-based): the exchange backend reads /v1/events?after=<id>.
create table events (
  id bigint generated always as identity primary key,
  type text not null,
  client_id uuid,
  subject text,
  payload jsonb not null,
  created_at timestamptz not null default clock_timestamp()
);
create trigger events_immutable before update or delete on events for each row execute function reject_mutation();

alter table accounts drop constraint accounts_negative_only_external_or_suspense;
alter table accounts drop constraint accounts_kind_check;
alter table accounts add constraint accounts_kind_check check (kind in (
    'client_entitlement', 'client_wallet_hot', 'client_wallet_cold',
    'house_fees', 'house_treasury', 'house_suspense', 'house_wallet_fees', 'house_wallet_gas', 'house_wallet_suspense',
    'house_gas_float', 'external_world', 'external_chain'));
alter table accounts add constraint accounts_negative_only_external_or_suspense
    check (not may_go_negative or kind in ('external_world', 'external_chain', 'house_suspense', 'house_wallet_suspense'));

create or replace function ledger_open_system_accounts(p_asset text) returns void
language plpgsql security definer set search_path = public as $$
begin
  insert into accounts (code, root, book, kind, asset, may_go_negative)
  select format('%s/%s/%s', k.root, p_asset, k.kind), k.root, k.book, k.kind, p_asset, k.neg
  from (values ('external', 'external_world', 'entitlement', true), ('external', 'external_chain', 'holdings', true),
               ('house', 'house_fees', 'entitlement', false), ('house', 'house_treasury', 'entitlement', false),
               ('house', 'house_suspense', 'entitlement', true), ('house', 'house_wallet_fees', 'holdings', false),
               ('house', 'house_wallet_gas', 'holdings', false), ('house', 'house_wallet_suspense', 'holdings', true),
               -- house ETH sitting in a client's wallet to pay an ERC-20 withdrawal's gas (house money)
               ('house', 'house_gas_float', 'holdings', false)) as k(root, kind, book, neg)
  on conflict do nothing;
end $$;
select ledger_open_system_accounts(code) from assets;

grant insert, update on wallets, deposits, token_quarantine, scanner_cursors to amanat_app;
grant insert on wallet_addresses, events to amanat_app;
grant insert, update, delete on scanned_blocks to amanat_app;
grant select on wallets, wallet_addresses, deposits, token_quarantine, scanner_cursors, scanned_blocks, events to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
