// The daily reconciliation (REC-01, REC-02, REC-04, REC-07, REG-06) as a persisted state machine, one
// run per report date:
//   claimed      a row exists for the date (unique), with a lease so two processes never work it at once
//   snapshotted  the cut-off height and block hash of each chain are recorded, with the snapshot instant
//   computed     the nodes were read at those heights, the holdings book as of the snapshot instant, the
//                breaks written and the report content stored (one transaction)
//   published    the stored content was published through ReportService (idempotent per kind and date)
//   done         breaks older than the configured age opened their incidents
// A process killed at any point leaves the last committed state; the next run() for the date (the
// scheduler, the CLI, the API) takes the lease over once it has lapsed and goes on from there. Reads at
// a fixed height and as of a fixed instant give the same content again; what is stored is what is
// published, so there is one report per date. No network call runs inside a database transaction.
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { DomainError } from '../platform/errors.ts';
import { inTransaction, type Queryable } from '../platform/tx.ts';
import { sha256Hex, canonicalJson } from '../platform/canonical.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import type { IncidentService } from '../incidents/index.ts';
import { usdCentsAt, type PriceSource } from '../pricing/index.ts';
import { buildLiabilityTree, reserveCheck } from '../reports/proof-of-reserves.ts';
import type { ProofService } from '../reports/proof-service.ts';
import type { BitcoinChainReader, EthereumChainReader, ChainMovement } from './chain-readers.ts';
import { reconcile, addressKey, type Break, type ReconLine, type LineResult, type MatchCounts } from './reconcile.ts';
import {
  RECONCILIATION_REPORT_TYPE, SEGREGATION_REPORT_TYPE, breakView, countsView, reconciliationCsv, reconciliationPdf, segregationCsv, segregationPdf,
  type AssetSummary, type ReconciliationReportContent, type SegregationReportContent, type PdfMeta,
} from './report-content.ts';
import { ASTANA_TIMEZONE, addDays, astanaDate, cutoffInstant, isReportDate, latestDueDate } from './schedule.ts';

export type RunState = 'claimed' | 'snapshotted' | 'computed' | 'published' | 'done' | 'failed';
export type RunTrigger = 'schedule' | 'on_demand' | 'cli';
type Chain = 'bitcoin' | 'ethereum';

/** What the reconciliation needs of the report store (src/reports ReportService). */
export interface ReportPublisher {
  publish(input: { kind: 'reconciliation' | 'segregation'; reportKey: string; content: object;
    renderers: { csv(content: unknown): Buffer; pdf(content: unknown, meta?: PdfMeta): Promise<Buffer> } }): Promise<{ id: string; contentHash: string }>;
}

export interface ReconciliationDeps {
  pool: pg.Pool;
  ledger: LedgerService;
  assets: AssetRegistry;
  incidents: Pick<IncidentService, 'open'>;
  reports?: ReportPublisher;
  /** Stores each asset's liability tree (root and every client's proof) with the run, for GET /v1/clients/:clientId/proof. */
  proofs?: Pick<ProofService, 'recordTree'>;
  bitcoin?: BitcoinChainReader;
  ethereum?: EthereumChainReader;
  prices?: PriceSource & { readonly asOf?: Date };
  config: Config['reconciliation'];
  log: Logger;
  now?: () => Date;
  /** Test hook: runs after each state is committed (a crash test kills the process there). */
  afterStep?: (state: RunState) => Promise<void>;
}

export interface RunView {
  id: string; reportDate: string; trigger: RunTrigger; state: RunState; cutoffAt: string; snapshotAt: string | null;
  heights: Record<string, { height: number; blockHash: string }> | null; reportId: string | null; segregationReportId: string | null;
  contentHash: string | null; summary: Record<string, unknown> | null; attempts: number; lastError: string | null;
  createdAt: string; finishedAt: string | null;
}

interface RunRow {
  id: string; report_date: string; trigger: RunTrigger; state: RunState; cutoff_at: Date; snapshot_at: Date | null;
  heights: Record<string, { height: number; blockHash: string }> | null; por_secret: Buffer; content: ReconciliationReportContent | null;
  content_hash: string | null; segregation: SegregationReportContent | null; report_id: string | null; segregation_report_id: string | null;
  summary: Record<string, unknown> | null; attempts: number; last_error: string | null; created_at: Date; finished_at: Date | null;
  lease_owner: string | null; lease_until: Date | null;
}

const RUN_COLUMNS = `id, to_char(report_date, 'YYYY-MM-DD') as report_date, trigger, state, cutoff_at, snapshot_at, heights, por_secret, content, content_hash,
  segregation, report_id, segregation_report_id, summary, attempts, last_error, created_at, finished_at, lease_owner, lease_until`;

const view = (r: RunRow): RunView => ({
  id: r.id, reportDate: r.report_date, trigger: r.trigger, state: r.state, cutoffAt: r.cutoff_at.toISOString(), snapshotAt: r.snapshot_at?.toISOString() ?? null,
  heights: r.heights, reportId: r.report_id, segregationReportId: r.segregation_report_id, contentHash: r.content_hash, summary: r.summary,
  attempts: r.attempts, lastError: r.last_error, createdAt: r.created_at.toISOString(), finishedAt: r.finished_at?.toISOString() ?? null,
});

