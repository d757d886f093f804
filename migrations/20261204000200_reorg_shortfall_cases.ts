// DEP-01 / SEG-05: a reorg that takes back a deposit the client has already spent leaves a
// shortfall. It is booked to house suspense (a client account never goes negative) and opens a
// case of its own kind, resolved as recovered or written off. Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
alter table cases drop constraint cases_kind_check;
alter table cases add constraint cases_kind_check
  check (kind in ('dispute', 'sanctions_hit', 'privacy_device', 'high_risk_destination', 'reorg_shortfall'));
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
