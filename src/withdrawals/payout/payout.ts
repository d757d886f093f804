// The Payout port: everything a withdrawal does that depends on the chain, one adapter per chain
// (bitcoin-payout.ts, ethereum-payout.ts). The pipeline knows no chain; it calls these in a fixed
// order and never holds a database transaction open across a call that leaves the process:
//   gather (network reads) → prepare (in the pipeline's transaction) → sign (claims what it needs,
//   calls the signer with no transaction open, hands back what to record) → broadcast → findMined
//   → replacement → settle (in the pipeline's transaction).
import type pg from 'pg';
import type { Queryable } from '../../platform/tx.ts';
import type { Asset } from '../../assets/asset-registry.ts';
import type { ChainName } from '../../chains/capabilities.ts';
import type { Intent } from '../../../signer/src/intent.ts';
import type { SignedTx, WithdrawalRow } from '../withdrawal-store.ts';

/** What every intent carries whatever the chain. */
export type IntentBase = Pick<Intent, 'intentId' | 'asset' | 'clientId' | 'initiator' | 'purpose' | 'expiresAt' | 'screeningHash'>;

export interface BuildPlan { intent: Intent; build: Record<string, unknown> }

/** A transaction the signer signed. */
export interface SignedPayout {
  raw: string;
  txid: string;
  /** The most this transaction can pay in fees (BTC: its fee; ETH: gas limit × max fee per gas). */
  fee: bigint;
}

export interface MinedPayout { tx: SignedTx; confirmations: number; networkFee: bigint; reverted: boolean }

/** A replacement to sign, or why there is none. */
export type ReplacementPlan = string | { transaction: Record<string, string>; fee: bigint; detail: Record<string, string> };

/** What an adapter may use of the pipeline while it signs. */
export interface SignIo {
  /** The step's own connection, with no transaction open: for session locks that die with the worker. */
  session: pg.PoolClient;
  /** Runs `work` in a transaction with the withdrawal locked; false when the withdrawal moved on meanwhile (nothing done). */
  record(work: (q: pg.PoolClient, w: WithdrawalRow) => Promise<void>): Promise<boolean>;
  /** Asks the signer for the withdrawal's own transaction (request id = withdrawal id, its intent and approvals). */
  signWithdrawal(transaction: Record<string, string>): Promise<{ txHex?: string; txid?: string; signedTx?: string; txHash?: string }>;
  /**
   * Stores the signed transaction (before it is ever broadcast) and moves the withdrawal on, in one
   * transaction together with `alsoRecord` (e.g. the nonce it used); false when the withdrawal moved
   * on meanwhile and nothing was stored.
   */
  store(signed: SignedPayout, alsoRecord?: (q: pg.PoolClient) => Promise<void>): Promise<boolean>;
  /** Why the withdrawal waits; it is looked at again after `seconds`. */
  wait(code: string, detail: string, seconds: number): Promise<void>;
}

export interface Payout {
  readonly chain: ChainName;
  /** The asset the network fee is paid in. */
  feeAsset(asset: Asset): 'BTC' | 'ETH';
  /** Whether the client pays the network fee (BTC, ETH) or the house does (ERC-20 gas from the gas station). */
  clientPaysFee(asset: Asset): boolean;
  /** Network reads and key creation the build needs; no database transaction is open. */
  gather(w: WithdrawalRow, asset: Asset): Promise<unknown>;
  /** Fixes the transaction and the intent in the caller's transaction (coins reserved). */
  prepare(q: pg.PoolClient, w: WithdrawalRow, asset: Asset, base: IntentBase, gathered: unknown): Promise<BuildPlan>;
  /** Signs the withdrawal's transaction and stores it through io.store, or tells it to wait through io.wait. */
  sign(w: WithdrawalRow, asset: Asset, io: SignIo): Promise<void>;
  /** Sends the newest signed transaction unless the chain has it already. */
  broadcast(w: WithdrawalRow): Promise<void>;
  /** Whether the chain (mempool or a block) knows the transaction. */
  isKnown(txid: string): Promise<boolean>;
  /** Which of the withdrawal's transactions is mined, with its confirmations and the fee it really paid. */
  findMined(txs: SignedTx[]): Promise<MinedPayout | undefined>;
  /** The newest transaction again, the same bytes, if the node lost it. */
  rebroadcastIfLost(latest: SignedTx): Promise<void>;
  /** The same payment at a higher fee over the same coins or nonce, or why there is none. */
  replacement(q: Queryable, w: WithdrawalRow, asset: Asset, latest: SignedTx): Promise<ReplacementPlan>;
  /** The parsed signed replacement: raw bytes and id. */
  signedRaw(signed: { txHex?: string; txid?: string; signedTx?: string; txHash?: string }): { raw: string; txid: string };
  /** Network reads completion needs (e.g. the gas top-up's receipt); no transaction open. */
  completionFacts(w: WithdrawalRow, asset: Asset): Promise<unknown>;
  /** Chain bookkeeping at completion, in the pipeline's transaction: coins spent and change, or house gas. */
  settle(q: Queryable, w: WithdrawalRow, asset: Asset, mined: MinedPayout, facts: unknown): Promise<void>;
  /** The withdrawal ended before anything was sent: whatever it reserved (coins) is free again. */
  release(q: Queryable, w: WithdrawalRow): Promise<void>;
  /** A mined transaction that reverted (ERC-20): what the chain took anyway is booked. */
  settleReverted(q: Queryable, w: WithdrawalRow, asset: Asset, mined: MinedPayout, facts: unknown): Promise<void>;
}
