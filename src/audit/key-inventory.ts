// KEY-09 (DAA 2.13.11(2)(j)): how many private keys the firm holds, for the annual return. The
// count is the signer's enumeration of private-key objects in its HSM tokens (docs/keys.md gives
// the counting method), broken down hot/cold/backup, client/house and the report key, and
// reconciled with the wallet registry: an HSM key no wallet knows, or a wallet key the HSM does not
// have, is an orphan and is flagged.
import type { Queryable } from '../platform/tx.ts';
import type { SignerClient, SignerKeyInfo } from '../signer-client/signer-client.ts';
import type { WalletService } from '../wallets/wallet-service.ts';

export interface KeyInventory {
  asOf: string;
  method: string;
  signerMethod: string | null;
  total: number;
  byTier: Record<string, number>;
  byOwner: { client: number; house: number };
  byUsage: { wallet: number; report: number };
  keys: { keyId: string; tier: string; usage: 'wallet' | 'report'; owner: 'client' | 'house'; clientId: string | null; backup: boolean; wallet: { walletId: string; chain: string; tier: string; state: string } | null }[];
  orphans: {
    /** Private-key objects in an HSM token the signer's registry has no record of (from the signer's own reconciliation). */
    hsmObjectsUnknownToSigner: unknown[];
    /** Keys the signer's registry lists whose HSM object is gone. */
    signerKeysMissingFromHsm: unknown[];
    /** Wallet keys in the HSM that no wallet or address of the registry uses. */
    hsmKeysNoWalletKnows: { keyId: string; tier: string; clientId: string | null; label: string }[];
    /** Keys a wallet or address of the registry uses that the signer does not have. */
    walletKeysNotInHsm: { keyId: string; walletId: string; chain: string; tier: string }[];
  };
  reconciled: boolean;
  /** `?asOf=`: the keys of the enumeration created at or before that instant (the annual return's count at the year end). */
  asOfCount?: { asOf: string; total: number; byTier: Record<string, number>; byOwner: { client: number; house: number } };
}

export const KEY_COUNT_METHOD = 'Each private-key object in an HSM token is one key (keys are not HD-derived: there are no seeds to count apart). '
  + 'Hot, cold and backup are the token the object lives in. A key is a client key when the signer bound it to a client, otherwise a house key; '
  + 'the report-signing key is a house key counted under usage "report". Every wallet key is reconciled with the wallet registry (wallets and wallet_addresses).';

export async function keyInventory(q: Queryable, deps: { signer: Pick<SignerClient, 'keyCount' | 'listKeys'>; wallets: Pick<WalletService, 'registeredKeys'> }, asOf?: Date): Promise<KeyInventory> {
  const [count, list, registered] = await Promise.all([deps.signer.keyCount(), deps.signer.listKeys(), deps.wallets.registeredKeys(q)]);
  const c = count as { asOf?: string; method?: string; total?: number; byTier?: Record<string, number>; orphansInHsm?: unknown[]; missingFromHsm?: unknown[] };
  const signerKeys = list.keys as (SignerKeyInfo & { usage?: string })[];
  const byWalletKey = new Map(registered.map((r) => [r.keyId, r]));
  const signerIds = new Set(signerKeys.map((k) => k.id));
  const keys = signerKeys.map((k) => {
    const w = byWalletKey.get(k.id);
    const usage: 'wallet' | 'report' = k.usage === 'report' ? 'report' : 'wallet';
    const clientId = k.clientId && k.clientId !== 'house' ? k.clientId : null;
    return { keyId: k.id, tier: k.tier, usage, owner: clientId ? 'client' as const : 'house' as const, clientId, backup: k.backup, created: k.created,
      wallet: w ? { walletId: w.walletId, chain: w.chain, tier: w.tier, state: w.walletState } : null, label: k.label };
  });
  const hsmKeysNoWalletKnows = keys.filter((k) => k.usage === 'wallet' && !k.wallet).map((k) => ({ keyId: k.keyId, tier: k.tier, clientId: k.clientId, label: k.label }));
  const walletKeysNotInHsm = registered.filter((r) => !signerIds.has(r.keyId)).map((r) => ({ keyId: r.keyId, walletId: r.walletId, chain: r.chain, tier: r.tier }));
  const orphans = {
    hsmObjectsUnknownToSigner: c.orphansInHsm ?? [], signerKeysMissingFromHsm: c.missingFromHsm ?? [], hsmKeysNoWalletKnows, walletKeysNotInHsm,
  };
  return {
    asOf: c.asOf ?? new Date().toISOString(), method: KEY_COUNT_METHOD, signerMethod: c.method ?? null,
    total: c.total ?? 0, byTier: c.byTier ?? {},
    byOwner: { client: keys.filter((k) => k.owner === 'client').length, house: keys.filter((k) => k.owner === 'house').length },
    byUsage: { wallet: keys.filter((k) => k.usage === 'wallet').length, report: keys.filter((k) => k.usage === 'report').length },
    keys: keys.map(({ label: _label, ...k }) => k),
    orphans,
    reconciled: Object.values(orphans).every((o) => o.length === 0),
    ...(asOf ? { asOfCount: countAsOf(keys, asOf) } : {}),
  };
}

function countAsOf(keys: { tier: string; owner: 'client' | 'house'; created: string }[], asOf: Date): NonNullable<KeyInventory['asOfCount']> {
  const held = keys.filter((k) => Date.parse(k.created) <= asOf.getTime());
  const byTier: Record<string, number> = {};
  for (const k of held) byTier[k.tier] = (byTier[k.tier] ?? 0) + 1;
  return { asOf: asOf.toISOString(), total: held.length, byTier,
    byOwner: { client: held.filter((k) => k.owner === 'client').length, house: held.filter((k) => k.owner === 'house').length } };
}
