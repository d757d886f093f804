import { z } from 'zod';
import { defineRoute, READ_ROLES, type RouteDef } from '../api/route.ts';
import { assetCode, uuid } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { Wallet, WalletAddress, WalletService } from './wallet-service.ts';
import type { KeyTier } from './key-provider.ts';

const presentWallet = (w: Wallet) => ({
  id: w.id, owner: w.owner, clientId: w.clientId, housePurpose: w.housePurpose, chain: w.chain, tier: w.tier, keyId: w.keyId,
  state: w.state, createdAt: w.createdAt.toISOString(),
});
const presentAddress = (a: WalletAddress) => ({
  address: a.address, chain: a.chain, walletId: a.walletId, keyId: a.keyId, publicKey: a.publicKey, purpose: a.purpose, createdAt: a.createdAt.toISOString(),
});

export function walletRoutes(deps: { wallets: WalletService | undefined; clients: ClientService; assets: AssetRegistry; depositTier: KeyTier }): RouteDef[] {
  const { clients, assets } = deps;
  const wallets = () => {
    if (!deps.wallets) throw new DomainError('SIGNER_UNAVAILABLE', 'no signer is configured for this instance');
    return deps.wallets;
  };
  return [
    defineRoute({
      method: 'post', path: '/v1/clients/:clientId/deposit-addresses', tag: 'wallets', roles: ['exchange'],
      summary: 'A deposit address of the client for an asset: Bitcoin a fresh P2WPKH address each time, Ethereum the wallet’s one account address (KEY-07)',
      params: z.strictObject({ clientId: uuid }),
      body: z.strictObject({ asset: assetCode }),
      responses: { 201: 'Address issued' },
      async handler({ params, body, q }) {
        const asset = assets.requireActive(body.asset);
        await clients.requireActive(q, params.clientId);
        const address = await wallets().depositAddress(q, params.clientId, asset.chain, deps.depositTier);
        return { status: 201, body: { ...presentAddress(address), asset: asset.code, tier: deps.depositTier }, subject: address.address };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/clients/:clientId/wallets', tag: 'wallets', roles: READ_ROLES,
      summary: 'The client’s wallets (per chain: hot and cold) with their latest addresses',
      params: z.strictObject({ clientId: uuid }),
      async handler({ params, q }) {
        await clients.get(q, params.clientId);
        const list = await wallets().clientWallets(q, params.clientId);
        const out = [];
        for (const w of list) {
          const addresses = await wallets().addresses(q, w.id);
          out.push({ ...presentWallet(w), addressCount: addresses.length, addresses: addresses.slice(-100).map(presentAddress) });
        }
        return { status: 200, body: { wallets: out } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/wallets/:walletId/state', tag: 'wallets', roles: ['admin'],
      summary: 'Freeze, unfreeze, or retire a wallet (WAL-01: retired is final; a wallet holding assets cannot retire)',
      params: z.strictObject({ walletId: uuid }),
      body: z.strictObject({ state: z.enum(['active', 'frozen', 'retiring', 'retired']) }),
      async handler({ params, body, q }) {
        const wallet = await wallets().setState(q, params.walletId, body.state);
        return { status: 200, body: presentWallet(wallet), subject: wallet.id };
      },
    }),
  ];
}
