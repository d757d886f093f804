// Ethereum payouts (ETH and ERC-20): EIP-1559 transfers from the client's own account, the nonce
// manager, ERC-20 gas from the house gas station (booked as house money), same-nonce replacement
// with both fees raised, and the house gas booked at completion.
//
// The nonce manager is the one nonce authority for every address we send from (client accounts and
// the gas station): a session lock per address, held by the worker's connection while it signs
// (no database transaction is open meanwhile, and the lock dies with the worker), then the signed
// transaction and the address's next nonce are recorded in one transaction. A nonce is used up
// only by a transaction that was signed and stored; after a crash between the signature and the
// record, the same request gets the same transaction back from the signer's replay log, and its
// own nonce is the one recorded.
import { DomainError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Queryable } from '../../platform/tx.ts';
import type { Asset } from '../../assets/asset-registry.ts';
import type { LedgerService, Posting } from '../../ledger/ledger-service.ts';
import type { WalletService } from '../../wallets/wallet-service.ts';
import type { SignerClient } from '../../signer-client/signer-client.ts';
import type { EthereumRpcClient } from '../../chains/ethereum/rpc-client.ts';
import { buildErc20Transfer, buildEthTransfer, ETH_TRANSFER_GAS, parseEip1559, replacementFees } from '../../chains/ethereum/tx.ts';
import type { Intent } from '../../../signer/src/intent.ts';
import { networkFeeAsset } from '../../chains/capabilities.ts';
import type { SignedTx, WithdrawalRow, WithdrawalStore } from '../withdrawal-store.ts';
import type { BuildPlan, IntentBase, MinedPayout, Payout, ReplacementPlan, SignIo } from './payout.ts';

export interface EthereumPayoutSettings {
  ethPriorityFeeWei: bigint;
  ethMaxFeePerGasCapWei: bigint;
  erc20GasLimit: bigint;
  /** How long a gas top-up intent lives (the signer's intent expiry). */
  intentTtlMs: number;
}

/** The shape of `build` for an Ethereum withdrawal (gas* only for ERC-20). */
interface EthereumBuild {
  from: string; gasLimit: string; gasFromHouse: boolean; nonce?: number; maxFeeWei?: string;
  gasTopUpIntent?: Intent; gasTopUpWei?: string; gasTopUpFees?: { maxFeePerGas: string; maxPriorityFeePerGas: string };
  gasTopUpTxid?: string; gasTopUpRaw?: string;
}

interface Gathered { from: string; keyId: string; baseFee: bigint }

type Fees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };

export class EthereumPayout implements Payout {
  readonly chain = 'ethereum' as const;

  constructor(private readonly deps: {
    rpc: EthereumRpcClient; chainId: bigint; wallets: WalletService; ledger: LedgerService; signer: SignerClient; store: WithdrawalStore;
    db: Queryable; settings: EthereumPayoutSettings; log: Logger;
  }) {}

  feeAsset(): 'BTC' | 'ETH' { return networkFeeAsset(this.chain); }
  clientPaysFee(asset: Asset): boolean { return !asset.contractAddress; }

  /** The highest fee per gas a transaction of this withdrawal may offer: the configured cap, within the withdrawal's fee cap. */
  private feeCapPerGas(feeCapWei: bigint, gasLimit: bigint): bigint {
    const withinWithdrawal = feeCapWei / gasLimit;
    return withinWithdrawal < this.deps.settings.ethMaxFeePerGasCapWei ? withinWithdrawal : this.deps.settings.ethMaxFeePerGasCapWei;
  }

  async gather(w: WithdrawalRow): Promise<Gathered> {
    const wallet = (await this.deps.wallets.clientWallets(this.deps.db, w.client_id)).find((x) => x.chain === 'ethereum' && x.tier === w.source_tier);
    if (!wallet) throw new DomainError('WALLET_NOT_FOUND', `client ${w.client_id} has no ${w.source_tier} ethereum wallet`);
    if (wallet.state !== 'active') throw new DomainError('WALLET_NOT_ACTIVE', `source wallet ${wallet.id} is ${wallet.state}`);
    const from = (await this.deps.wallets.addresses(this.deps.db, wallet.id))[0]!;
    return { from: from.address, keyId: from.keyId, baseFee: await this.deps.rpc.getBaseFee() };
  }

