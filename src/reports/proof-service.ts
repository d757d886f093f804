// Proof-of-reserves storage (issue 12 §6). The trees are built once, when a report's content is
// built (the reconciliation at its cut-off, or publishProofOfReserves below), and stored with every
// client's inclusion proof, keyed by the report they belong to (kind, reportKey) and the asset. They
// are never recomputed: a proof always matches the root the signed report carries, whatever the
// ledger does later. The salts come from a per-report secret, HMAC(master, kind + reportKey), and the
// master secret never leaves the service (a generated file, mode 0600).
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import { buildLiabilityTree, reserveCheck, rootPublishedIn, verifyInclusion, type InclusionProof, type LiabilityLeaf, type TreeRoot } from './proof-of-reserves.ts';
import type { PublishedReport, ReportKind, ReportService } from './report-service.ts';
import { renderPdf, toCsv, type RenderMeta, type Renderers } from './renderers.ts';

/** The master secret of the per-report salt seeds: `file` (64 hex), generated once when absent. */
export function openProofSecret(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file}: the proof-of-reserves secret must be 64 hex characters`);
  return Buffer.from(text, 'hex');
}

export interface ClientProof {
  reportId: string;
  reportKind: ReportKind;
  reportKey: string;
  asset: string;
  clientId: string;
  root: { hash: string; sum: string };
  /** Whether the root hash appears in the signed report's content (it is published there). */
  rootInSignedReport: boolean;
  proof: InclusionProof;
  verification: { ok: boolean; reason?: string };
}


export class ProofService {
  constructor(private readonly deps: { secret: Buffer; reports: ReportService; ledger: LedgerService; assets: AssetRegistry }) {}

  /** The salt seed of one report's trees (what buildLiabilityTree takes as `secret`). */
  secretFor(reportKind: ReportKind, reportKey: string): Buffer {
    return createHmac('sha256', this.deps.secret).update(`amanat-por-secret-v1\n${reportKind}\n${reportKey}`, 'utf8').digest();
  }

  /**
   * Builds the asset's liability tree for a report and stores its root and every proof (in the
   * caller's transaction). Idempotent: the same leaves again return the stored root; other leaves
   * for the same report and asset are REPORT_CONFLICT (a published root never changes).
   */
  async buildAndRecord(q: Queryable, input: { reportKind: ReportKind; reportKey: string; asset: string; leaves: LiabilityLeaf[] }): Promise<TreeRoot> {
    const tree = buildLiabilityTree(input.asset, input.leaves.filter((leaf) => leaf.balance > 0n), this.secretFor(input.reportKind, input.reportKey));
    return this.recordTree(q, { reportKind: input.reportKind, reportKey: input.reportKey, asset: input.asset, tree });
  }

  /**
   * Stores a tree the caller built with buildLiabilityTree (its own salt seed): the root and every
   * client's proof, so GET /v1/clients/:clientId/proof can serve them once the report is published.
   * Every proof is checked against the root first. Idempotent as buildAndRecord.
   */
  async recordTree(q: Queryable, input: { reportKind: ReportKind; reportKey: string; asset: string; tree: ReturnType<typeof buildLiabilityTree> }): Promise<TreeRoot> {
    const { tree } = input;
    for (const proof of tree.proofs.values()) {
      const check = verifyInclusion(proof, tree.root);
      if (!check.ok || proof.asset !== input.asset) throw new DomainError('BAD_ARGUMENT', `the ${input.asset} tree's proof for client ${proof.clientId} does not verify: ${check.reason ?? 'another asset'}`);
    }
    const inserted = await q.query(
      `insert into proof_of_reserves_trees (report_kind, report_key, asset, root_hash, root_sum, leaf_count) values ($1, $2, $3, $4, $5, $6)
       on conflict do nothing returning 1`,
      [input.reportKind, input.reportKey, input.asset, tree.root.hash, tree.root.sum.toString(), tree.proofs.size]);
    if (inserted.rowCount === 0) {
      const stored = await this.root(q, input.reportKind, input.reportKey, input.asset);
      if (stored?.hash !== tree.root.hash) {
        throw new DomainError('REPORT_CONFLICT', `the ${input.asset} liability tree of ${input.reportKind} ${input.reportKey} exists with another root`, { asset: input.asset, reportKey: input.reportKey });
      }
      return tree.root;
    }
    const proofs = [...tree.proofs.values()];
    for (let i = 0; i < proofs.length; i += 500) {
      const chunk = proofs.slice(i, i + 500);
      await q.query(
        `insert into proof_of_reserves_proofs (report_kind, report_key, asset, client_id, proof)
         select $1, $2, $3, (p->>'clientId')::uuid, p from jsonb_array_elements($4::jsonb) as p`,
        [input.reportKind, input.reportKey, input.asset, JSON.stringify(chunk)]);
    }
    return tree.root;
  }

  async root(q: Queryable, reportKind: ReportKind, reportKey: string, asset: string): Promise<TreeRoot | undefined> {
    const { rows } = await q.query<{ root_hash: string; root_sum: bigint }>(
      'select root_hash, root_sum from proof_of_reserves_trees where report_kind = $1 and report_key = $2 and asset = $3', [reportKind, reportKey, asset]);
    return rows[0] ? { hash: rows[0].root_hash, sum: BigInt(rows[0].root_sum) } : undefined;
  }

  /** A client's inclusion proof in a report (the latest signed one with a tree for the asset when reportId is absent). */
  async clientProof(q: Queryable, input: { clientId: string; asset: string; reportId?: string }): Promise<ClientProof> {
    let report: PublishedReport | undefined;
    if (input.reportId) {
      report = await this.deps.reports.get(input.reportId, q);
    } else {
      const { rows } = await q.query<{ id: string }>(
        `select r.id from proof_of_reserves_proofs p join reports r on r.kind = p.report_kind and r.report_key = p.report_key
         join report_signatures s on s.report_id = r.id
         where p.client_id = $1 and p.asset = $2 order by r.created_at desc limit 1`, [input.clientId, input.asset]);
      if (rows[0]) report = await this.deps.reports.get(rows[0].id, q);
    }
    if (!report) throw new DomainError('PROOF_NOT_FOUND', `no published report holds a ${input.asset} proof for client ${input.clientId}`, { clientId: input.clientId, asset: input.asset });
    const root = await this.root(q, report.kind, report.reportKey, input.asset);
    const { rows } = await q.query<{ proof: InclusionProof }>(
      'select proof from proof_of_reserves_proofs where report_kind = $1 and report_key = $2 and asset = $3 and client_id = $4',
      [report.kind, report.reportKey, input.asset, input.clientId]);
    const proof = rows[0]?.proof;
    if (!root || !proof) {
      throw new DomainError('PROOF_NOT_FOUND', `report ${report.id} holds no ${input.asset} proof for client ${input.clientId} (no liability at its cut-off)`,
        { clientId: input.clientId, asset: input.asset, reportId: report.id });
    }
    const content = await this.deps.reports.content(report.id, q);
    return {
      reportId: report.id, reportKind: report.kind, reportKey: report.reportKey, asset: input.asset, clientId: input.clientId,
      root: { hash: root.hash, sum: root.sum.toString() }, rootInSignedReport: rootPublishedIn(content, root.hash),
      proof, verification: verifyInclusion(proof, root),
    };
  }

  /**
   * A proof-of-reserves report of its own (kind proof_of_reserves, key = the instant): per asset the
   * liability root over every client's entitlement as of `asOf`, the total liabilities, and the
   * reserves the HOLDINGS BOOK shows at that instant (the clients' wallet accounts). The daily
   * reconciliation publishes the roots with the node's balances instead (src/reconciliation).
   */
  async publishProofOfReserves(pool: { query: Queryable['query'] }, asOf: Date): Promise<PublishedReport> {
    const reportKey = asOf.toISOString();
    const existing = await this.deps.reports.resume('proof_of_reserves', reportKey);
    if (existing) return existing;
    this.deps.reports.assertCanSign();
    const balances = await this.deps.ledger.allClientBalancesAsOf(pool, asOf);
    const assets = [];
    for (const asset of this.deps.assets.list()) {
      const rows = balances.filter((b) => b.asset === asset.code);
      const leaves = rows.map((b) => ({ clientId: b.clientId, balance: b.entitlement }));
      const liabilities = leaves.reduce((sum, leaf) => sum + leaf.balance, 0n);
      const reserves = rows.reduce((sum, b) => sum + b.hot + b.cold, 0n);
      const root = await this.buildAndRecord(pool, { reportKind: 'proof_of_reserves', reportKey, asset: asset.code, leaves });
      const check = reserveCheck(reserves, liabilities);
      assets.push({
        asset: asset.code, decimals: String(asset.decimals), root: { hash: root.hash, sum: root.sum.toString() }, clients: String(leaves.filter((l) => l.balance > 0n).length),
        liabilities: liabilities.toString(), reserves: reserves.toString(), reservesSource: 'holdings book (client wallet accounts) as of the instant',
        covered: check.covered, shortfall: check.shortfall.toString(), surplus: check.surplus.toString(),
      });
    }
    const content = { type: 'amanat-proof-of-reserves-v1', asOf: reportKey, algorithm: 'docs/reports.md#proof-of-reserves (amanat-por-proof-v1)', assets };
    return this.deps.reports.publish({ kind: 'proof_of_reserves', reportKey, content, renderers: proofOfReservesRenderers });
  }
}

