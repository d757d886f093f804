// The asset registry is data in Postgres; this caches it and is the one asset-aware amount codec.
import type { Queryable } from '../platform/tx.ts';
import { DomainError } from '../platform/errors.ts';
import { baseUnitsToDecimal, decimalToBaseUnits } from '../platform/money.ts';

export type AssetState = 'admitted' | 'suspended' | 'custody_only' | 'delisted';

export interface Asset {
  code: string;
  chain: 'bitcoin' | 'ethereum';
  name: string;
  decimals: number;
  contractAddress: string | null;
  state: AssetState;
  capabilities: Record<string, unknown>;
}

interface AssetRow {
  code: string; chain: 'bitcoin' | 'ethereum'; name: string; decimals: number;
  contract_address: string | null; state: AssetState; capabilities: Record<string, unknown>;
}

const toAsset = (r: AssetRow): Asset => ({
  code: r.code, chain: r.chain, name: r.name, decimals: r.decimals,
  contractAddress: r.contract_address, state: r.state, capabilities: r.capabilities,
});

export class AssetRegistry {
  private byCode = new Map<string, Asset>();

  constructor(private readonly db: Queryable) {}

  async load(): Promise<void> {
    const { rows } = await this.db.query<AssetRow>('select * from assets order by code');
    this.byCode = new Map(rows.map((r) => [r.code, toAsset(r)]));
  }

  list(): Asset[] {
    return [...this.byCode.values()];
  }

  get(code: string): Asset {
    const asset = this.byCode.get(code);
    if (!asset) throw new DomainError('ASSET_NOT_FOUND', `unknown asset ${code}`, { asset: code });
    return asset;
  }

  /** Assets whose balances may change by client instruction (holds, transfers). */
  requireActive(code: string): Asset {
    const asset = this.get(code);
    if (asset.state !== 'admitted' && asset.state !== 'custody_only') {
      throw new DomainError('ASSET_NOT_ACTIVE', `asset ${code} is ${asset.state}`, { asset: code, state: asset.state });
    }
    return asset;
  }

  async update(q: Queryable, code: string, patch: { state?: AssetState; contractAddress?: string | null }): Promise<Asset> {
    this.get(code);
    const { rows } = await q.query<AssetRow>(
      `update assets set state = coalesce($2, state),
         contract_address = case when $3::boolean then $4 else contract_address end, updated_at = now()
       where code = $1 returning *`,
      [code, patch.state ?? null, patch.contractAddress !== undefined, patch.contractAddress ?? null],
    );
    const asset = toAsset(rows[0]!);
    this.byCode.set(code, asset);
    return asset;
  }

  toDecimal(code: string, amount: bigint): string {
    return baseUnitsToDecimal(amount, this.get(code).decimals);
  }

  fromDecimal(code: string, text: string, field = 'amount'): bigint {
    return decimalToBaseUnits(text, this.get(code).decimals, field);
  }
}