  async prepare(_q: Queryable, w: WithdrawalRow, asset: Asset, base: IntentBase, gathered: unknown): Promise<BuildPlan> {
    const { from, keyId, baseFee } = gathered as Gathered;
    const gasLimit = asset.contractAddress ? this.deps.settings.erc20GasLimit : ETH_TRANSFER_GAS;
    if (!asset.contractAddress && this.feeCapPerGas(w.network_fee_max, gasLimit) < baseFee) {
      throw new DomainError('INSUFFICIENT_FUNDS', `the quoted network fee of ${w.network_fee_max} wei does not cover gas at today's base fee`);
    }
    // The fee cap is the most the withdrawal may ever pay, not one transaction's maximum: a
    // same-nonce replacement with higher fees is then the same intent (same approvals) to the signer.
    const feeCap = asset.contractAddress ? this.deps.settings.erc20GasLimit * this.deps.settings.ethMaxFeePerGasCapWei : w.network_fee_max;
    const intent: Intent = {
      ...base, chain: 'ethereum', network: this.deps.chainId.toString(), sourceKeyId: keyId,
      ...(asset.contractAddress ? { tokenContract: asset.contractAddress } : {}),
      // A tier move names the key behind its destination: the signer checks it is this client's other tier (HOT-03).
      outputs: [{ address: w.destination, amount: w.amount.toString(), ...(w.destination_key_id ? { keyId: w.destination_key_id } : {}) }], feeCap: feeCap.toString(),
    };
    // No nonce yet: it is taken when the transaction is signed, so a withdrawal that ends before
    // then (cancelled, rejected, refused) leaves no gap in the address's nonces.
    const build: EthereumBuild = { from, gasLimit: gasLimit.toString(), gasFromHouse: Boolean(asset.contractAddress) };
    return { intent, build: build as unknown as Record<string, unknown> };
  }

  async sign(w: WithdrawalRow, asset: Asset, io: SignIo): Promise<void> {
    const build = w.build as unknown as EthereumBuild;
    const gasLimit = BigInt(build.gasLimit);
    const capPerGas = this.feeCapPerGas(BigInt((w.intent as { feeCap: string }).feeCap), gasLimit);
    const priority = this.deps.settings.ethPriorityFeeWei < capPerGas ? this.deps.settings.ethPriorityFeeWei : capPerGas;
    const wanted = (await this.deps.rpc.getBaseFee()) * 2n + priority;
    const fees: Fees = { maxFeePerGas: wanted < capPerGas ? wanted : capPerGas, maxPriorityFeePerGas: priority };
    // Gas for a token transfer first: the top-up is a step of its own (fix, sign and store, send, wait).
    if (build.gasFromHouse && !(await this.gasReady(w, build, gasLimit * fees.maxFeePerGas, io))) return;
    await this.withNonce(io, build.from, (nonce) => (asset.contractAddress
      ? buildErc20Transfer({ chainId: this.deps.chainId, nonce, tokenContract: asset.contractAddress, to: w.destination, amount: w.amount, gasLimit, ...fees })
      : buildEthTransfer({ chainId: this.deps.chainId, nonce, to: w.destination, valueWei: w.amount, gasLimit, ...fees })).unsignedSerialized,
    (ethereumTx) => io.signWithdrawal({ ethereumTx }),
    async (signed, recordNonce) => {
      // After a crash this may be the transaction signed before it: its nonce and fees are the ones that count.
      await io.store({ raw: signed.signedTx, txid: signed.txHash, fee: signed.tx.maxFeeWei }, async (q) => {
        await recordNonce(q);
        await this.deps.store.mergeBuild(q, w.id, { nonce: signed.tx.nonce, maxFeeWei: signed.tx.maxFeeWei.toString() });
      });
    });
  }