interface WalletRow { id: string; owner: 'client' | 'house'; client_id: string | null; house_purpose: string | null; chain: Chain; tier: 'hot' | 'cold'; classification: string | null; addresses: string[] }

const HOUSE_ACCOUNT: Record<string, string> = { fees: 'house_wallet_fees', gas_station: 'house_wallet_gas' };

const bp = (part: bigint, whole: bigint): bigint => (whole > 0n ? (part * 10_000n) / whole : 0n);
const priceText = (p: { numerator: bigint; denominator: bigint }): string => {
  let scale = 0;
  for (let d = p.denominator; d > 1n && d % 10n === 0n; d /= 10n) scale++;
  if (10n ** BigInt(scale) !== p.denominator) return `${p.numerator}/${p.denominator}`;
  const s = p.numerator.toString().padStart(scale + 1, '0');
  return scale === 0 ? s : `${s.slice(0, -scale)}.${s.slice(-scale)}`;
};

export class ReconciliationService {
  private readonly instance = `recon-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly now: () => Date;

  private readonly runsInProcess = new Map<string, Promise<RunView>>();

  constructor(private readonly deps: ReconciliationDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Runs (or resumes) the reconciliation of `reportDate` (default: the latest date whose cut-off has
   * passed, Astana time). Idempotent per date: a finished run is returned as it is; a run another
   * process holds is returned in its current state.
   */
  async run(input: { reportDate?: string; cutoff?: Date; trigger?: RunTrigger } = {}): Promise<RunView> {
    const { config } = this.deps;
    const reportDate = input.reportDate ?? latestDueDate(this.now(), config.cutoffTime);
    if (!isReportDate(reportDate)) throw new DomainError('BAD_ARGUMENT', 'reportDate is YYYY-MM-DD');
    if (reportDate > astanaDate(this.now())) throw new DomainError('BAD_ARGUMENT', `${reportDate} is in the future (Astana time)`);
    // The lease lets this process take its own run again (after a crash of a step); within the
    // process, a second caller of the same date (the schedule and "run now") waits for the first.
    const running = this.runsInProcess.get(reportDate);
    if (running) return running;
    const work = this.runDate(reportDate, input);
    this.runsInProcess.set(reportDate, work);
    try {
      return await work;
    } finally {
      this.runsInProcess.delete(reportDate);
    }
  }

  private async runDate(reportDate: string, input: { cutoff?: Date; trigger?: RunTrigger }): Promise<RunView> {
    const { config } = this.deps;
    const cutoffAt = input.cutoff ?? cutoffInstant(reportDate, config.cutoffTime);
    await this.deps.pool.query(
      `insert into recon_runs (report_date, trigger, cutoff_at, por_secret) values ($1, $2, $3, $4) on conflict (report_date) do nothing`,
      [reportDate, input.trigger ?? 'on_demand', cutoffAt, randomBytes(32)]);
    let row = await this.claim(reportDate);
    if (!row) return view((await this.byDate(this.deps.pool, reportDate))!);
    try {
      while (row.state !== 'done' && row.state !== 'failed') {
        row = await this.step(row);
        await this.deps.afterStep?.(row.state);
      }
      await this.deps.pool.query(`update recon_runs set lease_owner = null, lease_until = null, updated_at = now() where id = $1`, [row.id]);
      return view(row);
    } catch (error) {
      await this.deps.pool.query(`update recon_runs set last_error = $2, lease_until = now(), updated_at = now() where id = $1`,
        [row.id, error instanceof Error ? error.message.slice(0, 2000) : String(error)]).catch(() => undefined);
      throw error;
    }
  }

  /** Takes the run's lease unless a live process holds it; undefined then (or when it is already done). */
  private async claim(reportDate: string): Promise<RunRow | undefined> {
    const { rows } = await this.deps.pool.query<RunRow>(
      `update recon_runs set lease_owner = $2, lease_until = now() + make_interval(secs => $3), attempts = attempts + 1, updated_at = now()
       where report_date = $1 and state not in ('done', 'failed') and (lease_until is null or lease_until < now() or lease_owner = $2)
       returning ${RUN_COLUMNS}`, [reportDate, this.instance, this.deps.config.leaseSeconds]);
    return rows[0];
  }

  private async byDate(q: Queryable, reportDate: string): Promise<RunRow | undefined> {
    const { rows } = await q.query<RunRow>(`select ${RUN_COLUMNS} from recon_runs where report_date = $1`, [reportDate]);
    return rows[0];
  }

  private async advance(id: string, state: RunState, set: Record<string, unknown>, q: Queryable = this.deps.pool): Promise<RunRow> {
    const names = Object.keys(set);
    const assignments = names.map((n, i) => `${n} = $${i + 3}`).join(', ');
    const { rows } = await q.query<RunRow>(
      `update recon_runs set state = $2, ${assignments ? `${assignments}, ` : ''}lease_until = now() + make_interval(secs => ${Number(this.deps.config.leaseSeconds)}), updated_at = now()
       where id = $1 and lease_owner = $${names.length + 3} returning ${RUN_COLUMNS}`, [id, state, ...names.map((n) => set[n]), this.instance]);
    if (!rows[0]) throw new DomainError('INTERNAL', `reconciliation run ${id}: the lease was lost`);
    return rows[0];
  }

  private async step(row: RunRow): Promise<RunRow> {
    switch (row.state) {
      case 'claimed': return this.snapshot(row);
      case 'snapshotted': {
        // A reorg below the recorded height since the snapshot: take the heights again.
        for (const [chain, h] of Object.entries(row.heights ?? {})) {
          const reader = chain === 'bitcoin' ? this.deps.bitcoin : this.deps.ethereum;
          if (reader && (await reader.blockHashAt(h.height)) !== h.blockHash) return this.snapshot(row);
        }
        return this.compute(row);
      }
      case 'computed': return this.publish(row);
      case 'published': return this.escalate(row);
      default: return row;
    }
  }

  private async snapshot(row: RunRow): Promise<RunRow> {
    const heights: Record<string, { height: number; blockHash: string }> = {};
    if (this.deps.bitcoin) heights.bitcoin = await this.deps.bitcoin.tip();
    if (this.deps.ethereum) heights.ethereum = await this.deps.ethereum.tip();
    // The snapshot instant is the database's clock, the one postings are stamped with.
    const { rows } = await this.deps.pool.query<{ now: Date }>('select now() as now');
    return this.advance(row.id, 'snapshotted', { heights: JSON.stringify(heights), snapshot_at: rows[0]!.now });
  }

  /** Reads the nodes and the book for a snapshotted run and compares them; no transaction is open meanwhile. */
  private async evaluate(row: RunRow) {
    const snapshotAt = row.snapshot_at!;
    const heights = row.heights ?? {};
    const { pool, ledger, config } = this.deps;
    const assets = this.deps.assets.list();
    const started = Date.now();
    const phase = (name: string) => this.deps.log.debug({ phase: name, ms: Date.now() - started }, 'reconciliation compute');
    const { rows: wallets } = await pool.query<WalletRow>(
      `select w.id, w.owner, w.client_id, w.house_purpose, w.chain, w.tier, c.classification,
              coalesce(array_agg(wa.address order by wa.id) filter (where wa.address is not null), '{}') as addresses
       from wallets w left join wallet_addresses wa on wa.wallet_id = w.id and wa.created_at <= $1
       left join clients c on c.id = w.client_id where w.created_at <= $1
       group by w.id, c.classification order by w.id`, [snapshotAt]);
    const readers: Partial<Record<Chain, true>> = { ...(this.deps.bitcoin && heights.bitcoin ? { bitcoin: true } : {}), ...(this.deps.ethereum && heights.ethereum ? { ethereum: true } : {}) };
    const chainsWithWallets = new Set(wallets.filter((w) => w.addresses.length > 0).map((w) => w.chain));
    const notReconciled = assets.filter((a) => chainsWithWallets.has(a.chain) && !readers[a.chain]).map((a) => a.code);
    const reconciledAssets = assets.filter((a) => readers[a.chain]);
    const addressesOn = (chain: Chain) => [...new Set(wallets.filter((w) => w.chain === chain).flatMap((w) => w.addresses.map((a) => (chain === 'ethereum' ? a.toLowerCase() : a))))];

    // The nodes at the recorded heights (both chains at once) while the book is read as of the snapshot.
    const balances = new Map<string, bigint>();
    const movements: ChainMovement[] = [];
    const readBitcoin = async () => {
      if (!readers.bitcoin) return;
      const read = await this.deps.bitcoin!.read(addressesOn('bitcoin'), heights.bitcoin!.height);
      for (const [a, v] of read.balances) balances.set(addressKey('BTC', a, 'bitcoin'), v);
      movements.push(...read.movements);
    };
    const readEthereum = async () => {
      if (!readers.ethereum) return;
      const reader = this.deps.ethereum!;
      const height = heights.ethereum!.height;
      const addresses = addressesOn('ethereum');
      const tokens = reconciledAssets.filter((a) => a.chain === 'ethereum' && a.contractAddress).map((a) => ({ asset: a.code, contract: a.contractAddress! }));
      const [eth, moved, ...tokenBalances] = await Promise.all([reader.ethBalances(addresses, height), reader.movements(addresses, tokens, config.ethereumFromBlock, height),
        ...tokens.map((t) => reader.tokenBalances(t.contract, addresses, height))]);
      for (const [a, v] of eth) balances.set(addressKey('ETH', a, 'ethereum'), v);
      tokens.forEach((t, i) => { for (const [a, v] of tokenBalances[i]!) balances.set(addressKey(t.asset, a, 'ethereum'), v); });
      movements.push(...moved);
    };
    const readBook = async () => {
      const [accounts, journal, inFlight, gasFloat] = await Promise.all([ledger.accountsAsOf(pool, snapshotAt), ledger.holdingsMovementsAsOf(pool, snapshotAt),
        this.inFlight(pool, snapshotAt), this.gasFloat(pool)]);
      phase('book read');
      return { accounts, journal, inFlight, gasFloat };
    };
    const [{ accounts, journal, inFlight, gasFloat }] = await Promise.all([readBook(), readBitcoin(), readEthereum()]);
    const balanceOf = new Map(accounts.map((a) => [a.code, a.balance]));

    // REC-04: no address under two owners.
    const ownerOf = new Map<string, string>();
    let addressOwnersUnique = true;
    for (const w of wallets) {
      const owner = w.owner === 'client' ? `client:${w.client_id}` : `house:${w.house_purpose}`;
      for (const a of w.addresses) {
        const k = `${w.chain}:${w.chain === 'ethereum' ? a.toLowerCase() : a}`;
        if (ownerOf.has(k) && ownerOf.get(k) !== owner) addressOwnersUnique = false;
        ownerOf.set(k, owner);
      }
    }

    // Lines: one per holdings account fed by addresses.
    const lines = new Map<string, ReconLine & { classification: string | null }>();
    for (const w of wallets) {
      for (const asset of reconciledAssets.filter((a) => a.chain === w.chain)) {
        const account = w.owner === 'client'
          ? `client_trust/${w.client_id}/${asset.code}/client_wallet_${w.tier}`
          : `house/${asset.code}/${HOUSE_ACCOUNT[w.house_purpose!] ?? `house_wallet_${w.house_purpose}`}`;
        const line = lines.get(account) ?? { account, owner: w.owner, clientId: w.client_id, asset: asset.code, chain: w.chain,
          tier: w.owner === 'client' ? w.tier : (HOUSE_ACCOUNT[w.house_purpose!] ?? w.house_purpose!), addresses: [], book: balanceOf.get(account) ?? 0n,
          classification: w.classification };
        line.addresses.push(...w.addresses);
        lines.set(account, line);
      }
    }
    const byChain = (chain: Chain) => [...lines.values()].filter((l) => l.chain === chain);

    phase('nodes read');
    const results: LineResult[] = [];
    const breaks: Break[] = [];
    const counts: { chain: string; counts: MatchCounts }[] = [];
    for (const chain of Object.keys(readers) as Chain[]) {
      const r = reconcile({ lines: byChain(chain), balances, movements: movements.filter((m) => m.chain === chain), journal, inFlight, gasFloat,
        cutoff: snapshotAt, missingMovementGraceMs: config.missingMovementGraceHours * 3_600_000 });
      results.push(...r.lines);
      breaks.push(...r.breaks);
      counts.push({ chain, counts: r.counts });
    }
    // Assets whose chain has no node this run are listed apart (notReconciled), never shown as matched.
    if (notReconciled.length > 0) this.deps.log.warn({ notReconciled }, 'reconciliation: no node for these assets\' chain: not reconciled');

    phase('matched');
    /** The content, given when each break was first seen (earlier runs with the same key). */
    const build = (firstSeen: Map<string, Date>) => {
      const aged = breaks.map((b) => ({ ...b, firstSeenAt: firstSeen.get(b.key) ?? snapshotAt }));
      const trees: { asset: string; tree: ReturnType<typeof buildLiabilityTree> }[] = [];
      const content = this.buildContent(row, snapshotAt, heights, reconciledAssets, results, aged, counts, accounts, notReconciled, [...lines.values()], trees);
      const segregation = this.segregation(row.report_date, snapshotAt, reconciledAssets, results, accounts, content, addressOwnersUnique);
      const summary = {
        lines: results.length, matchedLines: results.filter((l) => l.matched).length, breaks: aged.length,
        unexplained: aged.filter((b) => !b.explained).length, allLinesMatched: content.allLinesMatched,
      };
      return { aged, content, segregation, summary, trees };
    };
    return { keys: breaks.map((b) => b.key), build };
  }

  private async firstSeen(q: Queryable, runId: string, keys: string[]): Promise<Map<string, Date>> {
    const { rows } = await q.query<{ break_key: string; first: Date }>(
      `select break_key, min(first_seen_at) as first from recon_breaks where break_key = any($1) and run_id <> $2 group by break_key`, [keys, runId]);
    return new Map(rows.map((r) => [r.break_key, r.first]));
  }

  private async compute(row: RunRow): Promise<RunRow> {
    const evaluated = await this.evaluate(row);
    return inTransaction(this.deps.pool, async (q) => {
      const { aged, content, segregation, summary, trees } = evaluated.build(await this.firstSeen(q, row.id, evaluated.keys));
      // Every client's inclusion proof is stored with the roots the report publishes (same transaction).
      for (const { asset, tree } of trees) await this.deps.proofs?.recordTree(q, { reportKind: 'reconciliation', reportKey: row.report_date, asset, tree });
      // The breaks and the state commit together: a compute that did not commit left none behind.
      for (const b of aged) {
        await q.query(
          `insert into recon_breaks (run_id, break_key, class, owner, client_id, asset, tier, chain, txid, expected, actual, difference, explained, explanation, first_seen_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
          [row.id, b.key, b.class, b.owner, b.clientId, b.asset, b.tier, b.chain, b.txid, b.expected.toString(),
            b.actual.toString(), b.difference.toString(), b.explained, b.explanation, b.firstSeenAt]);
      }
      const canonical = canonicalJson(content as unknown as Record<string, unknown>);
      return this.advance(row.id, 'computed', { content: canonical, content_hash: sha256Hex(canonical),
        segregation: canonicalJson(segregation as unknown as Record<string, unknown>), summary: JSON.stringify(summary) }, q);
    });
  }

  /**
   * REC-05: computes a finished run's content again from what it recorded (the heights, the snapshot
   * instant) and the data as of then: the nodes at those heights, the book as of the snapshot. The
   * same hash as the stored (published) content unless something changed that should not have
   * (a reorg below the height, a rewritten book) or the price set was replaced since (REC-07 values
   * use the price source's current set).
   */
  async recompute(reportDate: string): Promise<{ reportDate: string; storedContentHash: string; recomputedContentHash: string; equal: boolean }> {
    const row = await this.byDate(this.deps.pool, reportDate);
    if (!row || !row.content_hash || !['computed', 'published', 'done'].includes(row.state)) {
      throw new DomainError('REPORT_NOT_FOUND', `no computed reconciliation for ${reportDate}`);
    }
    const evaluated = await this.evaluate(row);
    const { content } = evaluated.build(await this.firstSeen(this.deps.pool, row.id, evaluated.keys));
    const hash = sha256Hex(canonicalJson(content as unknown as Record<string, unknown>));
    return { reportDate, storedContentHash: row.content_hash, recomputedContentHash: hash, equal: hash === row.content_hash };
  }

  /**
   * The house's ETH on client addresses: a gas top-up for an ERC-20 payout lands on the client's
   * address and that payout spends it as gas; both are booked to house_gas_float (house money), never
   * to the client's ETH holdings. Keyed `ETH:<txid>`.
   */
  private async gasFloat(q: Queryable): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const { rows } = await q.query<{ txid: string; gas_top_up: string | null }>(
      `select w.txid, w.build->>'gasTopUpTxid' as gas_top_up from withdrawals w join assets a on a.code = w.asset
       where a.chain = 'ethereum' and a.contract_address is not null and w.txid is not null`);
    for (const r of rows) {
      out.set(`ETH:${r.txid}`, 'house gas float: the gas of an ERC-20 payout, paid from ETH the house put on the address (house_gas_float)');
      if (r.gas_top_up) out.set(`ETH:${r.gas_top_up}`, 'house gas float: a top-up from the gas station for an ERC-20 payout (house_gas_float, not client holdings)');
    }
    return out;
  }

  /** Items in flight at the cut-off, by txid: a deposit the scanner has seen, a transaction of ours; matched when their journal entry is missing. */
  private async inFlight(q: Queryable, at: Date): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const { rows: deposits } = await q.query<{ txid: string }>(
      `select distinct txid from deposits where detected_at <= $1 and status in ('pending', 'credited')`, [at]);
    // One text whatever the deposit's state now: a recomputation later must give the same content.
    for (const d of deposits) out.set(d.txid, 'deposit seen by the scanner, not yet credited at the cut-off');
    const { rows: own } = await q.query<{ txid: string; purpose: string }>(`select txid, purpose from own_transactions`);
    for (const t of own) out.set(t.txid, `our ${t.purpose.replace('_', ' ')} transaction, not yet booked at the cut-off`);
    return out;
  }

  private buildContent(row: RunRow, snapshotAt: Date, heights: Record<string, { height: number; blockHash: string }>, assets: Asset[], lines: LineResult[],
    breaks: (Break & { firstSeenAt: Date })[], counts: { chain: string; counts: MatchCounts }[],
    accounts: { code: string; kind: string; asset: string; clientId: string | null; balance: bigint }[], notReconciled: string[],
    rawLines: (ReconLine & { classification: string | null })[], trees: { asset: string; tree: ReturnType<typeof buildLiabilityTree> }[] = []): ReconciliationReportContent {
    const classification = new Map(rawLines.map((l) => [l.account, l.classification]));
    const summaries: AssetSummary[] = [];
    const settlement: ReconciliationReportContent['settlement'] = [];
    for (const asset of assets) {
      const client = lines.filter((l) => l.asset === asset.code && l.owner === 'client');
      const house = lines.filter((l) => l.asset === asset.code && l.owner === 'house');
      const sum = (ls: LineResult[], f: (l: LineResult) => bigint) => ls.reduce((s, l) => s + f(l), 0n);
      const hot = sum(client.filter((l) => l.tier === 'hot'), (l) => l.onChain);
      const cold = sum(client.filter((l) => l.tier === 'cold'), (l) => l.onChain);
      const retail = client.filter((l) => classification.get(l.account) === 'retail');
      const retailHot = sum(retail.filter((l) => l.tier === 'hot'), (l) => l.onChain);
      const retailTotal = sum(retail, (l) => l.onChain);
      const entitlements = accounts.filter((a) => a.asset === asset.code && a.kind === 'client_entitlement');
      const entitlement = entitlements.reduce((s, a) => s + a.balance, 0n);
      const holdingsOf = new Map<string, bigint>();
      for (const a of accounts) {
        if (a.asset === asset.code && a.clientId && (a.kind === 'client_wallet_hot' || a.kind === 'client_wallet_cold')) holdingsOf.set(a.clientId, (holdingsOf.get(a.clientId) ?? 0n) + a.balance);
      }
      const holdingsTotal = [...holdingsOf.values()].reduce((s, v) => s + v, 0n);
      for (const e of entitlements) {
        const held = holdingsOf.get(e.clientId!) ?? 0n;
        if (e.balance !== held) settlement.push({ clientId: e.clientId!, asset: asset.code, entitlement: e.balance.toString(), holdings: held.toString(), pending: (e.balance - held).toString() });
      }
      const onChainTotal = hot + cold;
      const houseOnChain = sum(house, (l) => l.onChain);
      const houseBook = accounts.filter((a) => a.asset === asset.code && a.clientId === null && a.code.startsWith('house/') &&
        ['house_wallet_fees', 'house_wallet_gas', 'house_wallet_suspense', 'house_gas_float'].includes(a.kind)).reduce((s, a) => s + a.balance, 0n);
      let usd: AssetSummary['usd'] = null;
      try {
        const price = this.deps.prices?.usdPerUnit(asset.code);
        if (price && this.deps.prices) {
          usd = { price: priceText(price), priceTime: this.deps.prices.asOf?.toISOString() ?? null, source: this.deps.prices.source, priceVersion: this.deps.prices.version,
            onChainUsdCents: usdCentsAt(price, onChainTotal, asset.decimals).toString(), clientHoldingsUsdCents: usdCentsAt(price, holdingsTotal, asset.decimals).toString(),
            houseUsdCents: usdCentsAt(price, houseOnChain, asset.decimals).toString() };
        }
      } catch (error) {
        this.deps.log.warn({ err: error, asset: asset.code }, 'reconciliation: no usable USD price');
      }
      // Proof of reserves: liabilities are the clients' entitlements; reserves what the node shows in their wallets.
      let proofOfReserves: AssetSummary['proofOfReserves'] = null;
      const leaves = entitlements.filter((e) => e.balance > 0n).map((e) => ({ clientId: e.clientId!, balance: e.balance }));
      if (leaves.length > 0) {
        const tree = buildLiabilityTree(asset.code, leaves, row.por_secret);
        trees.push({ asset: asset.code, tree });
        const check = reserveCheck(onChainTotal, tree.root.sum);
        proofOfReserves = { root: tree.root.hash, sum: tree.root.sum.toString(), leaves: String(leaves.length), reservesOnChain: onChainTotal.toString(),
          covered: check.covered, shortfall: check.shortfall.toString() };
      }
      const assetBreaks = breaks.filter((b) => b.asset === asset.code);
      summaries.push({
        asset: asset.code, chain: asset.chain, decimals: String(asset.decimals),
        onChain: { total: onChainTotal.toString(), hot: hot.toString(), cold: cold.toString() },
        holdings: { total: sum(client, (l) => l.book).toString(), hot: sum(client.filter((l) => l.tier === 'hot'), (l) => l.book).toString(),
          cold: sum(client.filter((l) => l.tier === 'cold'), (l) => l.book).toString() },
        entitlement: entitlement.toString(), settlementPending: (entitlement - holdingsTotal).toString(),
        retailHotShareBp: bp(retailHot, retailTotal).toString(),
        house: { onChain: houseOnChain.toString(), holdings: houseBook.toString() },
        lines: { total: String(client.length + house.length), matched: String([...client, ...house].filter((l) => l.matched).length) },
        breaks: { total: String(assetBreaks.length), unexplained: String(assetBreaks.filter((b) => !b.explained).length) },
        usd, proofOfReserves,
      });
    }
    return {
      type: RECONCILIATION_REPORT_TYPE, reportDate: row.report_date, timezone: ASTANA_TIMEZONE, cutoffAt: row.cutoff_at.toISOString(), snapshotAt: snapshotAt.toISOString(),
      chains: Object.entries(heights).map(([chain, h]) => ({ chain, height: String(h.height), blockHash: h.blockHash })),
      notReconciled,
      assets: summaries,
      house: lines.filter((l) => l.owner === 'house').map((l) => ({ account: l.account, asset: l.asset, onChain: l.onChain.toString(), holdings: l.book.toString(), addresses: l.addresses })),
      matching: counts.map((c) => countsView(c.chain, c.counts)),
      breaks: breaks.map((b) => breakView(b, snapshotAt)),
      settlement,
      allLinesMatched: breaks.length === 0,
    };
  }

  private segregation(reportDate: string, snapshotAt: Date, assets: Asset[], lines: LineResult[],
    accounts: { code: string; kind: string; asset: string; clientId: string | null; balance: bigint }[], recon: ReconciliationReportContent, unique: boolean): SegregationReportContent {
    const clients: SegregationReportContent['clients'] = [];
    const entitlementOf = new Map(accounts.filter((a) => a.kind === 'client_entitlement').map((a) => [`${a.clientId}|${a.asset}`, a.balance]));
    const byClient = new Map<string, LineResult[]>();
    for (const l of lines.filter((x) => x.owner === 'client')) {
      const k = `${l.clientId}|${l.asset}`;
      byClient.set(k, [...(byClient.get(k) ?? []), l]);
    }
    for (const [k, ls] of [...byClient.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const [clientId, asset] = k.split('|') as [string, string];
      const hot = ls.filter((l) => l.tier === 'hot');
      const cold = ls.filter((l) => l.tier === 'cold');
      const onHot = hot.reduce((s, l) => s + l.onChain, 0n);
      const onCold = cold.reduce((s, l) => s + l.onChain, 0n);
      clients.push({ clientId, asset, entitlement: (entitlementOf.get(k) ?? 0n).toString(), holdings: ls.reduce((s, l) => s + l.book, 0n).toString(),
        onChain: { hot: onHot.toString(), cold: onCold.toString(), total: (onHot + onCold).toString() },
        hotAddresses: hot.flatMap((l) => l.addresses), coldAddresses: cold.flatMap((l) => l.addresses) });
    }
    const house = lines.filter((l) => l.owner === 'house').map((l) => ({ account: l.account, asset: l.asset, holdings: l.book.toString(), onChain: l.onChain.toString(), addresses: l.addresses }));
    const totals = assets.map((a) => {
      const mine = clients.filter((c) => c.asset === a.code);
      const s = (f: (c: SegregationReportContent['clients'][number]) => string) => mine.reduce((t, c) => t + BigInt(f(c)), 0n).toString();
      const summary = recon.assets.find((x) => x.asset === a.code)!;
      return { asset: a.code, clientEntitlement: summary.entitlement, clientHoldings: s((c) => c.holdings), clientOnChain: s((c) => c.onChain.total), houseOnChain: summary.house.onChain };
    });
    return { type: SEGREGATION_REPORT_TYPE, reportDate, snapshotAt: snapshotAt.toISOString(), clients, house, totals, addressOwnersUnique: unique };
  }

  private async publish(row: RunRow): Promise<RunRow> {
    const { reports } = this.deps;
    if (!reports) {
      this.deps.log.warn({ reportDate: row.report_date }, 'reconciliation: no report store (no signer configured): the run is kept, the report is not published');
      return this.advance(row.id, 'published', {});
    }
    const published = await reports.publish({ kind: 'reconciliation', reportKey: row.report_date, content: row.content!,
      renderers: { csv: (c) => reconciliationCsv(c as ReconciliationReportContent), pdf: (c, meta) => reconciliationPdf(c as ReconciliationReportContent, meta) } });
    const segregation = await reports.publish({ kind: 'segregation', reportKey: row.report_date, content: row.segregation!,
      renderers: { csv: (c) => segregationCsv(c as SegregationReportContent), pdf: (c, meta) => segregationPdf(c as SegregationReportContent, meta) } });
    return this.advance(row.id, 'published', { report_id: published.id, segregation_report_id: segregation.id });
  }

  /** REG-06: each unexplained break first seen longer ago than the configured age opens (or finds) its incident. */
  private async escalate(row: RunRow): Promise<RunRow> {
    const maxAgeMs = this.deps.config.breakMaxAgeHours * 3_600_000;
    return inTransaction(this.deps.pool, async (q) => {
      const { rows } = await q.query<{ id: string; break_key: string; class: string; client_id: string | null; asset: string; tier: string; txid: string | null; difference: string; first_seen_at: Date }>(
        `select id, break_key, class, client_id, asset, tier, txid, difference::text, first_seen_at from recon_breaks
         where run_id = $1 and not explained and incident_id is null and first_seen_at < $2 order by id`,
        [row.id, new Date(row.snapshot_at!.getTime() - maxAgeMs)]);
      for (const b of rows) {
        const incident = await this.deps.incidents.open(q, {
          type: 'recon_break', dedupeKey: b.break_key.slice(0, 200), actor: 'reconciliation',
          summary: `Reconciliation break (${b.class}) in ${b.asset}${b.client_id ? ` for client ${b.client_id}` : ''} unexplained since ${b.first_seen_at.toISOString()}`.slice(0, 500),
          detail: { runId: row.id, reportDate: row.report_date, class: b.class, asset: b.asset, tier: b.tier, txid: b.txid, difference: b.difference, firstSeenAt: b.first_seen_at.toISOString() },
          clientIds: b.client_id ? [b.client_id] : [],
        });
        await q.query('update recon_breaks set incident_id = $2 where id = $1', [b.id, incident.id]);
      }
      return this.advance(row.id, 'done', { finished_at: new Date() }, q);
    });
  }

  // ---- reads -------------------------------------------------------------------------------

  async get(q: Queryable, reportDate: string): Promise<RunView | undefined> {
    const row = await this.byDate(q, reportDate);
    return row ? view(row) : undefined;
  }

  /** The stored report content of a date's run (what was published). */
  async content(q: Queryable, reportDate: string): Promise<ReconciliationReportContent | undefined> {
    return (await this.byDate(q, reportDate))?.content ?? undefined;
  }

  /**
   * Runs between two dates and the gaps: every date from the first run on (or `from`) whose cut-off
   * has passed by more than the grace period without a published run.
   */
  async list(q: Queryable, filter: { from?: string; to?: string } = {}): Promise<{ runs: RunView[]; gaps: { reportDate: string; reason: string }[] }> {
    const { rows } = await q.query<RunRow>(
      `select ${RUN_COLUMNS} from recon_runs where ($1::date is null or report_date >= $1) and ($2::date is null or report_date <= $2) order by report_date`,
      [filter.from ?? null, filter.to ?? null]);
    return { runs: rows.map(view), gaps: await this.gaps(q, filter) };
  }

  private async gaps(q: Queryable, filter: { from?: string; to?: string }): Promise<{ reportDate: string; reason: string }[]> {
    const { config } = this.deps;
    const { rows: first } = await q.query<{ d: string | null }>(`select to_char(min(report_date), 'YYYY-MM-DD') as d from recon_runs`);
    const start = filter.from ?? first[0]!.d;
    if (!start) return [];
    const now = this.now();
    let end = latestDueDate(new Date(now.getTime() - config.missedAfterMinutes * 60_000), config.cutoffTime);
    if (filter.to && filter.to < end) end = filter.to;
    const { rows } = await q.query<{ d: string; state: RunState }>(
      `select to_char(report_date, 'YYYY-MM-DD') as d, state from recon_runs where report_date between $1 and $2`, [start, end]);
    const state = new Map(rows.map((r) => [r.d, r.state]));
    const out: { reportDate: string; reason: string }[] = [];
    for (let d = start; d <= end && out.length < 1000; d = addDays(d, 1)) {
      const s = state.get(d);
      if (s === 'published' || s === 'done') continue;
      out.push({ reportDate: d, reason: s ? `run not finished (state ${s})` : 'missing report: no run' });
    }
    return out;
  }

  /** REG-06 / REC-01: each missed day opens a recon_missed incident (one per date). Returns the gaps. */
  async checkMissed(): Promise<{ reportDate: string; reason: string }[]> {
    const gaps = await this.gaps(this.deps.pool, {});
    for (const gap of gaps) {
      await inTransaction(this.deps.pool, (q) => this.deps.incidents.open(q, {
        type: 'recon_missed', dedupeKey: `recon_missed:${gap.reportDate}`, actor: 'reconciliation',
        summary: `The daily reconciliation of ${gap.reportDate} did not complete by its cut-off plus ${this.deps.config.missedAfterMinutes} minutes (${gap.reason})`,
        detail: { reportDate: gap.reportDate, reason: gap.reason },
      }));
    }
    return gaps;
  }

  /** Breaks of a run, by the published report's id or the run's date. */
  async breaks(q: Queryable, ref: { reportId?: string; reportDate?: string }): Promise<{ run: RunView; breaks: Record<string, unknown>[] } | undefined> {
    const { rows } = await q.query<RunRow>(`select ${RUN_COLUMNS} from recon_runs where report_id = $1 or segregation_report_id = $1 or report_date::text = $2`,
      [ref.reportId ?? null, ref.reportDate ?? null]);
    const row = rows[0];
    if (!row) return undefined;
    const { rows: list } = await q.query<Record<string, unknown>>(
      `select break_key as key, class, owner, client_id as "clientId", asset, tier, chain, txid, expected::text, actual::text, difference::text, explained, explanation,
              first_seen_at as "firstSeenAt", incident_id as "incidentId" from recon_breaks where run_id = $1 order by id`, [row.id]);
    return { run: view(row), breaks: list.map((b) => ({ ...b, firstSeenAt: (b.firstSeenAt as Date).toISOString() })) };
  }

  /**
   * The scheduler's tick: the latest due date is run (or resumed) when the daily run is enabled; an
   * unfinished run of an earlier date whose lease lapsed is resumed; missed days open incidents.
   */
  async tick(): Promise<void> {
    const { config } = this.deps;
    const { rows } = await this.deps.pool.query<{ d: string }>(
      `select to_char(report_date, 'YYYY-MM-DD') as d from recon_runs where state not in ('done', 'failed') and (lease_until is null or lease_until < now()) order by report_date limit 5`);
    for (const r of rows) await this.run({ reportDate: r.d, trigger: 'schedule' });
    if (config.enabled) {
      const due = latestDueDate(this.now(), config.cutoffTime);
      const existing = await this.byDate(this.deps.pool, due);
      if (!existing) await this.run({ reportDate: due, trigger: 'schedule' });
    }
    await this.checkMissed();
  }
}
