// The reconciliation and segregation reports (REC-01, REC-04, REC-07): their content (canonical JSON:
// money as decimal strings of base units, times as ISO strings, no numbers) and their CSV and PDF
// renderings. ReportService (src/reports) stores, hashes and signs them.
import { pdfReport, type RenderMeta } from '../reports/renderers.ts';
import { baseUnitsToDecimal } from '../platform/money.ts';
import type { Break, MatchCounts } from './reconcile.ts';

export const RECONCILIATION_REPORT_TYPE = 'amanat-reconciliation-v1';
export const SEGREGATION_REPORT_TYPE = 'amanat-segregation-v1';

export interface UsdValuation {
  /** USD per whole coin, as the price source gave it ("65000.00"). */
  price: string;
  /** When the price was taken (the price set's asOf), or null when the source gives none. */
  priceTime: string | null;
  source: string;
  priceVersion: string;
  /** Cents, rounded up (the pricing module's rule). */
  onChainUsdCents: string;
  clientHoldingsUsdCents: string;
  houseUsdCents: string;
}

export interface AssetSummary {
  asset: string;
  chain: string;
  decimals: string;
  /** Client wallets: what the node says at the cut-off height, and the holdings book as of the cut-off. */
  onChain: { total: string; hot: string; cold: string };
  holdings: { total: string; hot: string; cold: string };
  /** Σ client entitlement; entitlement − holdings is what settlement still has to move (reported, not a break). */
  entitlement: string;
  settlementPending: string;
  /** Retail clients' hot share of their on-chain holdings, basis points (integer, rounded down). */
  retailHotShareBp: string;
  house: { onChain: string; holdings: string };
  lines: { total: string; matched: string };
  breaks: { total: string; unexplained: string };
  usd: UsdValuation | null;
  proofOfReserves: { root: string; sum: string; leaves: string; reservesOnChain: string; covered: boolean; shortfall: string } | null;
}

export interface BreakView {
  key: string; class: string; owner: string; clientId: string | null; asset: string; tier: string; chain: string; account: string;
  txid: string | null; expected: string; actual: string; difference: string; explained: boolean; explanation: string;
  firstSeenAt: string; ageSeconds: string;
}

export interface ReconciliationReportContent {
  type: typeof RECONCILIATION_REPORT_TYPE;
  reportDate: string;
  timezone: string;
  cutoffAt: string;
  snapshotAt: string;
  chains: { chain: string; height: string; blockHash: string }[];
  /** Assets whose chain had no node this run (wallets exist on it): not reconciled, listed apart. */
  notReconciled: string[];
  assets: AssetSummary[];
  house: { account: string; asset: string; onChain: string; holdings: string; addresses: string[] }[];
  matching: { chain: string; chainMovements: string; journalItems: string; matched: string; timing: string; unmatchedChain: string; unmatchedJournal: string; amountMismatches: string }[];
  breaks: BreakView[];
  settlement: { clientId: string; asset: string; entitlement: string; holdings: string; pending: string }[];
  /** No break on any reconciled line (assets in notReconciled are not lines). */
  allLinesMatched: boolean;
}

export interface SegregationReportContent {
  type: typeof SEGREGATION_REPORT_TYPE;
  reportDate: string;
  snapshotAt: string;
  clients: { clientId: string; asset: string; entitlement: string; holdings: string; onChain: { hot: string; cold: string; total: string };
    hotAddresses: string[]; coldAddresses: string[] }[];
  house: { account: string; asset: string; holdings: string; onChain: string; addresses: string[] }[];
  totals: { asset: string; clientEntitlement: string; clientHoldings: string; clientOnChain: string; houseOnChain: string }[];
  /** REC-04: every address appears under one owner only (checked when the report is built). */
  addressOwnersUnique: boolean;
}

export const breakView = (b: Break & { firstSeenAt: Date }, snapshotAt: Date): BreakView => ({
  key: b.key, class: b.class, owner: b.owner, clientId: b.clientId, asset: b.asset, tier: b.tier, chain: b.chain, account: b.account, txid: b.txid,
  expected: b.expected.toString(), actual: b.actual.toString(), difference: b.difference.toString(), explained: b.explained, explanation: b.explanation,
  firstSeenAt: b.firstSeenAt.toISOString(), ageSeconds: String(Math.max(0, Math.floor((snapshotAt.getTime() - b.firstSeenAt.getTime()) / 1000))),
});