  /**
   * Signs one transaction from `address` under the address's nonce lock (a session lock on the
   * worker's connection, never a database transaction held open across the signer call) and
   * records it (`then`) before the lock is let go. The nonce is the address's next one, ours or
   * the chain's if it is ahead; `recordNonce` records the nonce the signed transaction really
   * carries (after a crash the signer may return one it signed before).
   */
  private async withNonce(io: SignIo, address: string, build: (nonce: number) => string,
    sign: (ethereumTx: string) => Promise<{ signedTx?: string; txHash?: string }>,
    then: (signed: { signedTx: string; txHash: string; tx: ReturnType<typeof parseEip1559> }, recordNonce: (q: Queryable) => Promise<void>) => Promise<void>): Promise<void> {
    const key = `eth-nonce/${address}`;
    const { rows: locked } = await io.session.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 7264)) as ok', [key]);
    if (!locked[0]!.ok) throw new DomainError('SIGNER_UNAVAILABLE', `another transaction from ${address} is being signed`, { transient: true });
    try {
      const chainNonce = await this.deps.rpc.getNonce(address, 'pending');
      await io.session.query('insert into eth_nonces (address, next_nonce) values ($1, 0) on conflict do nothing', [address]);
      const { rows } = await io.session.query<{ next_nonce: number }>('select next_nonce from eth_nonces where address = $1', [address]);
      const signed = await sign(build(Math.max(rows[0]!.next_nonce, chainNonce)));
      const tx = parseEip1559(signed.signedTx!);
      await then({ signedTx: signed.signedTx!, txHash: signed.txHash!, tx },
        async (q) => { await q.query('update eth_nonces set next_nonce = greatest(next_nonce, $2) where address = $1', [address, tx.nonce + 1]); });
    } finally {
      await io.session.query('select pg_advisory_unlock(hashtextextended($1, 7264))', [key]);
    }
  }

  /**
   * ERC-20 gas from the house gas station, once per withdrawal, each call one step: (1) fix the
   * top-up's intent (stored, so a retry asks the signer for the very same thing), (2) sign it under
   * the station's nonce lock and store it, (3) send the stored bytes, (4) wait until it is mined.
   * True once the client address holds the gas.
   */
  private async gasReady(w: WithdrawalRow, build: EthereumBuild, needWei: bigint, io: SignIo): Promise<boolean> {
    const rpc = this.deps.rpc;
    if (build.gasTopUpRaw) {
      // Sent (or about to be): wait for it, and send the same bytes again if the node lost it.
      if (await rpc.getReceipt(build.gasTopUpTxid!)) return true;
      if (!(await rpc.getTransaction(build.gasTopUpTxid!))) {
        await rpc.broadcast(build.gasTopUpRaw).catch((error: unknown) => this.deps.log.warn({ err: error, withdrawalId: w.id }, 'gas top-up broadcast'));
      }
      await io.wait('GAS_TOP_UP_PENDING', 'waiting for the gas top-up to be mined', 1);
      return false;
    }
    const station = await this.deps.wallets.ensureHouseWallet(this.deps.db, 'gas_station', 'ethereum');
    if (!build.gasTopUpIntent) {
      const balance = await rpc.getBalance(build.from, 'latest');
      const baseFee = await rpc.getBaseFee();
      const stationBalance = await rpc.getBalance(station.address.address, 'pending');
      let ready = false;
      // The gas float on the address is shared by every token withdrawal from it: what the others
      // in flight will still burn is reserved, one decision at a time per address.
      await io.record(async (q) => {
        await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7263))', [`gas/${build.from}`]);
        const free = balance - (await this.deps.store.gasInFlight(q, w, build.from, needWei));
        if (free >= needWei) { ready = true; return; }
        // Twice the need: room for a same-nonce replacement with higher fees without a second top-up.
        // What is left stays on the address as the house's gas float (house_gas_float) for the next one.
        const topUp = 2n * needWei - (free > 0n ? free : 0n);
        const fees = { maxFeePerGas: baseFee * 2n + this.deps.settings.ethPriorityFeeWei, maxPriorityFeePerGas: this.deps.settings.ethPriorityFeeWei };
        const feeCap = ETH_TRANSFER_GAS * fees.maxFeePerGas;
        if (stationBalance < topUp + feeCap) {
          throw new DomainError('GAS_STATION_EMPTY', `the house gas station ${station.address.address} holds ${stationBalance} wei; this top-up needs ${topUp + feeCap}`, { transient: true });
        }
        const intent: Intent = {
          intentId: `${w.id}:gas`, chain: 'ethereum', network: this.deps.chainId.toString(), asset: 'ETH', clientId: 'house', initiator: 'gas-station',
          sourceKeyId: station.address.keyId, purpose: 'withdrawal', outputs: [{ address: build.from, amount: topUp.toString() }],
          feeCap: feeCap.toString(), expiresAt: new Date(Date.now() + this.deps.settings.intentTtlMs).toISOString(),
        };
        await this.deps.store.mergeBuild(q, w.id, { gasTopUpIntent: intent, gasTopUpWei: topUp.toString(),
          gasTopUpFees: { maxFeePerGas: fees.maxFeePerGas.toString(), maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString() } });
        await this.deps.store.waitFor(q, w.id, 0, { code: 'GAS_TOP_UP_PENDING', detail: 'gas top-up prepared' });
      });
      return ready;
    }
    const stored = build.gasTopUpFees!;
    const fees: Fees = { maxFeePerGas: BigInt(stored.maxFeePerGas), maxPriorityFeePerGas: BigInt(stored.maxPriorityFeePerGas) };
    await this.withNonce(io, station.address.address,
      (nonce) => buildEthTransfer({ chainId: this.deps.chainId, nonce, to: build.from, valueWei: BigInt(build.gasTopUpWei!), gasLimit: ETH_TRANSFER_GAS, ...fees }).unsignedSerialized,
      (ethereumTx) => this.deps.signer.sign<{ signedTx: string; txHash: string }>({ requestId: `${w.id}:gas`, intent: build.gasTopUpIntent, transaction: { ethereumTx }, approvals: [] }),
      async (signed, recordNonce) => {
        // Stored with the station's nonce in one transaction; the next step sends these bytes, and only these.
        await io.record(async (q) => {
          await recordNonce(q);
          await this.deps.store.mergeBuild(q, w.id, { gasTopUpTxid: signed.txHash, gasTopUpRaw: signed.signedTx });
          await this.deps.store.recordOwnTransaction(q, 'ethereum', signed.txHash, 'gas_top_up', w.id);
          await this.deps.store.waitFor(q, w.id, 0, { code: 'GAS_TOP_UP_PENDING', detail: 'gas top-up signed' });
        });
      });
    return false;
  }

  signedRaw(signed: { signedTx?: string; txHash?: string }): { raw: string; txid: string } {
    return { raw: signed.signedTx!, txid: signed.txHash! };
  }

  async broadcast(w: WithdrawalRow): Promise<void> {
    if (await this.deps.rpc.getReceipt(w.txid!)) return;
    try {
      await this.deps.rpc.broadcast(w.signed_tx!);
    } catch (error) {
      if (!/already known|nonce too low|known transaction/i.test(error instanceof Error ? error.message : '')) throw error;
    }
  }

  async isKnown(txid: string): Promise<boolean> {
    return Boolean(await this.deps.rpc.getTransaction(txid));
  }

  async findMined(txs: SignedTx[]): Promise<MinedPayout | undefined> {
    for (const tx of [...txs].reverse()) {
      const receipt = await this.deps.rpc.getReceipt(tx.txid);
      if (!receipt) continue;
      const tip = await this.deps.rpc.getBlockNumber();
      return { tx, confirmations: tip - Number(BigInt(receipt.blockNumber)) + 1, reverted: receipt.status !== '0x1',
        networkFee: BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice ?? '0') };
    }
    return undefined;
  }

  async rebroadcastIfLost(latest: SignedTx): Promise<void> {
    if (!(await this.deps.rpc.getTransaction(latest.txid))) await this.deps.rpc.broadcast(latest.raw).catch(() => undefined);
  }

  /** The same nonce and payment with both EIP-1559 fees raised. ERC-20 gas must fit the gas float on the address. */
  async replacement(_q: Queryable, w: WithdrawalRow, asset: Asset, latest: SignedTx): Promise<ReplacementPlan> {
    const rpc = this.deps.rpc;
    const previous = parseEip1559(latest.raw);
    const feeCap = BigInt((w.intent as { feeCap: string }).feeCap);
    const cap = this.feeCapPerGas(feeCap, previous.gasLimit);
    const fees = replacementFees(previous, { baseFeePerGas: await rpc.getBaseFee(), priorityFeePerGas: this.deps.settings.ethPriorityFeeWei, capPerGas: cap });
    if (!fees) return `a valid fee bump would exceed the cap of ${cap} wei per gas`;
    const chainId = this.deps.chainId;
    const unsigned = asset.contractAddress
      ? buildErc20Transfer({ chainId, nonce: previous.nonce, tokenContract: asset.contractAddress, to: w.destination, amount: w.amount, gasLimit: previous.gasLimit, ...fees })
      : buildEthTransfer({ chainId, nonce: previous.nonce, to: w.destination, valueWei: w.amount, gasLimit: previous.gasLimit, ...fees });
    if (asset.contractAddress) {
      const from = (w.build as unknown as EthereumBuild).from;
      const balance = await rpc.getBalance(from, 'latest');
      if (balance < unsigned.maxFeeWei) return `the gas float on ${from} (${balance} wei) does not cover ${unsigned.maxFeeWei} wei`;
    }
    return { transaction: { ethereumTx: unsigned.unsignedSerialized }, fee: unsigned.maxFeeWei,
      detail: { maxFeePerGas: fees.maxFeePerGas.toString(), maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString() } };
  }

  /** The gas the top-up itself burned, read from its receipt. */
  async completionFacts(w: WithdrawalRow): Promise<{ topUpGasWei: bigint }> {
    const build = w.build as unknown as EthereumBuild;
    if (!build.gasTopUpTxid || BigInt(build.gasTopUpWei ?? '0') === 0n) return { topUpGasWei: 0n };
    const receipt = await this.deps.rpc.getReceipt(build.gasTopUpTxid);
    if (!receipt) throw new DomainError('CHAIN_UNAVAILABLE', `the gas top-up ${build.gasTopUpTxid} has no receipt yet`);
    return { topUpGasWei: BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice ?? '0') };
  }

  /** Nothing was sent: an Ethereum withdrawal reserves no coins (its nonce is taken only when signed). */
  async release(): Promise<void> {}

  async settle(q: Queryable, w: WithdrawalRow, asset: Asset, mined: MinedPayout, facts: unknown): Promise<void> {
    if (asset.contractAddress) await this.bookHouseGas(q, w, mined.networkFee, (facts as { topUpGasWei: bigint }).topUpGasWei);
  }

  /** A mined transaction that reverted (ERC-20): the asset did not move, the gas did. */
  async settleReverted(q: Queryable, w: WithdrawalRow, _asset: Asset, mined: MinedPayout, facts: unknown): Promise<void> {
    await this.bookHouseGas(q, w, mined.networkFee, (facts as { topUpGasWei: bigint }).topUpGasWei);
  }

  /** ERC-20 gas: the top-up and the gas burned are house money, never the client's. */
  private async bookHouseGas(q: Queryable, w: WithdrawalRow, gasUsedWei: bigint, topUpGasWei: bigint): Promise<void> {
    const { ledger } = this.deps;
    const build = w.build as unknown as EthereumBuild;
    const topUp = BigInt(build.gasTopUpWei ?? '0');
    const postings: Posting[] = [];
    if (topUp > 0n) {
      postings.push({ accountId: await ledger.systemAccountId(q, 'ETH', 'house_wallet_gas'), amount: -topUp },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'house_gas_float'), amount: topUp });
      // The top-up paid its own gas from the station: house money too, so the station's books equal its chain balance.
      postings.push({ accountId: await ledger.systemAccountId(q, 'ETH', 'house_wallet_gas'), amount: -topUpGasWei },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'external_chain'), amount: topUpGasWei },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'house_treasury'), amount: -topUpGasWei },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'external_world'), amount: topUpGasWei });
    }
    if (gasUsedWei > 0n) {
      postings.push({ accountId: await ledger.systemAccountId(q, 'ETH', 'house_gas_float'), amount: -gasUsedWei },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'external_chain'), amount: gasUsedWei },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'house_treasury'), amount: -gasUsedWei },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'external_world'), amount: gasUsedWei });
    }
    if (postings.length >= 2) {
      await ledger.postEntry(q, { idempotencyId: `withdrawal:${w.id}:gas`, type: 'fee', actor: 'pipeline', postings,
        cause: { withdrawalId: w.id, gasTopUpTxid: build.gasTopUpTxid, gasUsedWei: gasUsedWei.toString(), topUpGasWei: topUpGasWei.toString(), feeScheduleVersion: 'house-gas-v1' } });
    }
  }
}
