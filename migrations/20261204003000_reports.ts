// Signed reports (issue 12 §4, REC-05, CLI-04) and proof of reserves (§6). Append-only: the app role
// may insert and read, never update, delete or truncate (the ledger's reject_mutation triggers).
//  - reports: one row per (kind, report_key): the content (canonical JSON), its three renderings as
//    bytes, and the manifest (their SHA-256s) that the signer's report key signs. Inserted before the
//    signer is called (claim), so a crash between claim and signature resumes with the same manifest.
//  - report_signatures: the report key's signature over the manifest, at most one per report.
//  - proof_of_reserves_trees / _proofs: per report and asset, the Merkle sum tree's root and every
//    client's inclusion proof, stored when the report's content is built (never recomputed, so a
//    proof always matches the root the signed report carries).
// Never edit once landed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
create table reports (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('reconciliation', 'segregation', 'statement', 'proof_of_reserves')),
  report_key text not null check (report_key ~ '^[A-Za-z0-9_.:@-]{1,200}$'),
  content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  content jsonb not null,
  json_bytes bytea not null,
  csv_bytes bytea not null,
  pdf_bytes bytea not null,
  manifest jsonb not null,
  created_at timestamptz not null default now(),
  unique (kind, report_key)
);
create index reports_kind_created on reports (kind, created_at desc);
create index reports_created on reports (created_at desc);

create table report_signatures (
  report_id uuid primary key references reports(id),
  algorithm text not null check (algorithm = 'ecdsa-secp256k1-sha256'),
  key_id text not null check (char_length(key_id) between 1 and 128),
  public_key text not null check (public_key ~ '^0[23][0-9a-f]{64}$'),
  signature text not null check (signature ~ '^[0-9a-f]{128}$'),
  created_at timestamptz not null default now()
);

create table proof_of_reserves_trees (
  report_kind text not null check (report_kind in ('reconciliation', 'segregation', 'statement', 'proof_of_reserves')),
  report_key text not null check (report_key ~ '^[A-Za-z0-9_.:@-]{1,200}$'),
  asset text not null,
  root_hash text not null check (root_hash ~ '^[0-9a-f]{64}$'),
  root_sum numeric(78, 0) not null check (root_sum >= 0),
  leaf_count integer not null check (leaf_count >= 0),
  created_at timestamptz not null default now(),
  primary key (report_kind, report_key, asset)
);

create table proof_of_reserves_proofs (
  report_kind text not null,
  report_key text not null,
  asset text not null,
  client_id uuid not null references clients(id),
  proof jsonb not null,
  primary key (report_kind, report_key, asset, client_id),
  foreign key (report_kind, report_key, asset) references proof_of_reserves_trees (report_kind, report_key, asset)
);
create index proof_of_reserves_proofs_client on proof_of_reserves_proofs (client_id);

create trigger reports_immutable before update or delete on reports for each row execute function reject_mutation();
create trigger reports_no_truncate before truncate on reports for each statement execute function reject_mutation();
create trigger report_signatures_immutable before update or delete on report_signatures for each row execute function reject_mutation();
create trigger report_signatures_no_truncate before truncate on report_signatures for each statement execute function reject_mutation();
create trigger por_trees_immutable before update or delete on proof_of_reserves_trees for each row execute function reject_mutation();
create trigger por_trees_no_truncate before truncate on proof_of_reserves_trees for each statement execute function reject_mutation();
create trigger por_proofs_immutable before update or delete on proof_of_reserves_proofs for each row execute function reject_mutation();
create trigger por_proofs_no_truncate before truncate on proof_of_reserves_proofs for each statement execute function reject_mutation();

grant select, insert on reports, report_signatures, proof_of_reserves_trees, proof_of_reserves_proofs to amanat_app;
`);
}

export async function down(): Promise<void> {
  throw new Error('migrations are append-only: restore from backup instead of rolling back');
}
