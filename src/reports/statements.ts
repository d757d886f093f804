// Statements of account (CLI-04): on request, a signed statement of what the service holds for one
// client as of the request: the client's name, address and account number (from the KYC record when
// one is on file, else "not on file"), the preparation date, and per asset the quantity (the
// client's entitlement in the ledger at that instant) with the market price and value where the
// price source has a fresh price, else "price n/a". Published through the ReportService as kind
// 'statement' (JSON, CSV, PDF, signed by the report key), keyed by client and request, so the same
// request returns the same statement.
import type { Queryable } from '../platform/tx.ts';
import { sha256Hex } from '../platform/canonical.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { ClientService } from '../clients/client-service.ts';
import { formatUsdCents, usdCentsAt, type PriceSource } from '../pricing/index.ts';
import { isDomainError } from '../platform/errors.ts';
import type { PublishedReport, ReportService } from './report-service.ts';
import { renderPdf, toCsv, type RenderMeta, type Renderers } from './renderers.ts';

export const NOT_ON_FILE = 'not on file';
export const PRICE_NA = 'price n/a';

/** The KYC fields a statement shows (the Travel Rule's stored, sealed record). */
export interface StatementKyc {
  name: { primary: string; secondary?: string | undefined };
  geographicAddress?: { street?: string | undefined; town: string; country: string; postcode?: string | undefined } | undefined;
}

export interface StatementLine {
  asset: string;
  name: string;
  quantity: string;
  quantityBaseUnits: string;
  priceUsd: string;
  valueUsd: string;
  priceSource: string;
}

export interface StatementContent {
  type: 'amanat-statement-v1';
  statementId: string;
  client: { clientId: string; accountNumber: string; name: string; address: string };
  preparedAt: string;
  asOf: string;
  lines: StatementLine[];
  totalValueUsd: string;
  notes: string[];
}

export function statementReportKey(clientId: string, requestId: string): string {
  return `${clientId}.${sha256Hex(requestId).slice(0, 32)}`;
}

export class StatementService {
  constructor(private readonly deps: {
    reports: ReportService; ledger: LedgerService; clients: ClientService; assets: AssetRegistry;
    prices?: PriceSource | undefined;
    kyc?: ((q: Queryable, clientId: string) => Promise<StatementKyc | undefined>) | undefined;
  }) {}

  /** The statement as of `at` (default now). Idempotent per (client, requestId): the first statement is returned again. */
  async produce(q: Queryable, input: { clientId: string; requestId: string; at?: Date }): Promise<PublishedReport> {
    const client = await this.deps.clients.get(q, input.clientId);
    const reportKey = statementReportKey(client.id, input.requestId);
    const existing = await this.deps.reports.resume('statement', reportKey);
    if (existing) return existing;
    const at = input.at ?? new Date();
    const balances = await this.deps.ledger.clientBalances(q, client.id, at);
    const kyc = this.deps.kyc ? await this.deps.kyc(q, client.id) : undefined;
    const address = kyc?.geographicAddress
      ? [kyc.geographicAddress.street, kyc.geographicAddress.postcode ? `${kyc.geographicAddress.postcode} ${kyc.geographicAddress.town}` : kyc.geographicAddress.town, kyc.geographicAddress.country]
        .filter((part): part is string => typeof part === 'string' && part.length > 0).join(', ')
      : NOT_ON_FILE;
    let totalCents = 0n;
    let unpriced = 0;
    const lines: StatementLine[] = balances.map((balance) => {
      const asset = this.deps.assets.get(balance.asset);
      const quantity = balance.entitlement.total;
      let price;
      try {
        price = this.deps.prices?.usdPerUnit(asset.code);
      } catch (error) {
        if (!isDomainError(error)) throw error; // PRICE_STALE: a stale price is no price
        price = undefined;
      }
      const line = {
        asset: asset.code, name: asset.name, quantity: this.deps.assets.toDecimal(asset.code, quantity), quantityBaseUnits: quantity.toString(),
        priceUsd: PRICE_NA, valueUsd: PRICE_NA, priceSource: PRICE_NA,
      };
      if (!price || !this.deps.prices) {
        unpriced += 1;
        return line;
      }
      const valueCents = usdCentsAt(price, quantity, asset.decimals);
      totalCents += valueCents;
      return {
        ...line, priceUsd: formatUsdCents(usdCentsAt(price, 10n ** BigInt(asset.decimals), asset.decimals)), valueUsd: formatUsdCents(valueCents),
        priceSource: `${this.deps.prices.source} (${this.deps.prices.version})`,
      };
    });
    const preparedAt = new Date().toISOString();
    const content: StatementContent = {
      type: 'amanat-statement-v1', statementId: reportKey,
      client: {
        clientId: client.id, accountNumber: client.externalRef,
        // Canonical JSON takes NFC text only: the KYC record's spelling is normalised, not refused.
        name: kyc ? [kyc.name.primary, kyc.name.secondary].filter(Boolean).join(' ').normalize('NFC') : NOT_ON_FILE, address: address.normalize('NFC'),
      },
      preparedAt, asOf: at.toISOString(), lines, totalValueUsd: formatUsdCents(totalCents),
      notes: [
        'Quantities are the client\'s entitlement in the Amanat ledger at the as-of instant, in the asset\'s units (base units alongside).',
        'Prices are USD per unit from the named source; values are rounded up to the cent.',
        ...(unpriced > 0 ? [`${unpriced} asset(s) have no current price (price n/a): the total value leaves them out.`] : []),
      ],
    };
    return this.deps.reports.publish({ kind: 'statement', reportKey, content, renderers: statementRenderers });
  }
}

export const statementRenderers: Renderers = {
  csv(content) {
    const c = content as StatementContent;
    return toCsv([
      ['statementId', 'clientId', 'accountNumber', 'name', 'address', 'preparedAt', 'asOf', 'asset', 'quantity', 'quantityBaseUnits', 'priceUsd', 'valueUsd', 'priceSource'],
      ...c.lines.map((l) => [c.statementId, c.client.clientId, c.client.accountNumber, c.client.name, c.client.address, c.preparedAt, c.asOf,
        l.asset, l.quantity, l.quantityBaseUnits, l.priceUsd, l.valueUsd, l.priceSource]),
    ]);
  },
  pdf(content, meta?: RenderMeta) {
    const c = content as StatementContent;
    return renderPdf('Amanat statement of account', [
      { heading: 'Client', lines: [`Name: ${c.client.name}`, `Address: ${c.client.address}`, `Account number: ${c.client.accountNumber}`, `Client id: ${c.client.clientId}`] },
      { heading: 'Statement', lines: [`Prepared: ${c.preparedAt}`, `Balances as of: ${c.asOf}`, `Statement id: ${c.statementId}`] },
      { heading: 'Holdings', table: [['Asset', 'Quantity', 'Price (USD)', 'Value (USD)'], ...c.lines.map((l) => [l.asset, l.quantity, l.priceUsd, l.valueUsd])] },
      { heading: 'Total value (USD)', lines: [c.totalValueUsd] },
      { heading: 'Notes', lines: c.notes },
    ], meta);
  },
};
