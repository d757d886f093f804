// Pricing: USD values for thresholds. Other contexts import from here.
export { usdToCents, formatUsdCents } from './usd.ts';
export {
  StaticPriceSource, loadStaticPrices, parseUsdPrice, usdCents, usdCentsAt, pricesFileSchema, PRICES_ASSETS_MAX,
  type PriceSource, type UsdPrice, type PricesFile, type PriceFreshness,
} from './price-source.ts';
