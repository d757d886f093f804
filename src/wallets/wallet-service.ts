// Per client and per chain a hot and a cold wallet of their own (SEG-02); house wallets apart
// (SEG-03). Keys come from the signer (HSM); the database holds public keys and key ids only.
// Every address belongs to exactly one wallet, for ever (unique + immutable in the database).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import type { ChainName } from '../chains/capabilities.ts';
import { p2wpkhFromPublicKey } from '../chains/bitcoin/address.ts';
import type { BitcoinNetworkName } from '../chains/bitcoin/networks.ts';
import { ethereumAddressFromPublicKey } from '../chains/ethereum/address.ts';
import type { KeyProvider, KeyTier } from './key-provider.ts';

export type WalletState = 'provisioning' | 'active' | 'frozen' | 'retiring' | 'retired';

export interface Wallet {
  id: string;
  owner: 'client' | 'house';
  clientId: string | null;
  housePurpose: 'fees' | 'gas_station' | null;
  chain: ChainName;
  tier: KeyTier;
  keyId: string | null;
  state: WalletState;
  createdAt: Date;
}

export interface WalletAddress {
  id: number;
  walletId: string;
  chain: ChainName;
  address: string;
  keyId: string;
  publicKey: string;
  purpose: 'deposit' | 'change' | 'account';
  createdAt: Date;
}

interface WalletRow {
  id: string; owner: 'client' | 'house'; client_id: string | null; house_purpose: Wallet['housePurpose']; chain: ChainName;
  tier: KeyTier; key_id: string | null; state: WalletState; created_at: Date;
}
const toWallet = (r: WalletRow): Wallet => ({
  id: r.id, owner: r.owner, clientId: r.client_id, housePurpose: r.house_purpose, chain: r.chain, tier: r.tier,
  keyId: r.key_id, state: r.state, createdAt: r.created_at,
});
interface AddressRow {
  id: number; wallet_id: string; chain: ChainName; address: string; key_id: string; public_key: string;
  purpose: WalletAddress['purpose']; created_at: Date;
}
const toAddress = (r: AddressRow): WalletAddress => ({
  id: r.id, walletId: r.wallet_id, chain: r.chain, address: r.address, keyId: r.key_id, publicKey: r.public_key,
  purpose: r.purpose, createdAt: r.created_at,
});

export const CHAINS: readonly ChainName[] = ['bitcoin', 'ethereum'];
export const TIERS: readonly KeyTier[] = ['hot', 'cold'];

export function uncompressedPublicKey(compressedHex: string): Uint8Array {
  return secp256k1.Point.fromHex(compressedHex).toBytes(false);
}

export function addressFor(chain: ChainName, publicKeyHex: string, bitcoinNetwork: BitcoinNetworkName): string {
  if (!/^0[23][0-9a-f]{64}$/i.test(publicKeyHex)) throw new DomainError('BAD_ARGUMENT', 'the signer returned a malformed public key');
  if (chain === 'bitcoin') return p2wpkhFromPublicKey(Buffer.from(publicKeyHex, 'hex'), bitcoinNetwork).address;
  return ethereumAddressFromPublicKey(uncompressedPublicKey(publicKeyHex));
}

export class WalletService {
  constructor(
    private readonly keys: KeyProvider,
    private readonly bitcoinNetwork: BitcoinNetworkName,
  ) {}

