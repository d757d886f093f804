import { z } from 'zod';
import { defineRoute, READ_ROLES, type RouteDef } from '../api/route.ts';
import { assetCode } from '../api/schemas.ts';
import type { Asset, AssetRegistry } from './asset-registry.ts';

const presentAsset = (a: Asset) => ({ ...a });

export function assetRoutes(deps: { assets: AssetRegistry }): RouteDef[] {
  const { assets } = deps;
  return [
    defineRoute({
      method: 'get', path: '/v1/assets', tag: 'assets', roles: READ_ROLES, summary: 'The asset registry',
      async handler() {
        return { status: 200, body: { assets: assets.list().map(presentAsset) } };
      },
    }),
    defineRoute({
      method: 'patch', path: '/v1/assets/:code', tag: 'assets', roles: ['admin'],
      summary: 'Change an asset’s state (admitted, suspended, custody_only, delisted) or its token contract',
      params: z.strictObject({ code: assetCode }),
      body: z.strictObject({
        state: z.enum(['admitted', 'suspended', 'custody_only', 'delisted']).optional(),
        contractAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/).nullable().optional(),
      }).refine((b) => b.state !== undefined || b.contractAddress !== undefined, 'name state or contractAddress'),
      async handler({ params, body, q }) {
        const asset = await assets.update(q, params.code, body);
        return { status: 200, body: presentAsset(asset), subject: asset.code };
      },
    }),
  ];
}
