// Bitcoin payouts: coin selection over the client's own UTXOs (our UTXO set, not a node index),
// change to a fresh address of the same wallet, a PSBT the signer re-parses, BIP-125 replacement
// over exactly the same coins, and at completion the coins spent and the mined transaction's change.
import { Transaction as BitcoinTransaction } from 'bitcoinjs-lib';
import { DomainError } from '../../platform/errors.ts';
import type { Queryable } from '../../platform/tx.ts';
import type { Asset } from '../../assets/asset-registry.ts';
import type { WalletService, WalletAddress } from '../../wallets/wallet-service.ts';
import type { CoinStore } from '../../wallets/coin-store.ts';
import type { BitcoinRpcClient } from '../../chains/bitcoin/rpc-client.ts';
import type { BitcoinNetworkName } from '../../chains/bitcoin/networks.ts';
import { buildPsbt, type Utxo } from '../../chains/bitcoin/psbt.ts';
import { replacementFeeRate } from '../../chains/bitcoin/fees.ts';
import { decodeAddress } from '../../chains/bitcoin/address.ts';
import { isChainError } from '../../chains/errors.ts';
import { networkFeeAsset } from '../../chains/capabilities.ts';
import type { Intent } from '../../../signer/src/intent.ts';
import type { SignedTx, WithdrawalRow } from '../withdrawal-store.ts';
import type { BuildPlan, IntentBase, MinedPayout, Payout, ReplacementPlan, SignIo } from './payout.ts';

export interface BitcoinPayoutSettings {
  btcFeeRateFallbackSatPerVbyte: bigint;
  btcFeeRateCapSatPerVbyte: bigint;
}

/** Coins coin selection looks at, largest first. */
const MAX_CANDIDATE_COINS = 5000;
/**
 * A sweep or refill spends the source wallet's coins all together (its largest this many), the
 * change back to a fresh address of the same wallet: one transaction batches the client's coins
 * (HOT-02) and consolidates them, within the tier move's fee cap at ordinary fee rates.
 */
const MAX_TIER_MOVE_INPUTS = 40;

interface Gathered { walletId: string; change: WalletAddress; feeRate: bigint }

/** The shape of `build` for a Bitcoin withdrawal. */
interface BitcoinBuild {
  psbt: string; fee: string; changeIndex: number; changeValue: string; changeAddress: string; changeKeyId: string; changeWalletId: string;
  inputs: { txid: string; vout: number; value: string }[]; feeRate: string;
}

export class BitcoinPayout implements Payout {
  readonly chain = 'bitcoin' as const;

  constructor(private readonly deps: {
    rpc: BitcoinRpcClient; network: BitcoinNetworkName; wallets: WalletService; coins: CoinStore; db: Queryable; settings: BitcoinPayoutSettings;
  }) {}

  feeAsset(): 'BTC' | 'ETH' { return networkFeeAsset(this.chain); }
  clientPaysFee(): boolean { return true; }

  /** The source wallet, a fresh change address (a new HSM key: a signer call) and the fee rate, before any transaction opens. */
  async gather(w: WithdrawalRow): Promise<Gathered> {
    const wallet = (await this.deps.wallets.clientWallets(this.deps.db, w.client_id)).find((x) => x.chain === 'bitcoin' && x.tier === w.source_tier);
    if (!wallet) throw new DomainError('WALLET_NOT_FOUND', `client ${w.client_id} has no ${w.source_tier} bitcoin wallet`);
    if (wallet.state !== 'active') throw new DomainError('WALLET_NOT_ACTIVE', `source wallet ${wallet.id} is ${wallet.state}`);
    const change = await this.deps.wallets.changeAddress(this.deps.db, wallet.id);
    const { satPerVbyte } = await this.deps.rpc.estimateFeeRate(6, this.deps.settings.btcFeeRateFallbackSatPerVbyte);
    const feeRate = satPerVbyte > this.deps.settings.btcFeeRateCapSatPerVbyte ? this.deps.settings.btcFeeRateCapSatPerVbyte : satPerVbyte;
    return { walletId: wallet.id, change, feeRate };
  }

