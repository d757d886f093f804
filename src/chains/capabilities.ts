// Chain and asset capabilities as data (STYLE 8): callers read a field, they never call a
// supportsX() method. The asset registry in Postgres may override confirmations per deployment;
// these are the defaults the chain layer itself relies on.
export type ChainName = 'bitcoin' | 'ethereum';
export type AccountModel = 'utxo' | 'account';

/**
 * The coin a chain's network fee is paid in (SEG-04): BTC pays for Bitcoin transactions, ETH pays
 * the gas of every Ethereum transaction, ERC-20 transfers included. The one place this rule is written.
 */
export const NETWORK_FEE_ASSET = { bitcoin: 'BTC', ethereum: 'ETH' } as const satisfies Record<ChainName, string>;
export type NetworkFeeAsset = (typeof NETWORK_FEE_ASSET)[ChainName];

/** The fee asset of `chain`; a chain without one is a programming error, never a silent ETH. */
export function networkFeeAsset(chain: string): NetworkFeeAsset {
  if (!Object.hasOwn(NETWORK_FEE_ASSET, chain)) throw new TypeError(`no network fee asset for chain ${JSON.stringify(chain)}`);
  return NETWORK_FEE_ASSET[chain as ChainName];
}

export interface AssetCapabilities {
  readonly asset: string;
  readonly chain: ChainName;
  readonly accountModel: AccountModel;
  /** Base units per whole coin = 10^decimals. */
  readonly decimals: number;
  /** Confirmations before a deposit is final (DEP-02); firm policy, published in the transfer terms. */
  readonly confirmationsDefault: number;
  /** No chain we support has a destination tag / memo. */
  readonly supportsMemo: boolean;
  /** 'native' coin of the chain, or an 'erc20' token at a per-deployment contract address. */
  readonly standard: 'native' | 'erc20';
  /** The coin the network fee of a transfer of this asset is paid in: NETWORK_FEE_ASSET of its chain. */
  readonly feeAsset: NetworkFeeAsset;
  /** Replace-by-fee (BTC) or same-nonce replacement (ETH) is possible. */
  readonly supportsReplacement: boolean;
  /** A fresh deposit address per request is possible (KEY-07); account chains reuse one address. */
  readonly freshAddressPerDeposit: boolean;
}

export const ASSET_CAPABILITIES = {
  BTC: {
    asset: 'BTC', chain: 'bitcoin', accountModel: 'utxo', decimals: 8, confirmationsDefault: 3,
    supportsMemo: false, standard: 'native', feeAsset: NETWORK_FEE_ASSET.bitcoin, supportsReplacement: true, freshAddressPerDeposit: true,
  },
  ETH: {
    asset: 'ETH', chain: 'ethereum', accountModel: 'account', decimals: 18, confirmationsDefault: 12,
    supportsMemo: false, standard: 'native', feeAsset: NETWORK_FEE_ASSET.ethereum, supportsReplacement: true, freshAddressPerDeposit: false,
  },
  USDT: {
    asset: 'USDT', chain: 'ethereum', accountModel: 'account', decimals: 6, confirmationsDefault: 12,
    supportsMemo: false, standard: 'erc20', feeAsset: NETWORK_FEE_ASSET.ethereum, supportsReplacement: true, freshAddressPerDeposit: false,
  },
} as const satisfies Record<string, AssetCapabilities>;

export type KnownAsset = keyof typeof ASSET_CAPABILITIES;

export function assetCapabilities(asset: string): AssetCapabilities | undefined {
  return (ASSET_CAPABILITIES as Record<string, AssetCapabilities>)[asset];
}
