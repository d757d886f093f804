// Development only (AMANAT_ENV=development with the embedded dev chains): a faucet that funds any
// address and mines enough blocks for the deposit to be credited.
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { assetCode, decimalAmount } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { ChainRuntime } from './chain-runtime.ts';

export function devRoutes(deps: { chains: ChainRuntime; assets: AssetRegistry; confirmations: { bitcoin: number; ethereum: number } }): RouteDef[] {
  const { chains, assets } = deps;
  return [
    defineRoute({
      method: 'post', path: '/v1/dev/faucet', tag: 'development', roles: ['admin'],
      summary: 'DEVELOPMENT ONLY: send coins from the dev chain to an address and mine the blocks that confirm it',
      body: z.strictObject({ address: z.string().min(1).max(128), asset: assetCode, amount: decimalAmount }),
      responses: { 201: 'Sent and confirmed' },
      async handler({ body }) {
        const asset = assets.get(body.asset);
        const amount = assets.fromDecimal(asset.code, body.amount);
        if (amount === 0n) throw new DomainError('AMOUNT_INVALID', 'amount must be greater than zero');
        let txid: string;
        if (asset.code === 'BTC') {
          const dev = chains.bitcoin.dev;
          if (!dev) throw new DomainError('BAD_ARGUMENT', 'the faucet exists only on the embedded regtest node');
          txid = (await dev.faucet(body.address, amount, { confirmations: deps.confirmations.bitcoin })).txid;
        } else {
          const dev = chains.ethereum.dev;
          if (!dev) throw new DomainError('BAD_ARGUMENT', 'the faucet exists only on the embedded dev chain');
          txid = asset.code === 'ETH' ? await dev.faucetEth(body.address, amount) : await dev.faucetUsdt(body.address, amount);
          await dev.mine(deps.confirmations.ethereum);
        }
        return { status: 201, body: { txid, asset: asset.code, amount: assets.toDecimal(asset.code, amount), address: body.address } };
      },
    }),
  ];
}