  async prepare(q: Queryable, w: WithdrawalRow, _asset: Asset, base: IntentBase, gathered: unknown): Promise<BuildPlan> {
    const { walletId, change, feeRate } = gathered as Gathered;
    const network = this.deps.network;
    const tierMove = w.kind !== 'withdrawal';
    const candidates = await this.deps.coins.unspentForUpdate(q, walletId, tierMove ? MAX_TIER_MOVE_INPUTS : MAX_CANDIDATE_COINS);
    const utxos: (Utxo & { keyId: string })[] = candidates.map((u) => ({
      txid: u.txid, vout: u.vout, value: u.value, script: decodeAddress(u.address, network).script, keyId: u.keyId }));
    let built;
    try {
      built = buildPsbt({ network, utxos, outputs: [{ address: w.destination, value: w.amount }], changeAddress: change.address,
        feeRateSatPerVbyte: feeRate, feeMaxSat: w.network_fee_max, ...(tierMove ? { spendAll: true } : {}) });
    } catch (error) {
      if (isChainError(error, 'INSUFFICIENT_FUNDS') || isChainError(error, 'FEE_TOO_HIGH')) {
        // Coins held by other withdrawals in flight come back (as change) when those confirm: wait for them.
        if (await this.deps.coins.anyReserved(q, walletId)) throw new DomainError('INSUFFICIENT_FUNDS', 'the wallet\'s other coins are reserved by withdrawals in flight; waiting for their change', { transient: true });
        throw new DomainError('INSUFFICIENT_FUNDS', `the ${w.source_tier} wallet's coins cannot pay ${w.amount} sat within a fee of ${w.network_fee_max}: ${error.message}`);
      }
      throw error;
    }
    const chosen = built.inputs.map((i) => utxos.find((u) => u.txid === i.txid && u.vout === i.vout)!);
    await this.deps.coins.reserve(q, chosen, w.id);
    const keyIds = [...new Set(chosen.map((u) => u.keyId))];
    const intent: Intent = {
      ...base, chain: 'bitcoin', network, sourceKeyId: keyIds[0]!, sourceKeyIds: keyIds,
      // A tier move names the key behind its destination: the signer checks it is this client's other tier (HOT-03).
      outputs: [{ address: w.destination, amount: w.amount.toString(), ...(w.destination_key_id ? { keyId: w.destination_key_id } : {}) }],
      ...(built.changeIndex >= 0 ? { change: { address: change.address, keyId: change.keyId } } : {}),
      feeCap: w.network_fee_max.toString(),
    };
    const build: BitcoinBuild = { psbt: built.psbtBase64, fee: built.fee.toString(), changeIndex: built.changeIndex, changeValue: built.change.toString(),
      changeAddress: change.address, changeKeyId: change.keyId, changeWalletId: walletId,
      inputs: chosen.map((u) => ({ txid: u.txid, vout: u.vout, value: u.value.toString() })), feeRate: feeRate.toString() };
    return { intent, build: build as unknown as Record<string, unknown> };
  }

  /** The PSBT fixed when the intent was: the same request after a crash gets the same transaction back from the signer. */
  async sign(w: WithdrawalRow, _asset: Asset, io: SignIo): Promise<void> {
    const build = w.build as unknown as BitcoinBuild;
    const signed = await io.signWithdrawal({ psbt: build.psbt });
    await io.store({ raw: signed.txHex!, txid: signed.txid!, fee: BigInt(build.fee) });
  }

  signedRaw(signed: { txHex?: string; txid?: string }): { raw: string; txid: string } {
    return { raw: signed.txHex!, txid: signed.txid! };
  }

  async broadcast(w: WithdrawalRow): Promise<void> {
    // Ask the chain first: after a crash the transaction may already be out.
    if (!(await this.deps.rpc.findTransaction(w.txid!))) await this.deps.rpc.broadcast(w.signed_tx!);
  }

  async isKnown(txid: string): Promise<boolean> {
    return Boolean(await this.deps.rpc.findTransaction(txid));
  }

