// Hot/cold rebalancing (HOT-01..HOT-04): tier moves are withdrawals of a kind of their own (a sweep
// hot -> cold, a refill cold -> hot) between one client's own wallets, run by the same pipeline;
// the hot-ratio configuration is versioned data changed by a maker and a different checker
// (HOT-02); snapshots of the ratios are kept for the auditor. Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
alter table withdrawals add column kind text not null default 'withdrawal' check (kind in ('withdrawal', 'sweep', 'refill'));
-- A tier move pays the client's own other-tier wallet: the key behind the destination (the signer
-- checks it belongs to the same client and the other tier, HOT-03) and the wallet that receives it.
alter table withdrawals add column destination_key_id text;
alter table withdrawals add column destination_wallet_id uuid references wallets(id);
alter table withdrawals alter column quote_id drop not null;
alter table withdrawals add constraint withdrawals_kind_quote check ((kind = 'withdrawal') = (quote_id is not null));
alter table withdrawals add constraint withdrawals_kind_destination
  check ((kind = 'withdrawal') = (destination_key_id is null and destination_wallet_id is null));
alter table withdrawals drop constraint withdrawals_destination_type_check;
alter table withdrawals add constraint withdrawals_destination_type_check
  check (destination_type in ('vasp', 'self_hosted', 'own_wallet') and ((destination_type = 'own_wallet') = (kind <> 'withdrawal')));
alter table withdrawals add constraint withdrawals_tier_move_source
  check (kind = 'withdrawal' or (kind = 'sweep' and source_tier = 'hot') or (kind = 'refill' and source_tier = 'cold'));
-- One tier move in flight per client and asset: the planner never sweeps twice.
create unique index withdrawals_one_tier_move_in_flight on withdrawals (client_id, asset)
  where kind <> 'withdrawal' and state in ('requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming');

-- HOT-02: per-asset ratio configuration, versioned. A version is proposed by a maker and becomes
-- active only when a different person checks it; the cap can never be above 30 %.
create table hot_ratio_config (
  id bigint generated always as identity primary key,
  asset text not null references assets(code),
  target_bp integer not null check (target_bp between 0 and 10000),
  alert_bp integer not null check (alert_bp between 0 and 10000),
  cap_bp integer not null check (cap_bp between 1 and 3000),
  min_hot_floor numeric(78,0) not null check (min_hot_floor >= 0),
  state text not null default 'proposed' check (state in ('proposed', 'active', 'superseded', 'rejected')),
  maker text not null check (char_length(maker) between 1 and 200),
  checker text check (checker is null or char_length(checker) between 1 and 200),
  reason text not null check (char_length(reason) between 1 and 500),
  created_at timestamptz not null default now(),
  decided_at timestamptz,
  check (target_bp <= alert_bp and alert_bp <= cap_bp),
  check ((state in ('active', 'superseded')) <= (checker is not null and lower(checker) <> lower(maker))),
  check ((state = 'proposed') = (decided_at is null))
);
create unique index hot_ratio_config_one_active on hot_ratio_config (asset) where state = 'active';

-- HOT-01: what the ratio engine saw, for the auditor's history (GET /v1/audit/hot-ratio).
create table hot_ratio_snapshots (
  id bigint generated always as identity primary key,
  taken_at timestamptz not null default now(),
  asset text not null,
  pool text not null check (pool in ('retail', 'all_clients', 'retail_usd', 'all_clients_usd')),
  hot numeric(78,0) not null check (hot >= 0),
  cold numeric(78,0) not null check (cold >= 0),
  in_flight jsonb not null,
  share_bp integer,
  cap_bp integer not null,
  alert_bp integer not null,
  hard boolean not null,
  breach boolean not null,
  config_version bigint references hot_ratio_config(id)
);
create index hot_ratio_snapshots_taken on hot_ratio_snapshots (taken_at);
create trigger hot_ratio_snapshots_immutable before update or delete on hot_ratio_snapshots for each row execute function reject_mutation();

grant select, insert on hot_ratio_config, hot_ratio_snapshots to amanat_app;
grant update (state, checker, decided_at) on hot_ratio_config to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
