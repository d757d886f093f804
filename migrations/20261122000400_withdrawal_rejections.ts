// Treasury rejections (WDR-06 maker-checker veto): one officer's signed rejection ends a withdrawal
// that waits for approvals. Kept apart from withdrawal_approvals, whose (withdrawal_id, approver_id)
// key and immutability would otherwise make an officer who approved earlier unable to veto, or
// cost that approval record; withdrawal_approvals.decision stays 'approve'. The row holds what an
// auditor needs to verify the signature again: the rejection message binds the intent hash, the
// officer, the window and the SHA-256 of `reason` (src/withdrawals/approvers.ts, rejectionMessage).
// Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
create table withdrawal_rejections (
  withdrawal_id uuid primary key references withdrawals(id),   -- a withdrawal is rejected at most once
  approver_id text not null,
  user_id text not null,
  algorithm text not null check (algorithm in ('ed25519', 'p256')),
  intent_hash text not null,
  reason text not null check (char_length(reason) between 1 and 500),
  signature text not null,
  signed_at timestamptz not null,
  expires_at timestamptz not null,
  recorded_by text not null,                                   -- the API caller that submitted it
  created_at timestamptz not null default now()
);
create trigger withdrawal_rejections_immutable before update or delete on withdrawal_rejections
  for each row execute function reject_mutation();

grant insert, select on withdrawal_rejections to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
