// Each context owns its tables (DESIGN: one folder per bounded context; STYLE 1): no file in one
// context writes another context's tables; it goes through the owning context's service. The
// check reads the SQL in every source file under src/ (INSERT INTO, UPDATE, DELETE FROM, and the
// ledger's SECURITY DEFINER functions, which only the ledger calls) and compares the table with the
// folder that owns it. Every table of the migrations must have an owner here, so a new table
// without one fails too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** table → the one folder under src/ that may write it. */
const OWNER: Record<string, string> = {
  accounts: 'ledger', journal_entries: 'ledger', postings: 'ledger', holds: 'ledger',
  clients: 'clients',
  assets: 'assets',
  api_keys: 'auth',
  idempotency_keys: 'api',
  audit_log: 'audit', audit_chain: 'audit', audit_seal_state: 'audit',
  events: 'events',
  cases: 'cases', case_notices: 'cases', client_state_changes: 'cases',
  reports: 'reports', report_signatures: 'reports', proof_of_reserves_trees: 'reports', proof_of_reserves_proofs: 'reports',
  incidents: 'incidents', incident_client_notices: 'incidents', affiliate_destinations: 'incidents', affiliate_payout_consents: 'incidents',
  incident_detector_cursors: 'incidents',
  wallets: 'wallets', wallet_addresses: 'wallets', utxos: 'wallets',
  deposits: 'deposits', scanned_blocks: 'deposits', scanner_cursors: 'deposits', token_quarantine: 'deposits',
  withdrawals: 'withdrawals', withdrawal_quotes: 'withdrawals', withdrawal_approvals: 'withdrawals', withdrawal_rejections: 'withdrawals',
  withdrawal_transitions: 'withdrawals', withdrawal_transactions: 'withdrawals', address_book: 'withdrawals', eth_nonces: 'withdrawals',
  own_transactions: 'withdrawals',
  recon_runs: 'reconciliation', recon_breaks: 'reconciliation',
  hot_ratio_config: 'rebalancing', hot_ratio_snapshots: 'rebalancing',
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'static' ? [] : files(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

/** Every table a file writes: SQL statements in its string literals. */
function writes(source: string): string[] {
  const found = new Set<string>();
  for (const m of source.matchAll(/\b(?:insert\s+into|delete\s+from|truncate(?:\s+table)?)\s+([a-z_][a-z0-9_]*)/gi)) found.add(m[1]!.toLowerCase());
  // UPDATE <table> SET, but not "for update", "on conflict … do update set", "update of".
  for (const m of source.matchAll(/(?<!for\s)(?<!do\s)\bupdate\s+([a-z_][a-z0-9_]*)\s+(?:[a-z]\s+)?set\b/gi)) found.add(m[1]!.toLowerCase());
  return [...found];
}

test('SEG-06 DESIGN every table of the migrations has one owning context', () => {
  const tables = new Set<string>();
  for (const file of readdirSync(path.join(root, 'migrations'))) {
    for (const m of readFileSync(path.join(root, 'migrations', file), 'utf8').matchAll(/create table ([a-z_]+)/g)) tables.add(m[1]!);
  }
  const missing = [...tables].filter((t) => !OWNER[t]);
  assert.deepEqual(missing, [], 'give each new table an owner in this test');
});

test('SEG-06 DESIGN no file in one context writes another context\'s tables (the ledger\'s only through the ledger)', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of files(path.join(root, 'src'))) {
    const context = path.relative(path.join(root, 'src'), file).split(path.sep)[0]!;
    for (const table of writes(readFileSync(file, 'utf8'))) {
      const owner = OWNER[table];
      if (!owner) continue; // not a table (a word after INSERT INTO in a comment, a CTE name)
      checked++;
      if (owner !== context) violations.push(`${path.relative(root, file)} writes ${table}, which ${owner}/ owns`);
    }
  }
  assert.ok(checked > 20, `the scan found the SQL (${checked} writes)`);
  assert.deepEqual(violations, []);
});

test('SEG-06 DESIGN the scan sees the statements it looks for (so a violation cannot hide)', () => {
  assert.deepEqual(writes("await q.query(`update clients set state = 'frozen' where id = $1`)"), ['clients']);
  assert.deepEqual(writes("insert into utxos (txid) values ($1) on conflict (txid, vout) do update set status = 'unspent'"), ['utxos']);
  assert.deepEqual(writes('select * from withdrawals where id = $1 for update skip locked'), []);
  assert.deepEqual(writes('delete from scanned_blocks where chain = $1'), ['scanned_blocks']);
});
