// Regulatory incidents (REG-06, REG-07, HOT-06): a breach, or a possible one, opens an incident with
// the moment the firm became aware and the AFSA notification deadline on the business calendar; it
// closes only with the AFSA submission reference or a documented "not a breach" decision. The
// notices sent to affected clients (CLI-13) and their delivery acknowledgements; the register of
// affiliate and related-person destinations and the AFSA consents that let a payout to one through
// while a breach is open (WDR-09). Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
create table incidents (
  id uuid primary key default gen_random_uuid(),
  type text not null check (type in ('hot_cap_breach', 'recon_break', 'recon_missed', 'key_compromise', 'security_event')),
  severity text not null check (severity in ('sev1', 'sev2', 'sev3')),
  dedupe_key text not null check (char_length(dedupe_key) between 1 and 200),
  state text not null default 'open' check (state in ('open', 'notified', 'closed')),
  regulatory_breach boolean not null,
  summary text not null check (char_length(summary) between 1 and 500),
  detail jsonb not null default '{}',
  client_ids uuid[] not null default '{}',
  aware_at timestamptz not null,
  -- 'immediate' (REG-07 SEV-1): deadline_at = aware_at; 'one_business_day' (REG-06): aware_at + 1 business day.
  notification text not null check (notification in ('immediate', 'one_business_day')),
  deadline_at timestamptz not null,
  latest_deadline_at timestamptz not null,
  calendar_version text not null,
  calendar_hash text not null,
  opened_by text not null,
  created_at timestamptz not null default now(),
  escalated_at timestamptz,
  overdue_at timestamptz,
  afsa_reference text check (char_length(afsa_reference) between 1 and 200),
  afsa_notified_at timestamptz,
  afsa_notified_by text,
  closure jsonb,
  closed_by text,
  closed_at timestamptz,
  check (deadline_at >= aware_at and latest_deadline_at >= deadline_at),
  check ((state = 'closed') = (closed_at is not null and closure is not null and closed_by is not null)),
  check (state <> 'notified' or afsa_reference is not null)
);
-- One live incident per (type, dedupe key): a detector that fires again gets the open one.
create unique index incidents_live on incidents (type, dedupe_key) where state <> 'closed';
create index incidents_created on incidents (created_at desc, id);
create index incidents_deadline on incidents (deadline_at) where state = 'open';

create table incident_client_notices (
  id uuid primary key default gen_random_uuid(),
  incident_id uuid not null references incidents(id),
  client_id uuid not null references clients(id),
  channel text not null check (channel in ('email', 'sms', 'in_app', 'post')),
  template text not null check (char_length(template) between 1 and 100),
  payload jsonb not null default '{}',
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  delivered_by text,
  delivery_reference text check (char_length(delivery_reference) between 1 and 200),
  unique (incident_id, client_id),
  check ((delivered_at is null) = (delivered_by is null))
);
create index incident_client_notices_client on incident_client_notices (client_id, created_at);

create table affiliate_destinations (
  id uuid primary key default gen_random_uuid(),
  chain text not null check (chain in ('bitcoin', 'ethereum')),
  address text not null check (char_length(address) between 1 and 128),
  tag text not null check (tag in ('AFFILIATE', 'RELATED_PERSON')),
  name text not null check (char_length(name) between 1 and 200),
  note text check (char_length(note) <= 2000),
  created_by text not null,
  created_at timestamptz not null default now(),
  unique (chain, address)
);

create table affiliate_payout_consents (
  id uuid primary key default gen_random_uuid(),
  destination_id uuid not null references affiliate_destinations(id),
  afsa_reference text not null check (char_length(afsa_reference) between 1 and 200),
  -- The one withdrawal the consent was used for (single use), set by the withdrawal's policy step.
  withdrawal_id uuid unique references withdrawals(id),
  created_by text not null,
  created_at timestamptz not null default now(),
  used_at timestamptz,
  check ((withdrawal_id is null) = (used_at is null))
);
create index affiliate_payout_consents_free on affiliate_payout_consents (destination_id, created_at) where withdrawal_id is null;

grant select, insert on incidents, incident_client_notices, affiliate_destinations, affiliate_payout_consents to amanat_app;
grant update (state, escalated_at, overdue_at, afsa_reference, afsa_notified_at, afsa_notified_by, closure, closed_by, closed_at, client_ids) on incidents to amanat_app;
grant update (delivered_at, delivered_by, delivery_reference) on incident_client_notices to amanat_app;
grant update (withdrawal_id, used_at) on affiliate_payout_consents to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
