// Compliance cases (WDR-04 screening hits, WDR-08 disputes), the notices sent to clients about
// them, and every change of a client's state (frozen / active) with its reason. Notices and state
// changes are immutable: they are the record a regulator asks for. Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
create table cases (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('dispute', 'sanctions_hit', 'privacy_device', 'high_risk_destination')),
  status text not null default 'open' check (status in ('open', 'resolved')),
  client_id uuid not null references clients(id),
  withdrawal_id uuid references withdrawals(id),
  summary text not null check (char_length(summary) between 1 and 500),
  details jsonb not null default '{}',
  opened_by text not null,
  opened_at timestamptz not null default now(),
  resolution jsonb,
  resolved_by text,
  resolved_at timestamptz,
  check ((status = 'resolved') = (resolved_at is not null and resolution is not null and resolved_by is not null))
);
create index cases_client on cases (client_id, opened_at desc);
create index cases_open on cases (opened_at) where status = 'open';
-- One open screening case per withdrawal and kind: a retried pipeline step never opens a second.
create unique index cases_withdrawal_kind on cases (withdrawal_id, kind) where withdrawal_id is not null;

create table case_notices (
  id bigint generated always as identity primary key,
  case_id uuid not null references cases(id),
  client_id uuid not null references clients(id),
  channel text not null check (channel in ('email', 'sms', 'in_app', 'post')),
  template text not null check (char_length(template) between 1 and 100),
  payload jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index case_notices_case on case_notices (case_id, id);
create trigger case_notices_immutable before update or delete on case_notices
  for each row execute function reject_mutation();

create table client_state_changes (
  id bigint generated always as identity primary key,
  client_id uuid not null references clients(id),
  from_state text not null,
  to_state text not null,
  reason text not null check (char_length(reason) between 1 and 100),
  case_id uuid references cases(id),
  actor text not null,
  created_at timestamptz not null default now()
);
create index client_state_changes_client on client_state_changes (client_id, id);
create trigger client_state_changes_immutable before update or delete on client_state_changes
  for each row execute function reject_mutation();

grant insert, select on cases, case_notices, client_state_changes to amanat_app;
grant update (status, resolution, resolved_by, resolved_at) on cases to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
