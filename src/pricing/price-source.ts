// USD prices for thresholds (Travel Rule, policy limits). A price is an exact rational so that
// "65000.00" never passes through a float; a real feed implements the same PriceSource. A price
// set older than the configured max age is never used (PRICE_STALE): a quote waits for a fresh one.
import { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DomainError } from '../platform/errors.ts';

/** USD per whole coin = numerator / denominator (both positive). */
export interface UsdPrice {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

export interface PriceSource {
  /** undefined when the source has no price for the asset; callers must fail closed. Throws PRICE_STALE when the prices are too old to use. */
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

export interface PriceFreshness {
  /** A price set whose asOf is older than this is stale; 0 or absent = no limit (development). */
  maxAgeSeconds?: number;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

interface PriceSet {
  readonly version: string;
  readonly source: string;
  readonly contentHash: string;
  readonly asOf: Date | undefined;
  readonly prices: ReadonlyMap<string, UsdPrice>;
}

function priceSet(file: PricesFile, contentHash: string): PriceSet {
  const asOf = file.asOf === undefined ? undefined : new Date(file.asOf);
  return {
    version: file.version, source: file.source, contentHash,
    asOf: asOf && !Number.isNaN(asOf.getTime()) ? asOf : undefined,
    prices: new Map(Object.entries(file.prices).map(([asset, text]) => [asset, parseUsdPrice(text)])),
  };
}

/** Prices from a file: the static development set, or a file a price feed keeps current. */
export class StaticPriceSource implements PriceSource {
  private set: PriceSet;
  private readonly maxAgeSeconds: number;
  private readonly now: () => number;

  /** `refresh` returns a newer set when there is one (loadStaticPrices: the file was replaced). */
  constructor(file: PricesFile, contentHash = '', freshness: PriceFreshness = {},
    private readonly refresh?: () => { file: PricesFile; contentHash: string } | undefined) {
    this.set = priceSet(file, contentHash);
    this.maxAgeSeconds = freshness.maxAgeSeconds ?? 0;
    this.now = freshness.now ?? Date.now;
    if (!Number.isInteger(this.maxAgeSeconds) || this.maxAgeSeconds < 0) throw new DomainError('BAD_ARGUMENT', 'maxAgeSeconds must be a non-negative integer');
  }

  private current(): PriceSet {
    const next = this.refresh?.();
    if (next) this.set = priceSet(next.file, next.contentHash);
    return this.set;
  }

  get version(): string { return this.current().version; }
  get source(): string { return this.current().source; }
  get contentHash(): string { return this.current().contentHash; }
  /** When the set was taken (the file's asOf); a set without one has no known age. */
  get asOf(): Date | undefined { return this.current().asOf; }

  /** Throws PRICE_STALE when the set is older than the max age (or has no asOf while a max age is set). */
  assertFresh(): void {
    const set = this.current();
    if (this.maxAgeSeconds === 0) return;
    const ageSeconds = set.asOf === undefined ? undefined : Math.floor((this.now() - set.asOf.getTime()) / 1000);
    if (ageSeconds !== undefined && ageSeconds <= this.maxAgeSeconds) return;
    throw new DomainError('PRICE_STALE',
      `USD prices ${set.version} ${ageSeconds === undefined ? 'carry no asOf time' : `are ${ageSeconds} s old`}, more than PRICE_MAX_AGE_SECONDS (${this.maxAgeSeconds}): `
        + 'not used; try again once the price feed has delivered fresh prices',
      { priceVersion: set.version, asOf: set.asOf?.toISOString() ?? null, ageSeconds: ageSeconds ?? null, maxAgeSeconds: this.maxAgeSeconds });
  }

  usdPerUnit(asset: string): UsdPrice | undefined {
    this.assertFresh();
    return this.set.prices.get(asset);
  }

  usdCents(asset: string, amountBaseUnits: bigint, decimals: number): bigint {
    return usdCents(this, asset, amountBaseUnits, decimals);
  }
}

/** Reads and validates a prices file; errors name the path. */
function readPricesFile(path: string): { file: PricesFile; contentHash: string } {
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
  if (parsed.data.asOf !== undefined && Number.isNaN(new Date(parsed.data.asOf).getTime())) {
    throw new DomainError('CONFIG_INVALID', `prices file ${path}: asOf ${JSON.stringify(parsed.data.asOf)} is not a time`, { path });
  }
  return { file: parsed.data, contentHash: createHash('sha256').update(bytes).digest('hex') };
}

/** One version of the file on disk: a feed that writes a new file and renames it over the old one changes it. */
function fileStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * The prices in `path`, read again whenever the file is replaced (a price feed writes a new file
 * and renames it over the old one), so the source always answers from the newest readable set. A
 * replacement that does not read or validate is ignored: the last good set stays, and ages into
 * PRICE_STALE, rather than being replaced by nothing. The first read must succeed.
 */
export function loadStaticPrices(path: string, freshness: PriceFreshness = {}): StaticPriceSource {
  let stamp = fileStamp(path);
  const first = readPricesFile(path);
  return new StaticPriceSource(first.file, first.contentHash, freshness, () => {
    const now = fileStamp(path);
    if (now === stamp) return undefined;
    stamp = now;
    try {
      return readPricesFile(path);
    } catch {
      return undefined; // keep the last good set
    }
  });
}