export const countsView = (chain: string, c: MatchCounts): ReconciliationReportContent['matching'][number] => ({
  chain, chainMovements: String(c.chainMovements), journalItems: String(c.journalItems), matched: String(c.matched), timing: String(c.timing),
  unmatchedChain: String(c.unmatchedChain), unmatchedJournal: String(c.unmatchedJournal), amountMismatches: String(c.amountMismatches),
});

/** Base units as a decimal with every place of the asset shown (0.07908590 BTC), as an accounting report reads. */
const amount = (value: string, decimals: string, asset: string) => {
  const d = Number(decimals);
  const v = BigInt(value);
  if (d === 0) return `${v} ${asset}`;
  const text = baseUnitsToDecimal(v < 0n ? -v : v, d);
  const [whole, fraction = ''] = text.split('.');
  return `${v < 0n ? '-' : ''}${whole}.${fraction.padEnd(d, '0')} ${asset}`;
};
const usd = (cents: string) => {
  const c = BigInt(cents);
  return `USD ${(c / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${(c % 100n).toString().padStart(2, '0')}`;
};

/** Basis points as a percentage with two places, in integers (7500 -> "75.00 %"). */
const pct = (bp: bigint): string => `${bp / 100n}.${(bp % 100n).toString().padStart(2, '0')} %`;

