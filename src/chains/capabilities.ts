// Chain and asset capabilities as data (STYLE 8): callers read a field, they never call a
// supportsX() method. The asset registry in Postgres may override confirmations per deployment;
// these are the defaults the chain layer itself relies on.
export type ChainName = 'bitcoin' | 'ethereum';
export type AccountModel = 'utxo' | 'account';

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
  /** Who pays the network fee for a transfer of this asset. */
  readonly feeAsset: string;
  /** Replace-by-fee (BTC) or same-nonce replacement (ETH) is possible. */
  readonly supportsReplacement: boolean;
  /** A fresh deposit address per request is possible (KEY-07); account chains reuse one address. */
  readonly freshAddressPerDeposit: boolean;
}

export const ASSET_CAPABILITIES = {
  BTC: {
    asset: 'BTC', chain: 'bitcoin', accountModel: 'utxo', decimals: 8, confirmationsDefault: 3,
    supportsMemo: false, standard: 'native', feeAsset: 'BTC', supportsReplacement: true, freshAddressPerDeposit: true,
  },
  ETH: {
    asset: 'ETH', chain: 'ethereum', accountModel: 'account', decimals: 18, confirmationsDefault: 12,
    supportsMemo: false, standard: 'native', feeAsset: 'ETH', supportsReplacement: true, freshAddressPerDeposit: false,
  },
  USDT: {
    asset: 'USDT', chain: 'ethereum', accountModel: 'account', decimals: 6, confirmationsDefault: 12,
    supportsMemo: false, standard: 'erc20', feeAsset: 'ETH', supportsReplacement: true, freshAddressPerDeposit: false,
  },
} as const satisfies Record<string, AssetCapabilities>;

export type KnownAsset = keyof typeof ASSET_CAPABILITIES;

export function assetCapabilities(asset: string): AssetCapabilities | undefined {
  return (ASSET_CAPABILITIES as Record<string, AssetCapabilities>)[asset];
}