  /** Creates the client's four wallets (BTC/ETH × hot/cold) once; later calls return them. */
  async ensureClientWallets(q: Queryable, clientId: string): Promise<Wallet[]> {
    // One provisioning at a time per client: no second set of keys for a racing request.
    await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7261))', [clientId]);
    const existing = await this.clientWallets(q, clientId);
    for (const chain of CHAINS) {
      for (const tier of TIERS) {
        if (existing.some((w) => w.chain === chain && w.tier === tier)) continue;
        let keyId: string | null = null;
        let publicKey: string | null = null;
        if (chain === 'ethereum') {
          const key = await this.keys.createKey({ label: `client/${clientId}/ethereum/${tier}`, tier, clientId });
          this.assertTier(key.tier, tier);
          keyId = key.keyId;
          publicKey = key.publicKey;
        }
        const { rows } = await q.query<WalletRow>(
          `insert into wallets (owner, client_id, chain, tier, key_id, state, config)
           values ('client', $1, $2, $3, $4, 'active', $5) returning *`,
          [clientId, chain, tier, keyId, { bitcoinNetwork: this.bitcoinNetwork, addressType: chain === 'bitcoin' ? 'p2wpkh' : 'account' }]);
        const wallet = toWallet(rows[0]!);
        if (keyId && publicKey) await this.insertAddress(q, wallet, keyId, publicKey, 'account');
        existing.push(wallet);
      }
    }
    return existing;
  }

  /** House wallets (fee collection, ETH gas station): created once, hot tier. */
  async ensureHouseWallet(q: Queryable, purpose: 'fees' | 'gas_station', chain: ChainName): Promise<{ wallet: Wallet; address: WalletAddress }> {
    await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7261))', [`house/${purpose}/${chain}`]);
    const { rows } = await q.query<WalletRow>(`select * from wallets where owner = 'house' and house_purpose = $1 and chain = $2 and tier = 'hot'`, [purpose, chain]);
    let wallet = rows[0] ? toWallet(rows[0]) : undefined;
    if (wallet) {
      const addresses = await this.addresses(q, wallet.id);
      if (addresses[0]) return { wallet, address: addresses[0] };
    }
    const key = await this.keys.createKey({ label: `house/${purpose}/${chain}`, tier: 'hot' });
    if (!wallet) {
      const inserted = await q.query<WalletRow>(
        `insert into wallets (owner, house_purpose, chain, tier, key_id, state) values ('house', $1, $2, 'hot', $3, 'active') returning *`,
        [purpose, chain, chain === 'ethereum' ? key.keyId : null]);
      wallet = toWallet(inserted.rows[0]!);
    }
    const address = await this.insertAddress(q, wallet, key.keyId, key.publicKey, 'account');
    return { wallet, address };
  }

  /**
   * A deposit address for the client on a chain (KEY-07): Bitcoin a fresh P2WPKH address from a new
   * HSM key on every request; Ethereum the wallet's one account address.
   */
  async depositAddress(q: Queryable, clientId: string, chain: ChainName, tier: KeyTier): Promise<WalletAddress> {
    const wallets = await this.ensureClientWallets(q, clientId);
    const wallet = wallets.find((w) => w.chain === chain && w.tier === tier)!;
    if (wallet.state !== 'active') {
      throw new DomainError('WALLET_NOT_ACTIVE', `the client's ${chain} ${tier} wallet is ${wallet.state}`, { walletId: wallet.id, state: wallet.state });
    }
    if (chain === 'ethereum') {
      const [account] = await this.addresses(q, wallet.id);
      if (!account) throw new Error(`ethereum wallet ${wallet.id} has no account address`);
      return account;
    }
    return this.freshBitcoinAddress(q, wallet, 'deposit');
  }

  /** A fresh change address in a Bitcoin wallet (never a used one: KEY-07). */
  async changeAddress(q: Queryable, walletId: string): Promise<WalletAddress> {
    const wallet = await this.get(q, walletId);
    if (wallet.chain !== 'bitcoin') throw new DomainError('BAD_ARGUMENT', 'change addresses exist on Bitcoin only');
    return this.freshBitcoinAddress(q, wallet, 'change');
  }

  private async freshBitcoinAddress(q: Queryable, wallet: Wallet, purpose: 'deposit' | 'change'): Promise<WalletAddress> {
    const owner = wallet.clientId ? `client/${wallet.clientId}` : `house/${wallet.housePurpose}`;
    const key = await this.keys.createKey({ label: `${owner}/bitcoin/${wallet.tier}/${purpose}`, tier: wallet.tier, clientId: wallet.clientId ?? 'house' });
    this.assertTier(key.tier, wallet.tier);
    return this.insertAddress(q, wallet, key.keyId, key.publicKey, purpose);
  }

  private assertTier(actual: KeyTier, expected: KeyTier): void {
    // HOT-05: the tier is a property of where the key lives; a label cannot make a hot key cold.
    if (actual !== expected) throw new Error(`the signer created a ${actual} key for a ${expected} wallet`);
  }

  private async insertAddress(q: Queryable, wallet: Wallet, keyId: string, publicKey: string, purpose: WalletAddress['purpose']): Promise<WalletAddress> {
    const address = addressFor(wallet.chain, publicKey, this.bitcoinNetwork);
    const { rows } = await q.query<AddressRow>(
      `insert into wallet_addresses (wallet_id, chain, address, key_id, public_key, purpose) values ($1, $2, $3, $4, $5, $6) returning *`,
      [wallet.id, wallet.chain, address, keyId, publicKey, purpose]);
    return toAddress(rows[0]!);
  }

  async get(q: Queryable, walletId: string): Promise<Wallet> {
    const { rows } = await q.query<WalletRow>('select * from wallets where id = $1', [walletId]);
    if (!rows[0]) throw new DomainError('WALLET_NOT_FOUND', `no wallet ${walletId}`);
    return toWallet(rows[0]);
  }

  async clientWallets(q: Queryable, clientId: string): Promise<Wallet[]> {
    const { rows } = await q.query<WalletRow>(`select * from wallets where client_id = $1 order by chain, tier`, [clientId]);
    return rows.map(toWallet);
  }

  /** KEY-09: every signer key the wallet registry knows (a wallet's account key, each address's key), with its owner and tier. */
  async registeredKeys(q: Queryable): Promise<{ keyId: string; walletId: string; owner: 'client' | 'house'; clientId: string | null; housePurpose: string | null; chain: ChainName; tier: KeyTier; walletState: WalletState }[]> {
    const { rows } = await q.query<{ key_id: string; wallet_id: string; owner: 'client' | 'house'; client_id: string | null; house_purpose: string | null; chain: ChainName; tier: KeyTier; state: WalletState }>(
      `select distinct on (k.key_id) k.key_id, w.id as wallet_id, w.owner, w.client_id, w.house_purpose, w.chain, w.tier, w.state
       from (select key_id, id as wallet_id from wallets where key_id is not null
             union all select key_id, wallet_id from wallet_addresses) k
       join wallets w on w.id = k.wallet_id order by k.key_id, w.created_at`);
    return rows.map((r) => ({ keyId: r.key_id, walletId: r.wallet_id, owner: r.owner, clientId: r.client_id, housePurpose: r.house_purpose, chain: r.chain, tier: r.tier, walletState: r.state }));
  }

  async addresses(q: Queryable, walletId: string): Promise<WalletAddress[]> {
    const { rows } = await q.query<AddressRow>('select * from wallet_addresses where wallet_id = $1 order by id', [walletId]);
    return rows.map(toAddress);
  }

  /** WAL-01 transitions; the database refuses the others (retired → active, …). */
  async setState(q: Queryable, walletId: string, state: WalletState): Promise<Wallet> {
    const wallet = await this.get(q, walletId);
    if (state === 'retired' || state === 'retiring') {
      const { rows } = await q.query<{ n: number }>(
        `select count(*)::int as n from accounts a where a.client_id = $1 and a.kind = $2 and a.balance <> 0`,
        [wallet.clientId, wallet.tier === 'hot' ? 'client_wallet_hot' : 'client_wallet_cold']);
      if (wallet.clientId && rows[0]!.n > 0) {
        throw new DomainError('WALLET_NOT_EMPTY', 'a wallet that still holds assets cannot be retired', { walletId });
      }
    }
    try {
      const { rows } = await q.query<WalletRow>('update wallets set state = $2, updated_at = now() where id = $1 returning *', [walletId, state]);
      return toWallet(rows[0]!);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (e.code === 'P0001' && e.message?.startsWith('WALLET_STATE_TRANSITION')) {
        throw new DomainError('WALLET_STATE_TRANSITION', e.message.replace(/^WALLET_STATE_TRANSITION: /, ''), { walletId });
      }
      throw error;
    }
  }
}