function csvCell(value: string): string {
  const safe = /^[=+@\t\r]/.test(value) || /^-[^0-9]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
const csv = (rows: string[][]): Buffer => Buffer.from(rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n', 'utf8');

export function reconciliationCsv(content: ReconciliationReportContent): Buffer {
  const rows: string[][] = [
    ['section', 'report_date', 'cutoff_at', 'snapshot_at'], ['run', content.reportDate, content.cutoffAt, content.snapshotAt], [],
    ['section', 'chain', 'height', 'block_hash'], ...content.chains.map((c) => ['chain', c.chain, c.height, c.blockHash]), [],
    ['section', 'asset', 'on_chain_total', 'on_chain_hot', 'on_chain_cold', 'holdings_total', 'entitlement', 'settlement_pending', 'retail_hot_share_bp',
      'house_on_chain', 'house_holdings', 'lines', 'lines_matched', 'breaks', 'breaks_unexplained', 'usd_price', 'price_time', 'price_source', 'on_chain_usd_cents',
      'por_root', 'por_sum', 'reserves_cover_liabilities'],
    ...content.assets.map((a) => ['asset', a.asset, a.onChain.total, a.onChain.hot, a.onChain.cold, a.holdings.total, a.entitlement, a.settlementPending, a.retailHotShareBp,
      a.house.onChain, a.house.holdings, a.lines.total, a.lines.matched, a.breaks.total, a.breaks.unexplained, a.usd?.price ?? '', a.usd?.priceTime ?? '', a.usd?.source ?? '',
      a.usd?.onChainUsdCents ?? '', a.proofOfReserves?.root ?? '', a.proofOfReserves?.sum ?? '', a.proofOfReserves ? String(a.proofOfReserves.covered) : '']), [],
    ['section', 'chain', 'chain_movements', 'journal_items', 'matched', 'timing', 'unmatched_chain', 'unmatched_journal', 'amount_mismatches'],
    ...content.matching.map((m) => ['matching', m.chain, m.chainMovements, m.journalItems, m.matched, m.timing, m.unmatchedChain, m.unmatchedJournal, m.amountMismatches]), [],
    ['section', 'class', 'owner', 'client_id', 'asset', 'tier', 'txid', 'expected', 'actual', 'difference', 'explained', 'first_seen_at', 'age_seconds', 'explanation'],
    ...content.breaks.map((b) => ['break', b.class, b.owner, b.clientId ?? '', b.asset, b.tier, b.txid ?? '', b.expected, b.actual, b.difference, String(b.explained),
      b.firstSeenAt, b.ageSeconds, b.explanation]),
  ];
  return csv(rows);
}

export function segregationCsv(content: SegregationReportContent): Buffer {
  return csv([
    ['section', 'owner', 'client_id_or_account', 'asset', 'entitlement', 'holdings', 'on_chain_hot', 'on_chain_cold', 'on_chain_total', 'addresses'],
    ...content.clients.map((c) => ['line', 'client', c.clientId, c.asset, c.entitlement, c.holdings, c.onChain.hot, c.onChain.cold, c.onChain.total,
      [...c.hotAddresses.map((a) => `hot:${a}`), ...c.coldAddresses.map((a) => `cold:${a}`)].join(' ')]),
    ...content.house.map((h) => ['line', 'house', h.account, h.asset, '', h.holdings, '', '', h.onChain, h.addresses.join(' ')]),
    [],
    ['section', 'asset', 'client_entitlement', 'client_holdings', 'client_on_chain', 'house_on_chain'],
    ...content.totals.map((t) => ['total', t.asset, t.clientEntitlement, t.clientHoldings, t.clientOnChain, t.houseOnChain]),
  ]);
}

/** What ReportService.publish tells a renderer (the signing time, the content hash, the key's fingerprint). */
export type PdfMeta = RenderMeta;

const pdfDocument = (title: string, meta: PdfMeta | undefined, body: (doc: PDFKit.PDFDocument) => void): Promise<Buffer> => pdfReport(title, meta, body, 40);

function table(doc: PDFKit.PDFDocument, rows: string[][], widths: number[]): void {
  const left = 40;
  rows.forEach((row, index) => {
    if (doc.y > doc.page.height - 80) doc.addPage();
    const y = doc.y;
    let bottom = y;
    let x = left;
    doc.font(index === 0 ? 'Helvetica-Bold' : 'Helvetica').fontSize(7.5);
    row.forEach((cell, column) => {
      doc.text(cell, x, y, { width: widths[column]! - 4 });
      bottom = Math.max(bottom, doc.y);
      x += widths[column]!;
    });
    doc.x = left;
    doc.y = bottom + 2;
  });
}

/** A horizontal bar per asset: hot and cold shares of the client wallets' on-chain total. */
function hotColdChart(doc: PDFKit.PDFDocument, assets: AssetSummary[]): void {
  const left = 140;
  const width = 300;
  for (const a of assets) {
    if (doc.y > doc.page.height - 80) doc.addPage();
    const y = doc.y;
    const total = BigInt(a.onChain.total);
    const hotBp = total > 0n ? (BigInt(a.onChain.hot) * 10_000n) / total : 0n;
    const hotWidth = Number((BigInt(width) * hotBp) / 10_000n);
    doc.font('Helvetica').fontSize(8).text(a.asset, 40, y + 2, { width: 90 });
    doc.rect(left, y, width, 12).fillAndStroke('#dde4ee', '#333333');
    if (hotWidth > 0) doc.rect(left, y, hotWidth, 12).fill('#d9534f');
    doc.fillColor('black').text(`hot ${pct(hotBp)} / cold ${pct(total > 0n ? 10_000n - hotBp : 0n)}`, left + width + 8, y + 2, { width: 120 });
    doc.x = 40;
    doc.y = y + 18;
  }
  doc.fillColor('black');
}

export async function reconciliationPdf(content: ReconciliationReportContent, meta?: PdfMeta): Promise<Buffer> {
  return pdfDocument(`Amanat daily reconciliation ${content.reportDate}`, meta, (doc) => {
    doc.font('Helvetica').fontSize(9);
    doc.text(`Cut-off ${content.cutoffAt} (${content.timezone}); snapshot taken ${content.snapshotAt}.`);
    for (const c of content.chains) doc.text(`${c.chain}: height ${c.height}, block ${c.blockHash}`);
    if (content.notReconciled.length > 0) doc.text(`Not reconciled (no node): ${content.notReconciled.join(', ')}`);
    doc.text(content.allLinesMatched ? 'Result: every line matched.' : `Result: ${content.breaks.length} break(s), ${content.breaks.filter((b) => !b.explained).length} unexplained.`);
    doc.moveDown(0.6);
    doc.font('Helvetica-Bold').fontSize(11).text('Summary per asset (client wallets)');
    table(doc, [
      ['Asset', 'On-chain total', 'Holdings book', 'Entitlement', 'Hot (chain)', 'Cold (chain)', 'Lines matched', 'Breaks'],
      ...content.assets.map((a) => [a.asset, amount(a.onChain.total, a.decimals, a.asset), amount(a.holdings.total, a.decimals, a.asset),
        amount(a.entitlement, a.decimals, a.asset), amount(a.onChain.hot, a.decimals, a.asset), amount(a.onChain.cold, a.decimals, a.asset),
        `${a.lines.matched}/${a.lines.total}`, `${a.breaks.total} (${a.breaks.unexplained} unexplained)`]),
    ], [50, 75, 75, 75, 65, 65, 55, 55]);
    doc.moveDown(0.6);
    doc.font('Helvetica-Bold').fontSize(11).text('Valuation at the cut-off (REC-07), house balances, proof of reserves', 40);
    table(doc, [
      ['Asset', 'USD price', 'Price time / source', 'Client assets USD', 'House on-chain', 'House USD', 'Retail hot share', 'PoR root / reserves >= liabilities'],
      ...content.assets.map((a) => [a.asset, a.usd ? a.usd.price : 'no price', a.usd ? `${a.usd.priceTime ?? 'no time'} / ${a.usd.source} (${a.usd.priceVersion})` : '',
        a.usd ? usd(a.usd.onChainUsdCents) : '', amount(a.house.onChain, a.decimals, a.asset), a.usd ? usd(a.usd.houseUsdCents) : '',
        pct(BigInt(a.retailHotShareBp)), a.proofOfReserves ? `${a.proofOfReserves.root.slice(0, 16)}... / ${a.proofOfReserves.covered ? 'yes' : `NO, short ${a.proofOfReserves.shortfall}`}` : 'n/a']),
    ], [40, 55, 95, 70, 70, 55, 50, 80]);
    doc.moveDown(0.6);
    doc.font('Helvetica-Bold').fontSize(11).text('Hot / cold split per asset (client wallets, on-chain)', 40);
    doc.moveDown(0.3);
    hotColdChart(doc, content.assets);
    doc.moveDown(0.6);
    doc.font('Helvetica-Bold').fontSize(11).text('Movement matching (REC-02)', 40);
    table(doc, [['Chain', 'On-chain movements', 'Journal items', 'Matched', 'Timing', 'Unmatched on-chain', 'Unmatched journal', 'Amount mismatches'],
      ...content.matching.map((m) => [m.chain, m.chainMovements, m.journalItems, m.matched, m.timing, m.unmatchedChain, m.unmatchedJournal, m.amountMismatches])],
    [60, 70, 65, 55, 50, 70, 70, 70]);
    doc.moveDown(0.6);
    doc.font('Helvetica-Bold').fontSize(11).text(`Breaks (${content.breaks.length})`, 40);
    if (content.breaks.length === 0) doc.font('Helvetica').fontSize(9).text('None: every line matched.');
    else {
      table(doc, [['Class', 'Owner / client', 'Asset / tier', 'Book', 'Chain', 'Difference', 'Age (s)', 'Transaction / explanation'],
        ...content.breaks.map((b) => [b.class + (b.explained ? ' (explained)' : ''), b.clientId ?? b.owner, `${b.asset} / ${b.tier}`, b.expected, b.actual, b.difference,
          b.ageSeconds, `${b.txid ?? '-'}: ${b.explanation}`])],
      [60, 70, 50, 55, 55, 55, 35, 135]);
    }
  });
}

export async function segregationPdf(content: SegregationReportContent, meta?: PdfMeta): Promise<Buffer> {
  return pdfDocument(`Amanat segregation report ${content.reportDate}`, meta, (doc) => {
    doc.font('Helvetica').fontSize(9).text(`As of ${content.snapshotAt}. Every address is listed under one owner only: ${content.addressOwnersUnique ? 'yes' : 'NO'}.`);
    doc.moveDown(0.5);
    doc.font('Helvetica-Bold').fontSize(11).text('Totals per asset');
    table(doc, [['Asset', 'Client entitlement', 'Client holdings', 'Client on-chain', 'House on-chain'],
      ...content.totals.map((t) => [t.asset, t.clientEntitlement, t.clientHoldings, t.clientOnChain, t.houseOnChain])], [60, 110, 110, 110, 110]);
    doc.moveDown(0.5);
    doc.font('Helvetica-Bold').fontSize(11).text('Client assets', 40);
    table(doc, [['Client', 'Asset', 'Entitlement', 'Holdings', 'Hot (chain)', 'Cold (chain)', 'Addresses'],
      ...content.clients.map((c) => [c.clientId, c.asset, c.entitlement, c.holdings, c.onChain.hot, c.onChain.cold, [...c.hotAddresses, ...c.coldAddresses].join(' ')])],
    [95, 35, 60, 60, 55, 55, 155]);
    doc.moveDown(0.5);
    doc.font('Helvetica-Bold').fontSize(11).text('House assets (listed apart)', 40);
    table(doc, [['Account', 'Asset', 'Holdings', 'On-chain', 'Addresses'],
      ...content.house.map((h) => [h.account, h.asset, h.holdings, h.onChain, h.addresses.join(' ')])], [130, 40, 70, 70, 205]);
  });
}