interface PorContent { asOf: string; assets: { asset: string; root: { hash: string; sum: string }; clients: string; liabilities: string; reserves: string; covered: boolean; shortfall: string }[] }

export const proofOfReservesRenderers: Renderers = {
  csv(content) {
    const c = content as PorContent;
    return toCsv([
      ['asOf', 'asset', 'rootHash', 'rootSum', 'clients', 'liabilities', 'reserves', 'covered', 'shortfall'],
      ...c.assets.map((a) => [c.asOf, a.asset, a.root.hash, a.root.sum, a.clients, a.liabilities, a.reserves, String(a.covered), a.shortfall]),
    ]);
  },
  pdf(content, meta?: RenderMeta) {
    const c = content as PorContent;
    return renderPdf(`Amanat proof of reserves as of ${c.asOf}`, [
      { heading: 'Liabilities and reserves per asset (base units)', table: [['Asset', 'Clients', 'Liabilities', 'Reserves', 'Covered'], ...c.assets.map((a) => [a.asset, a.clients, a.liabilities, a.reserves, a.covered ? 'yes' : `NO (short ${a.shortfall})`])] },
      { heading: 'Merkle sum tree roots', lines: c.assets.map((a) => `${a.asset}: ${a.root.hash} (sum ${a.root.sum})`) },
    ], meta);
  },
};
