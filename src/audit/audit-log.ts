// The audit trail: every state-changing call and every ledger entry, append-only. Rows are hashed
// by the database at insert; a sealer chains them (audit_seal). verify() walks the chain and names
// the first row that was altered, removed or is out of place.
import { createHash } from 'node:crypto';
import type { Queryable } from '../platform/tx.ts';

export interface AuditRecord {
  actor: string;
  action: string;
  subject?: string | null;
  requestHash?: string | null;
  outcome: string;
  details?: Record<string, unknown>;
}

export type VerifyProblem =
  | 'row_hash_mismatch'   // the row's content no longer matches the hash taken when it was written
  | 'row_missing'         // the chain names a row that is gone
  | 'chain_gap'           // a link of the chain is missing
  | 'chain_hash_mismatch' // a link does not follow from the previous one
  | 'unchained_row';      // a row below the sealing watermark is not in the chain (its link was removed)

export interface VerifyReport {
  ok: boolean;
  checkedRows: number;
  unsealedRows: number;
  headSeq: number;
  headHash: string;
  firstProblem?: { problem: VerifyProblem; auditId: number | null; seq: number | null; detail: string };
  entries: { checked: number; firstBadEntryId?: number };
}

const ZERO_HASH = '0'.repeat(64);
const BATCH = 5_000;

export class AuditLog {
  constructor(private readonly db: Queryable) {}

  async append(q: Queryable, record: AuditRecord): Promise<number> {
    const { rows } = await q.query<{ id: number }>('select audit_append($1, $2, $3, $4, $5, $6) as id', [
      record.actor, record.action, record.subject ?? null, record.requestHash ?? null, record.outcome, record.details ?? {}]);
    return rows[0]!.id;
  }

  /** Seals pending rows into the chain; returns how many were sealed. */
  async seal(maxRows = 10_000): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('select audit_seal($1) as n', [maxRows]);
    return rows[0]!.n;
  }

  /**
   * Seals every row committed before this call. The sealer only chains rows below the oldest
   * running transaction (cluster-wide: another database's open transaction holds it back too), so
   * it is asked again until the watermark has passed this moment, for at most `maxWaitMs`.
   */
  async sealAll(maxWaitMs = 60_000): Promise<void> {
    const { rows: [target] } = await this.db.query<{ xmax: string }>('select pg_snapshot_xmax(pg_current_snapshot())::text as xmax');
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      while ((await this.seal()) > 0) { /* until nothing below the horizon is left */ }
      const { rows: [state] } = await this.db.query<{ done: boolean }>('select watermark >= $1::xid8 as done from audit_seal_state', [target!.xmax]);
      if (state!.done) return;
      if (Date.now() > deadline) {
        const { rows: holders } = await this.db.query<{ pid: number; datname: string; xact_start: Date }>(
          `select pid, datname, xact_start from pg_stat_activity where backend_xid is not null or backend_xmin is not null order by xact_start limit 1`);
        throw new Error(`audit: rows committed before ${target!.xmax} are still unsealed after ${maxWaitMs} ms; the oldest open transaction is ${JSON.stringify(holders[0] ?? null)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async verify(q: Queryable = this.db): Promise<VerifyReport> {
    let expectedSeq = 1;
    let prev = ZERO_HASH;
    let checked = 0;
    let firstProblem: VerifyReport['firstProblem'];
    for (;;) {
      const { rows } = await q.query<{
        seq: number; audit_id: number; prev_hash: string; chain_hash: string; id: number | null; row_hash: string | null; recomputed: string | null;
      }>(
        `select c.seq, c.audit_id, c.prev_hash, c.chain_hash, a.id, a.row_hash, audit_row_hash(a) as recomputed
         from audit_chain c left join audit_log a on a.id = c.audit_id
         where c.seq >= $1 order by c.seq limit $2`, [expectedSeq, BATCH]);
      for (const r of rows) {
        if (r.seq !== expectedSeq) {
          firstProblem = { problem: 'chain_gap', seq: expectedSeq, auditId: null, detail: `chain link ${expectedSeq} is missing (next is ${r.seq})` };
          break;
        }
        if (r.id === null) {
          firstProblem = { problem: 'row_missing', seq: r.seq, auditId: r.audit_id, detail: `audit row ${r.audit_id} was removed` };
          break;
        }
        if (r.recomputed !== r.row_hash) {
          firstProblem = { problem: 'row_hash_mismatch', seq: r.seq, auditId: r.id, detail: `audit row ${r.id} was altered after it was written` };
          break;
        }
        const expected = createHash('sha256').update(prev + r.row_hash).digest('hex');
        if (r.prev_hash !== prev || r.chain_hash !== expected) {
          firstProblem = { problem: 'chain_hash_mismatch', seq: r.seq, auditId: r.id, detail: `chain link ${r.seq} (audit row ${r.id}) does not follow from link ${r.seq - 1}` };
          break;
        }
        prev = r.chain_hash;
        expectedSeq++;
        checked++;
      }
      if (firstProblem || rows.length < BATCH) break;
    }
    // Rows that are neither chained nor queued for sealing: their link was removed.
    if (!firstProblem) {
      const { rows } = await q.query<{ id: number }>(
        `select a.id from audit_log a where a.txid < (select watermark from audit_seal_state)
           and not exists (select 1 from audit_chain c where c.audit_id = a.id) order by a.id limit 1`);
      if (rows[0]) firstProblem = { problem: 'unchained_row', seq: null, auditId: rows[0].id, detail: `audit row ${rows[0].id} is not in the chain` };
    }
    // Journal entries: each entry's stored hash must still match its postings, and be in the audit trail.
    const entries = await q.query<{ id: number }>(
      `select e.id from journal_entries e
       where e.entry_hash <> ledger_entry_hash(e.idempotency_id, e.type,
               (select jsonb_agg(jsonb_build_object('accountId', p.account_id, 'amount', p.amount::text)) from postings p where p.entry_id = e.id),
               e.cause)
          or not exists (select 1 from audit_log a where a.action = 'ledger.entry' and a.subject = e.id::text
                           and a.details->>'entryHash' = e.entry_hash)
       order by e.id limit 1`);
    const entryCount = await q.query<{ n: number }>('select count(*)::int as n from journal_entries');
    const unsealed = await q.query<{ n: number }>(
      `select count(*)::int as n from audit_log a where a.txid >= (select watermark from audit_seal_state)
         and not exists (select 1 from audit_chain c where c.audit_id = a.id)`);
    const report: VerifyReport = {
      ok: !firstProblem && entries.rows.length === 0,
      checkedRows: checked,
      unsealedRows: unsealed.rows[0]!.n,
      headSeq: expectedSeq - 1,
      headHash: prev,
      entries: { checked: entryCount.rows[0]!.n },
    };
    if (firstProblem) report.firstProblem = firstProblem;
    if (entries.rows[0]) report.entries.firstBadEntryId = entries.rows[0].id;
    return report;
  }
}
