// Withdrawals: quotes (WDR-02), the persisted pipeline (requested → policy → travel_rule →
// approvals → signing → broadcast → confirming → completed | rejected | failed | cancelled),
// treasury approvals, the client address book, our own Bitcoin UTXO set, the Ethereum nonce
// manager, and client KYC data (encrypted) for the Travel Rule. Append-only: never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
alter table clients add column kyc jsonb;                       -- AES-256-GCM envelope (SEG-11), never plaintext
alter table clients add column kyc_verified boolean not null default false;

create table address_book (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references clients(id),
  chain text not null,
  address text not null,
  label text,
  destination_type text not null check (destination_type in ('vasp', 'self_hosted')),
  vasp_name text,
  ownership_proof jsonb,
  ownership_verified_at timestamptz,
  added_at timestamptz not null default now(),
  unique (client_id, chain, address)
);

create table withdrawal_quotes (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references clients(id),
  asset text not null references assets(code),
  amount numeric(78,0) not null check (amount > 0),
  destination text not null,
  network_fee_max numeric(78,0) not null check (network_fee_max >= 0),
  service_fee numeric(78,0) not null check (service_fee >= 0),
  usd_cents numeric(78,0) not null,
  price_version text not null,
  warning_id text not null,
  requested_by text not null,
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);

create table withdrawals (
  id uuid primary key default gen_random_uuid(),
  quote_id uuid not null unique references withdrawal_quotes(id),
  client_id uuid not null references clients(id),
  asset text not null references assets(code),
  chain text not null,
  amount numeric(78,0) not null check (amount > 0),
  service_fee numeric(78,0) not null,
  network_fee_max numeric(78,0) not null,
  usd_cents numeric(78,0) not null,
  destination text not null,
  destination_type text not null check (destination_type in ('vasp', 'self_hosted')),
  state text not null check (state in ('requested', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast',
                                       'confirming', 'completed', 'rejected', 'failed', 'cancelled')),
  source_tier text check (source_tier in ('hot', 'cold')),
  source_wallet_id uuid references wallets(id),
  hold_id uuid references holds(id),
  initiator text not null,
  consent jsonb not null,
  policy jsonb,
  policy_hash text,
  approvals_required integer not null default 0,
  travel_rule_status text not null default 'pending'
    check (travel_rule_status in ('not_required', 'pending', 'self_hosted_info_held', 'sent', 'acked', 'rejected')),
  travel_rule_tier text,
  travel_rule_payload jsonb,
  intent jsonb,
  intent_hash text,
  build jsonb,
  signed_tx text,
  txid text,
  broadcast_at timestamptz,
  confirmations integer not null default 0,
  network_fee numeric(78,0),
  entry_id bigint references journal_entries(id),
  attempts integer not null default 0,
  next_run_at timestamptz not null default now(),
  lease_owner text,
  lease_until timestamptz,
  failure_code text,
  failure_detail text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz
);
create index withdrawals_runnable on withdrawals (next_run_at)
  where state in ('requested', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming');
create index withdrawals_client on withdrawals (client_id, created_at);
-- One signed transaction per withdrawal: once stored it is the only one that may ever be broadcast
-- (a replacement reuses its inputs or nonce, so at most one can confirm).
create table withdrawal_transactions (
  id bigint generated always as identity primary key,
  withdrawal_id uuid not null references withdrawals(id),
  txid text not null,
  raw text not null,
  fee numeric(78,0) not null,
  replaces_txid text,
  created_at timestamptz not null default now(),
  unique (withdrawal_id, txid)
);
create trigger withdrawal_transactions_immutable before update or delete on withdrawal_transactions
  for each row execute function reject_mutation();

create table withdrawal_transitions (
  id bigint generated always as identity primary key,
  withdrawal_id uuid not null references withdrawals(id),
  from_state text,
  to_state text not null,
  detail jsonb not null default '{}'::jsonb,
  at timestamptz not null default clock_timestamp()
);
create trigger withdrawal_transitions_immutable before update or delete on withdrawal_transitions
  for each row execute function reject_mutation();

create table withdrawal_approvals (
  withdrawal_id uuid not null references withdrawals(id),
  approver_id text not null,
  user_id text not null,
  algorithm text not null check (algorithm in ('ed25519', 'p256')),
  intent_hash text not null,
  signature text not null,
  signed_at timestamptz not null,
  expires_at timestamptz not null,
  decision text not null default 'approve' check (decision in ('approve', 'reject')),
  created_at timestamptz not null default now(),
  primary key (withdrawal_id, approver_id)
);
create trigger withdrawal_approvals_immutable before update or delete on withdrawal_approvals
  for each row execute function reject_mutation();

-- Our own Bitcoin UTXO set: outputs we received (credited deposits) or made (change). Coin selection
-- reads it; nothing depends on a node's address index.
create table utxos (
  txid text not null,
  vout integer not null,
  wallet_id uuid not null references wallets(id),
  address text not null,
  key_id text not null,
  value numeric(78,0) not null check (value > 0),
  status text not null check (status in ('unspent', 'reserved', 'spent', 'gone')),
  reserved_by uuid references withdrawals(id),
  origin text not null check (origin in ('deposit', 'change')),
  created_at timestamptz not null default now(),
  primary key (txid, vout)
);
create index utxos_wallet_unspent on utxos (wallet_id, value desc) where status = 'unspent';

-- Every transaction we sign, recorded before it is broadcast. The deposit scanners never treat
-- an output of one of these as a deposit: change and gas top-ups are booked by their withdrawal.
create table own_transactions (
  chain text not null,
  txid text not null,
  purpose text not null check (purpose in ('withdrawal', 'gas_top_up', 'sweep', 'refill')),
  withdrawal_id uuid references withdrawals(id),
  created_at timestamptz not null default now(),
  primary key (chain, txid)
);

-- Ethereum nonce manager, per sending address.
create table eth_nonces (
  address text primary key,
  next_nonce bigint not null check (next_nonce >= 0)
);

grant insert, update on address_book, withdrawal_quotes, withdrawals, utxos, eth_nonces to amanat_app;
grant insert on withdrawal_transactions, withdrawal_transitions, withdrawal_approvals, own_transactions to amanat_app;
grant update (kyc, kyc_verified) on clients to amanat_app;
grant select on address_book, withdrawal_quotes, withdrawals, withdrawal_transactions, withdrawal_transitions, withdrawal_approvals,
  utxos, eth_nonces, own_transactions to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
