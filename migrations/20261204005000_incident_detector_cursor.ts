// REG-07: where the signer-refusal detector has read the events feed up to, kept in the database so a
// restarted service goes on from there instead of reading the whole feed again. One row per detector.
// Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
create table incident_detector_cursors (
  detector text primary key check (char_length(detector) between 1 and 64),
  last_event_id bigint not null check (last_event_id >= 0),
  updated_at timestamptz not null default now()
);
grant select, insert on incident_detector_cursors to amanat_app;
grant update (last_event_id, updated_at) on incident_detector_cursors to amanat_app;
`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table incident_detector_cursors');
}
