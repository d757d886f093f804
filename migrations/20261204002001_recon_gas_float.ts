// Reconciliation: one more break class, gas_float: ETH the house put on a client's address to pay an
// ERC-20 payout's gas (booked to house_gas_float, not to the client's holdings). Explained, listed.
// Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
alter table recon_breaks drop constraint recon_breaks_class_check;
alter table recon_breaks add constraint recon_breaks_class_check check (class in
  ('timing', 'gas_float', 'unknown_inflow', 'unknown_outflow', 'missing_movement', 'amount_mismatch', 'balance_mismatch', 'no_node'));
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
