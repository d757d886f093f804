// USD prices for thresholds (Travel Rule, policy limits). A price is an exact rational so that
// "65000.00" never passes through a float; a real feed implements the same PriceSource.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DomainError } from '../platform/errors.ts';

/** USD per whole coin = numerator / denominator (both positive). */
export interface UsdPrice {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

export interface PriceSource {
  /** undefined when the source has no price for the asset; callers must fail closed. */
  usdPerUnit(asset: string): UsdPrice | undefined;
  /** Identifies the price set used, stored with every decision that relied on it. */
  readonly version: string;
  readonly source: string;
}

export const PRICES_ASSETS_MAX = 1000;
const ASSET_DECIMALS_MAX = 36;

const priceText = z.string().regex(/^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$/, 'price must be a decimal string like "65000.00"');
export const pricesFileSchema = z.strictObject({
  version: z.string().min(1).max(64),
  source: z.string().min(1).max(200),
  asOf: z.string().optional(),
  prices: z.record(z.string().regex(/^[A-Z0-9]{2,12}$/), priceText)
    .refine((p) => Object.keys(p).length <= PRICES_ASSETS_MAX, `at most ${PRICES_ASSETS_MAX} prices`),
});
export type PricesFile = z.infer<typeof pricesFileSchema>;

/** "65000.00" -> 6500000/100. Zero prices are refused: a zero price would wave every threshold through. */
export function parseUsdPrice(text: string): UsdPrice {
  const parsed = priceText.safeParse(text);
  if (!parsed.success) throw new DomainError('BAD_ARGUMENT', `price ${JSON.stringify(text)} is not a decimal string`);
  const [whole, fraction = ''] = text.split('.');
  const numerator = BigInt(`${whole}${fraction}`);
  if (numerator === 0n) throw new DomainError('BAD_ARGUMENT', 'price must be greater than zero');
  return { numerator, denominator: 10n ** BigInt(fraction.length) };
}

/**
 * USD value in cents of `amountBaseUnits` of an asset with `decimals`, ROUNDED UP: the threshold
 * checks (Travel Rule at USD 1,000, policy limits) must never undercount: any fraction of a cent
 * counts as a whole cent, so USD 999.999 is 1,000.00 and 999.99 stays 999.99 only when exact.
 */
export function usdCentsAt(price: UsdPrice, amountBaseUnits: bigint, decimals: number): bigint {
  if (typeof amountBaseUnits !== 'bigint' || amountBaseUnits < 0n) throw new DomainError('BAD_ARGUMENT', 'amount must be a non-negative bigint in base units');
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > ASSET_DECIMALS_MAX) throw new DomainError('BAD_ARGUMENT', `decimals must be an integer 0..${ASSET_DECIMALS_MAX}`);
  if (price.numerator <= 0n || price.denominator <= 0n) throw new DomainError('BAD_ARGUMENT', 'price must be positive');
  const numerator = amountBaseUnits * price.numerator * 100n;
  const denominator = price.denominator * 10n ** BigInt(decimals);
  return (numerator + denominator - 1n) / denominator;
}

/** usdCentsAt with the price from `source`; an asset without a price is an error, never zero. */
export function usdCents(source: PriceSource, asset: string, amountBaseUnits: bigint, decimals: number): bigint {
  const price = source.usdPerUnit(asset);
  if (!price) throw new DomainError('BAD_ARGUMENT', `no USD price for ${asset} in price set ${source.version}`, { asset, priceVersion: source.version });
  return usdCentsAt(price, amountBaseUnits, decimals);
}

/** Fixed prices from a file, for development and tests. Not a market feed. */
export class StaticPriceSource implements PriceSource {
  readonly version: string;
  readonly source: string;
  readonly contentHash: string;
  private readonly prices: ReadonlyMap<string, UsdPrice>;

  constructor(file: PricesFile, contentHash = '') {
    this.version = file.version;
    this.source = file.source;
    this.contentHash = contentHash;
    this.prices = new Map(Object.entries(file.prices).map(([asset, text]) => [asset, parseUsdPrice(text)]));
  }

  usdPerUnit(asset: string): UsdPrice | undefined {
    return this.prices.get(asset);
  }

  usdCents(asset: string, amountBaseUnits: bigint, decimals: number): bigint {
    return usdCents(this, asset, amountBaseUnits, decimals);
  }
}

/** Reads and validates a prices file; errors name the path. */
export function loadStaticPrices(path: string): StaticPriceSource {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new DomainError('CONFIG_INVALID', `prices file ${path} cannot be read: ${(cause as Error).message}`, { path });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new DomainError('CONFIG_INVALID', `prices file ${path} is not JSON: ${(cause as Error).message}`, { path });
  }
  const parsed = pricesFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new DomainError('CONFIG_INVALID', `prices file ${path} is invalid: ${z.prettifyError(parsed.error)}`, { path });
  }
  for (const [asset, text] of Object.entries(parsed.data.prices)) {
    if (/^0(\.0+)?$/.test(text)) throw new DomainError('CONFIG_INVALID', `prices file ${path}: price of ${asset} is zero`, { path, asset });
  }
  return new StaticPriceSource(parsed.data, createHash('sha256').update(bytes).digest('hex'));
}
