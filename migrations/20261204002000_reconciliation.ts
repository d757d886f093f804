// Daily on-chain reconciliation (REC-01, REC-02, REC-04): one run per report date, a persisted state
// machine (claimed -> snapshotted -> computed -> published -> done) that a restarted process resumes
// from its last committed step, and the breaks each run found (aged by their first sighting across
// runs). Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
create table recon_runs (
  id uuid primary key default gen_random_uuid(),
  report_date date not null unique,
  trigger text not null check (trigger in ('schedule', 'on_demand', 'cli')),
  state text not null default 'claimed' check (state in ('claimed', 'snapshotted', 'computed', 'published', 'done', 'failed')),
  cutoff_at timestamptz not null,
  -- The instant the chain heights were taken: the holdings book is read as of it.
  snapshot_at timestamptz,
  -- Per chain: { height, blockHash }.
  heights jsonb,
  -- Per-run salt seed of the proof-of-reserves leaves (kept so a resumed run builds the same tree).
  por_secret bytea not null,
  content jsonb,
  content_hash text,
  segregation jsonb,
  report_id text,
  segregation_report_id text,
  summary jsonb,
  attempts integer not null default 0,
  lease_owner text,
  lease_until timestamptz,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);
create index recon_runs_state on recon_runs (state) where state not in ('done', 'failed');

create table recon_breaks (
  id bigint generated always as identity primary key,
  run_id uuid not null references recon_runs(id),
  -- Stable across runs (class, chain, line, txid): the age counts from the first run that saw it.
  break_key text not null,
  class text not null check (class in ('timing', 'unknown_inflow', 'unknown_outflow', 'missing_movement', 'amount_mismatch', 'balance_mismatch', 'no_node')),
  owner text not null check (owner in ('client', 'house')),
  client_id uuid,
  asset text not null,
  tier text,
  chain text not null,
  txid text,
  expected numeric(78,0) not null,
  actual numeric(78,0) not null,
  difference numeric(78,0) not null,
  explained boolean not null,
  explanation text,
  first_seen_at timestamptz not null,
  incident_id uuid,
  created_at timestamptz not null default now(),
  unique (run_id, break_key)
);
create index recon_breaks_key on recon_breaks (break_key, first_seen_at);

grant select, insert on recon_runs, recon_breaks to amanat_app;
grant update (state, snapshot_at, heights, content, content_hash, segregation, report_id, segregation_report_id, summary, attempts,
  lease_owner, lease_until, last_error, updated_at, finished_at) on recon_runs to amanat_app;
grant update (incident_id) on recon_breaks to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