  async findMined(txs: SignedTx[]): Promise<MinedPayout | undefined> {
    for (const tx of [...txs].reverse()) {
      const info = await this.deps.rpc.call<{ confirmations?: number }>('getrawtransaction', [tx.txid, true]).catch(() => undefined);
      if (info?.confirmations && info.confirmations > 0) return { tx, confirmations: info.confirmations, networkFee: BigInt(tx.fee), reverted: false };
    }
    return undefined;
  }

  async rebroadcastIfLost(latest: SignedTx): Promise<void> {
    if (!(await this.deps.rpc.findTransaction(latest.txid))) await this.deps.rpc.broadcast(latest.raw, 0).catch(() => undefined);
  }

  /** The same inputs and payment at a higher fee rate; the bump comes out of the change. */
  async replacement(q: Queryable, w: WithdrawalRow, _asset: Asset, latest: SignedTx): Promise<ReplacementPlan> {
    const build = w.build as unknown as BitcoinBuild;
    if (build.changeIndex < 0) return 'the transaction has no change output to take a higher fee from';
    const network = this.deps.network;
    const rows = await this.deps.coins.reservedBy(q, w.id);
    const utxos: Utxo[] = build.inputs.map((i) => {
      const u = rows.find((r) => r.txid === i.txid && r.vout === i.vout)!;
      return { txid: u.txid, vout: u.vout, value: u.value, script: decodeAddress(u.address, network).script };
    });
    const vsize = BitcoinTransaction.fromHex(latest.raw).virtualSize();
    const { satPerVbyte } = await this.deps.rpc.estimateFeeRate(2, this.deps.settings.btcFeeRateFallbackSatPerVbyte);
    const rate = replacementFeeRate(BigInt(latest.fee), vsize, satPerVbyte, this.deps.settings.btcFeeRateCapSatPerVbyte);
    if (rate === undefined) return `a higher fee rate would exceed the cap of ${this.deps.settings.btcFeeRateCapSatPerVbyte} sat/vB`;
    let built;
    try {
      built = buildPsbt({ network, utxos, outputs: [{ address: w.destination, value: w.amount }], changeAddress: build.changeAddress,
        feeRateSatPerVbyte: rate, feeMaxSat: w.network_fee_max, spendAll: true });
    } catch (error) {
      if (isChainError(error, 'FEE_TOO_HIGH') || isChainError(error, 'INSUFFICIENT_FUNDS')) return `no replacement at ${rate} sat/vB within the quoted fee of ${w.network_fee_max} sat: ${error.message}`;
      throw error;
    }
    if (built.changeIndex !== build.changeIndex) return 'a higher fee would use up the change';
    if (built.fee <= BigInt(latest.fee)) return 'no higher fee is possible';
    return { transaction: { psbt: built.psbtBase64 }, fee: built.fee, detail: { feeRate: rate.toString() } };
  }

  async completionFacts(): Promise<undefined> {
    return undefined;
  }

  /** The coins are spent; the mined transaction's change is the wallet's new coin (a replacement took its higher fee out of the change). */
  async settle(q: Queryable, w: WithdrawalRow, _asset: Asset, mined: MinedPayout): Promise<void> {
    const build = w.build as unknown as BitcoinBuild;
    await this.deps.coins.spend(q, w.id, build.changeIndex < 0 ? undefined : {
      txid: mined.tx.txid, vout: build.changeIndex, walletId: build.changeWalletId, address: build.changeAddress, keyId: build.changeKeyId,
      value: BigInt(build.changeValue) + BigInt(build.fee) - BigInt(mined.tx.fee),
    });
    // A tier move's output (index 0: buildPsbt puts the payment before the change) comes back to us
    // like change: the client's own coin, now in the other tier's wallet (the scanner skips our own transactions).
    if (w.destination_key_id && w.destination_wallet_id) {
      await this.deps.coins.spend(q, w.id, { txid: mined.tx.txid, vout: 0, walletId: w.destination_wallet_id, address: w.destination, keyId: w.destination_key_id, value: w.amount });
    }
  }

  /** Nothing was sent: the coins it reserved are free again. */
  async release(q: Queryable, w: WithdrawalRow): Promise<void> {
    await this.deps.coins.free(q, w.id);
  }

  async settleReverted(): Promise<void> {
    throw new Error('a Bitcoin transaction does not revert once mined');
  }
}
