// The withdrawal pipeline: a persisted state machine that knows no chain. A worker claims one due
// withdrawal with a session lock (it dies with the worker, so a crash frees it at once), then each
// step reads what it needs from the network with no database transaction open, and records its
// result in a short transaction that locks the row and checks the withdrawal is still where the
// step found it (approvals, rejections and cancellations run meanwhile): claim, commit, call,
// record. The chain-specific work sits behind the Payout port (payout/). The signed transaction is
// stored before it is broadcast, the chain is asked before anything is broadcast again, and a
// withdrawal's transactions all spend the same coins or nonce, so at most one of them confirms.
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { DomainError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { WalletService } from '../wallets/wallet-service.ts';
import type { SignerClient } from '../signer-client/signer-client.ts';
import { SignerRefusal } from '../signer-client/signer-client.ts';
import type { ChainRuntime } from '../deposits/chain-runtime.ts';
import { isChainError } from '../chains/errors.ts';
import { intentHash } from '../../signer/src/intent.ts';
import { CanonicalJsonError } from '../../signer/src/canonical-json.js';
import { appendEvent } from '../events/event-feed.ts';
import { holdOwnerOf, isTierMove, transition, WithdrawalStore, type SignedTx, type WithdrawalRow } from './withdrawal-store.ts';
import type { Compliance } from './compliance.ts';
import type { ApproverRegistry } from './approvers.ts';
import type { CaseService } from '../cases/index.ts';
import type { DestinationScreening } from '../screening/index.ts';
import { ComplianceSteps, screeningProblem } from './compliance-steps.ts';
import { WithdrawalOutcomes } from './withdrawal-outcomes.ts';
import type { IntentBase, Payout, SignIo } from './payout/payout.ts';
import { BitcoinPayout } from './payout/bitcoin-payout.ts';
import { CoinStore } from '../wallets/coin-store.ts';
import { EthereumPayout } from './payout/ethereum-payout.ts';

export { normalizeTxid } from './withdrawal-store.ts';

export interface PipelineSettings {
  confirmations: { bitcoin: number; ethereum: number };
  btcFeeRateFallbackSatPerVbyte: bigint;
  btcFeeRateCapSatPerVbyte: bigint;
  ethPriorityFeeWei: bigint;
  ethMaxFeePerGasCapWei: bigint;
  erc20GasLimit: bigint;
  /** Failed attempts in a row (a component down) after which the alarm is raised; the withdrawal keeps waiting. */
  maxAttempts: number;
  retryDelayMs: number;
  /** Travel Rule to VASPs: the exchange with the beneficiary VASP is not built yet (hold = wait). */
  vaspTravelRule: 'hold' | 'development-auto-ack';
  /** A withdrawal's transaction still unconfirmed this long after it was signed is replaced with a higher fee. */
  replaceAfterSeconds: { bitcoin: number; ethereum: number };
  /** Most replacements one withdrawal may get; beyond that treasury is told (withdrawal.stuck). */
  maxReplacements: number;
}

/** The longest wait between two attempts of a paused withdrawal, as a multiple of retryDelayMs. */
const MAX_BACKOFF_FACTOR = 64;
/** Due withdrawals a worker looks at per claim (it takes the first it can lock). */
const CLAIM_CANDIDATES = 20;
/** Signer answers that say "not now", not "never". */
const TRANSIENT_SIGNER_CODES = new Set(['REQUEST_IN_FLIGHT', 'SIGNER_BUSY', 'HSM_UNAVAILABLE']);
const INTENT_TTL_MS = 24 * 3600_000;
/** A withdrawal is signed only while its hold has at least this long to live: time to confirm, replacements included. */
const HOLD_MARGIN_MS = 24 * 3600_000;

/** A cause that can never go away by waiting: the withdrawal ends. Everything else pauses it. */
export function isPermanent(error: unknown): boolean {
  // What cannot be written as canonical JSON can never be hashed or signed: waiting changes nothing.
  if (error instanceof CanonicalJsonError) return true;
  if (error instanceof SignerRefusal) return !TRANSIENT_SIGNER_CODES.has(error.code);
  if (error instanceof DomainError) return !(['SIGNER_UNAVAILABLE', 'CHAIN_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'GAS_STATION_EMPTY', 'PRICE_STALE'].includes(error.code) || error.data.transient === true);
  if (isChainError(error)) return ['ADDRESS_INVALID', 'ADDRESS_WRONG_NETWORK', 'ADDRESS_UNSUPPORTED', 'AMOUNT_INVALID'].includes(error.code);
  return false;
}

/** The withdrawal moved on (approved, rejected, cancelled, or another step) while this step was out: nothing to record. */
class StaleStep extends Error {}

const lockKey = (withdrawalId: string) => `withdrawal/${withdrawalId}`;

export interface PipelineDeps {
  pool: pg.Pool; assets: AssetRegistry; ledger: LedgerService; wallets: WalletService; signer: SignerClient;
  chains: ChainRuntime; compliance: Compliance; approvers: ApproverRegistry; cases: CaseService; screening: DestinationScreening;
  settings: PipelineSettings; log: Logger;
  /** The withdrawal store, the coin store and the chain adapters; built from the rest when not given. */
  store?: WithdrawalStore;
  coins?: CoinStore;
  payouts?: Record<'bitcoin' | 'ethereum', Payout>;
}

/** The Payout adapters for the chains the service runs, sharing the store. */
export function createPayouts(deps: PipelineDeps, store: WithdrawalStore): Record<'bitcoin' | 'ethereum', Payout> {
  const { settings } = deps;
  return {
    bitcoin: new BitcoinPayout({ rpc: deps.chains.bitcoin.rpc, network: deps.chains.bitcoin.network, wallets: deps.wallets, coins: deps.coins ?? new CoinStore(), db: deps.pool,
      settings: { btcFeeRateFallbackSatPerVbyte: settings.btcFeeRateFallbackSatPerVbyte, btcFeeRateCapSatPerVbyte: settings.btcFeeRateCapSatPerVbyte } }),
    ethereum: new EthereumPayout({ rpc: deps.chains.ethereum.rpc, chainId: deps.chains.ethereum.chainId, wallets: deps.wallets, ledger: deps.ledger,
      signer: deps.signer, store, db: deps.pool, log: deps.log,
      settings: { ethPriorityFeeWei: settings.ethPriorityFeeWei, ethMaxFeePerGasCapWei: settings.ethMaxFeePerGasCapWei, erc20GasLimit: settings.erc20GasLimit, intentTtlMs: INTENT_TTL_MS } }),
  };
}

/** One step's hold on its withdrawal: the session with its lock, and the row as it was when claimed. */
interface Claim { session: pg.PoolClient; w: WithdrawalRow }

export class WithdrawalPipeline {
  private readonly store: WithdrawalStore;
  private readonly payouts: Record<'bitcoin' | 'ethereum', Payout>;
  private readonly outcomes: WithdrawalOutcomes;
  private readonly compliance: ComplianceSteps;

  constructor(private readonly deps: PipelineDeps) {
    this.store = deps.store ?? new WithdrawalStore();
    this.payouts = deps.payouts ?? createPayouts(deps, this.store);
    this.outcomes = new WithdrawalOutcomes({ ledger: deps.ledger, assets: deps.assets, store: this.store, payouts: this.payouts, log: deps.log });
    this.compliance = new ComplianceSteps({ assets: deps.assets, ledger: deps.ledger, cases: deps.cases, compliance: deps.compliance, approvers: deps.approvers,
      store: this.store, payouts: this.payouts, outcomes: this.outcomes, vaspTravelRule: deps.settings.vaspTravelRule, log: deps.log });
  }

  /** Works runnable withdrawals until none is left or `max` steps were taken; returns the steps taken. */
  async drain(max = 1000): Promise<number> {
    let steps = 0;
    while (steps < max && (await this.step())) steps++;
    return steps;
  }

  /** One step of one runnable withdrawal. Returns false when nothing was runnable. */
  async step(): Promise<boolean> {
    const session = await this.deps.pool.connect();
    let broken: Error | undefined;
    try {
      const w = await this.claim(session);
      if (!w) return false;
      try {
        await this.run({ session, w });
      } catch (error) {
        if (!(error instanceof StaleStep)) await this.onError(w, error);
      } finally {
        await session.query('select pg_advisory_unlock(hashtextextended($1, 7265))', [lockKey(w.id)]).catch((error: unknown) => {
          broken = error instanceof Error ? error : new Error(String(error));
        });
      }
      return true;
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      // A session that failed may still hold a lock: it is closed, which lets every lock go.
      session.release(broken);
    }
  }

  /** The first due withdrawal no other worker holds, locked for this session and read again under the lock. */
  private async claim(session: pg.PoolClient): Promise<WithdrawalRow | undefined> {
    for (const { id } of await this.store.due(session, CLAIM_CANDIDATES)) {
      const { rows } = await session.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 7265)) as ok', [lockKey(id)]);
      if (!rows[0]!.ok) continue;
      const w = await this.store.getIfDue(session, id);
      if (w) return w;
      await session.query('select pg_advisory_unlock(hashtextextended($1, 7265))', [lockKey(id)]);
    }
    return undefined;
  }

  /**
   * Records a step's result: a transaction that locks the withdrawal and checks it is still in the
   * state the step found it in. Throws StaleStep (nothing recorded) when it moved on meanwhile.
   */
  private async record<T>(c: Claim, work: (q: pg.PoolClient, w: WithdrawalRow) => Promise<T>): Promise<T> {
    const q = await this.deps.pool.connect();
    try {
      await q.query('begin');
      const current = await this.store.lock(q, c.w.id);
      if (!current || current.state !== c.w.state) throw new StaleStep(`withdrawal ${c.w.id} moved on from ${c.w.state}`);
      const result = await work(q, current);
      await q.query('commit');
      return result;
    } catch (error) {
      await q.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      q.release();
    }
  }

  /**
   * An outage is not a failure: a signer, chain node or database that is down (or any error we
   * cannot name) pauses the withdrawal, retried with a capped backoff, and raises an alarm once it
   * has waited maxAttempts steps (withdrawal.delayed, an error log). Only a permanent cause (a
   * signer refusal, a domain error that is not transient) ends a withdrawal that has sent nothing.
   */
  private async onError(w: WithdrawalRow, error: unknown): Promise<void> {
    const permanent = isPermanent(error);
    const code = error instanceof DomainError || isChainError(error) || error instanceof SignerRefusal ? error.code : 'INTERNAL';
    const detail = error instanceof Error ? error.message : String(error);
    this.deps.log.warn({ withdrawalId: w.id, state: w.state, code, detail }, 'withdrawal step failed');
    const beforeBroadcast = ['requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing'].includes(w.state);
    if (beforeBroadcast && permanent) {
      // Nothing left our hands yet: fail and release the client's funds.
      await this.withLocked(w.id, async (q, current) => {
        if (current.state === w.state && !current.signed_tx) await this.outcomes.finishUnsent(q, current, 'failed', code, detail);
      });
      return;
    }
    const attempts = w.attempts + 1;
    const alarm = attempts === this.deps.settings.maxAttempts;
    // The attempt and (once per outage) its alarm are recorded together: a crash or a database blip
    // between the two would otherwise lose the alarm for good.
    await this.withLocked(w.id, async (q) => {
      await this.store.attemptFailed(q, w.id, code, detail,
        (this.deps.settings.retryDelayMs / 1000) * Math.min(2 ** Math.min(w.attempts, 16), MAX_BACKOFF_FACTOR));
      if (alarm) await appendEvent(q, 'withdrawal.delayed', w.client_id, w.id, { withdrawalId: w.id, state: w.state, code });
    });
    // The withdrawal keeps waiting (funds held) until the component is back.
    if (alarm) this.deps.log.error({ withdrawalId: w.id, state: w.state, code, detail, attempts }, 'ALARM: withdrawal paused by an outage');
  }

  /** Runs `work` on the withdrawal under its row lock, in a transaction of its own. */
  private async withLocked(id: string, work: (q: pg.PoolClient, w: WithdrawalRow) => Promise<void>): Promise<void> {
    const q = await this.deps.pool.connect();
    try {
      await q.query('begin');
      const w = await this.store.lock(q, id);
      if (w) await work(q, w);
      await q.query('commit');
    } catch (e) {
      await q.query('rollback').catch(() => undefined);
      throw e;
    } finally {
      q.release();
    }
  }

  private async run(c: Claim): Promise<void> {
    const { w } = c;
    // WDR-08 / WDR-04: for a frozen client nothing is signed and nothing not yet sent goes out; the
    // withdrawal waits where it is (its hold stays) until the case is resolved or it is cancelled.
    if ((w.state === 'signing' || (w.state === 'broadcast' && !w.broadcast_at)) && (await this.deps.cases.isFrozen(this.deps.pool, w.client_id))) {
      await this.store.waitFor(this.deps.pool, w.id, 30, { code: 'CLIENT_FROZEN', detail: 'the client is frozen: waiting' });
      return;
    }
    // HOT-02/HOT-03: a tier move pays the client's own other-tier wallet: there is no third party to
    // screen, no withdrawal policy and no Travel Rule; its approvals were fixed when it was created
    // (none from hot, the treasury quorum from cold) and the signer checks owner and tier itself.
    if (isTierMove(w) && w.state === 'requested') {
      return this.record(c, (q, cur) => transition(q, cur, 'approvals', { kind: cur.kind, sourceTier: cur.source_tier, approvalsRequired: cur.approvals_required,
        compliance: 'own wallets: no screening, policy or Travel Rule' }));
    }
    if (isTierMove(w) && ['screening', 'policy', 'travel_rule'].includes(w.state)) {
      return this.record(c, (q, cur) => transition(q, cur, 'approvals', { kind: cur.kind }));
    }
    switch (w.state) {
      case 'requested': return this.record(c, (q, cur) => transition(q, cur, 'screening'));
      case 'screening': return this.screeningStep(c);
      case 'policy': return this.record(c, (q, cur) => this.compliance.policy(q, cur));
      case 'travel_rule': return this.record(c, (q, cur) => this.compliance.travelRule(q, cur));
      case 'approvals': return this.approvalsStep(c);
      case 'signing': return this.signingStep(c);
      case 'broadcast': return this.broadcastStep(c);
      case 'confirming': return this.confirmingStep(c);
      default: return undefined;
    }
  }

  private asset(w: WithdrawalRow): Asset {
    return this.deps.assets.get(w.asset);
  }

  private payout(w: WithdrawalRow): Payout {
    return this.payouts[w.chain];
  }

  /**
   * WDR-04, before the policy (a policy denial releases the hold, which a sanctions hit must never
   * do): the destination is classified, scored and matched against sanctions and privacy-device
   * lists (a provider call, with no transaction open); the record and its hash are stored (the hash
   * goes into the intent). A sanctions hit freezes the funds and the client and opens a case;
   * privacy-device exposure is refused with PRIVACY_DEVICE and a case; a high risk score opens a
   * case and makes treasury approvals mandatory (policyStep). The destination type the Travel Rule
   * goes by is the stricter of the request and the VASP directory.
   */
  private async screeningStep(c: Claim): Promise<void> {
    const screened = await this.deps.screening.screen(c.w.chain, c.w.destination, c.w.destination_type);
    await this.record(c, (q, w) => this.compliance.screening(q, w, screened));
  }

  /** Builds the transaction and fixes the intent the approvers and the signer see; then waits for the approvals it needs. */
  private async approvalsStep(c: Claim): Promise<void> {
    const asset = this.asset(c.w);
    // Network reads (fee rates) and new keys (a change address) before the transaction that reserves the coins.
    const gathered = c.w.intent_hash || (!isTierMove(c.w) && screeningProblem(c.w, false)) ? undefined : await this.payout(c.w).gather(c.w, asset);
    await this.record(c, async (q, current) => {
      let w = current;
      if (!w.intent_hash) {
        // Fail closed: nothing unscreened gets an intent (a withdrawal from before screening existed included).
        const unscreened = isTierMove(w) ? undefined : screeningProblem(w, false);
        if (unscreened) return this.outcomes.finishUnsent(q, w, 'rejected', unscreened.code, unscreened.detail);
        if (gathered === undefined) throw new StaleStep('the intent was fixed meanwhile');
        const base: IntentBase = {
          intentId: w.id, asset: asset.code, clientId: w.client_id, initiator: w.initiator, purpose: isTierMove(w) ? w.kind : 'withdrawal',
          expiresAt: new Date(Date.now() + INTENT_TTL_MS).toISOString(),
          // WDR-04 / KEY-08: the approvals and the signature cover the screening the approvers were shown.
          ...(w.screening_hash ? { screeningHash: w.screening_hash } : {}),
        };
        const { intent, build } = await this.payout(w).prepare(q, w, asset, base, gathered);
        const hash = intentHash(intent);
        await this.store.set(q, w.id, { intent: intent as unknown as Record<string, unknown>, intent_hash: hash, build });
        w = { ...w, intent: intent as unknown as Record<string, unknown>, intent_hash: hash, build };
        if (w.approvals_required > 0) {
          await appendEvent(q, 'withdrawal.approvals_needed', w.client_id, w.id, { withdrawalId: w.id, intentHash: hash, required: w.approvals_required });
        }
      }
      if (w.approvals_required > 0) {
        const given = await this.store.approvalCount(q, w);
        if (given < w.approvals_required) {
          // Approvals expire with the intent they cover: past it the signer would refuse, so the
          // withdrawal ends here and the client's funds and coins are freed (a new request starts over).
          const expiresAt = Date.parse((w.intent as { expiresAt: string }).expiresAt);
          if (expiresAt <= Date.now()) {
            return this.outcomes.finishUnsent(q, w, 'failed', 'APPROVALS_EXPIRED',
              `${given} of ${w.approvals_required} approvals before the intent expired at ${new Date(expiresAt).toISOString()}`);
          }
          // Waiting for treasury: approve() wakes it up; meanwhile look again now and then.
          await this.store.waitFor(q, w.id, 30);
          return;
        }
      }
      await transition(q, w, 'signing', { intentHash: w.intent_hash });
    });
  }

  private async signingStep(c: Claim): Promise<void> {
    // A tier move has nothing to screen: the destination is the client's own wallet, which the signer checks (HOT-03).
    if (isTierMove(c.w)) return this.signUnderHold(c);
    const screening = screeningProblem(c.w, true);
    if (screening) return this.record(c, (q, w) => this.outcomes.finishUnsent(q, w, 'rejected', screening.code, screening.detail));
    // Screened again at the last moment: a designation published while the withdrawal waited for
    // approvals or Travel Rule data still stops it, frozen, exactly as at the screening step.
    const latest = await this.deps.screening.screen(c.w.chain, c.w.destination, c.w.destination_type);
    if (latest.record.outcome === 'sanctioned' || latest.record.outcome === 'privacy_device') {
      this.deps.log.warn({ withdrawalId: c.w.id, outcome: latest.record.outcome }, 'destination blocked by screening just before signing');
      return this.record(c, (q, w) => this.compliance.screening(q, w, latest));
    }
    return this.signUnderHold(c);
  }

  private async signUnderHold(c: Claim): Promise<void> {
    // WDR-03: coins leave only against a live hold, one that outlives the time to confirm; a hold
    // that has expired (or is about to) has given the client's funds back, so nothing is signed.
    // From here the coins may leave at any moment: the hold is committed and no longer expires
    // until this withdrawal posts it (completed) or voids it (nothing was sent).
    const live = await this.record(c, async (q, w) => {
      // An ERC-20 tier move has no hold: the client pays no fee (the house gas station does) and its entitlement does not change.
      if (isTierMove(w) && !w.hold_id) return true;
      const hold = w.hold_id ? await this.deps.ledger.getHold(q, w.hold_id) : undefined;
      if (!hold || hold.state !== 'pending' || (!hold.committedAt && hold.expiresAt.getTime() < Date.now() + HOLD_MARGIN_MS)) {
        await this.outcomes.finishUnsent(q, w, 'failed', 'HOLD_EXPIRED',
          `the withdrawal's hold is ${hold?.state ?? 'missing'}${hold ? `, expiring ${hold.expiresAt.toISOString()}` : ''}: nothing is signed without a live hold`);
        return false;
      }
      await this.deps.ledger.commitHold(q, hold.id, holdOwnerOf(w), 'pipeline');
      return true;
    });
    if (!live) return;
    const approvals = await this.store.approvals(this.deps.pool, c.w);
    try {
      await this.payout(c.w).sign(c.w, this.asset(c.w), this.signIo(c, approvals));
    } catch (error) {
      if (!(error instanceof SignerRefusal)) throw error;
      // Another signing holds that nonce until it is stored: tried again, not a refusal of this withdrawal.
      if (c.w.chain === 'ethereum' && error.code === 'REPLAY_CONFLICT') {
        throw new DomainError('SIGNER_UNAVAILABLE', `${error.message}; trying again once the other signing is stored`, { transient: true, signerCode: error.code });
      }
      if (TRANSIENT_SIGNER_CODES.has(error.code)) throw error;
      // A refusal by the signer's own checks ends the withdrawal with nothing signed and the client's funds released.
      await this.record(c, (q, w) => this.outcomes.finishUnsent(q, w, 'rejected', `SIGNER_${error.code}`, error.message));
    }
  }

  private signIo(c: Claim, approvals: Record<string, string>[]): SignIo {
    return {
      session: c.session,
      record: async (work) => {
        try {
          await this.record(c, work);
          return true;
        } catch (error) {
          if (error instanceof StaleStep) return false;
          throw error;
        }
      },
      signWithdrawal: (transaction) => this.deps.signer.sign({ requestId: c.w.id, intent: c.w.intent, transaction, approvals }),
      // Stored before it is broadcast: after a crash this exact transaction is the only one we send.
      store: async (signed, alsoRecord) => {
        await this.record(c, async (q, w) => {
          if (alsoRecord) await alsoRecord(q);
          await this.store.addSignedTransaction(q, w, { txid: signed.txid, raw: signed.raw, fee: signed.fee });
          await transition(q, w, 'broadcast', { txid: signed.txid });
        });
        return true;
      },
      wait: (code, detail, seconds) => this.store.waitFor(this.deps.pool, c.w.id, seconds, { code, detail }),
    };
  }

  private async broadcastStep(c: Claim): Promise<void> {
    const { w } = c;
    const payout = this.payout(w);
    const txs = await this.store.signedTransactions(this.deps.pool, w.id);
    try {
      await payout.broadcast(w);
    } catch (error) {
      // A replacement the network refused (the original was mined meanwhile, or a node that does
      // not replace): the earlier transaction stands, and confirming watches all of them.
      if (txs.length < 2 || !(await this.anyEarlierKnown(payout, txs))) throw error;
      this.deps.log.warn({ withdrawalId: w.id, txid: w.txid, err: error }, 'replacement not accepted; the earlier transaction stands');
      await this.record(c, (q, cur) => transition(q, cur, 'confirming', { txid: cur.txid, replacementRefused: error instanceof Error ? error.message.slice(0, 300) : String(error) }));
      return;
    }
    await this.record(c, async (q, cur) => {
      await this.store.markBroadcast(q, cur.id);
      await transition(q, cur, 'confirming', { txid: cur.txid });
      await appendEvent(q, 'withdrawal.broadcast', cur.client_id, cur.id, { withdrawalId: cur.id, txid: cur.txid, ...(txs.length > 1 ? { replaces: txs[txs.length - 2]!.txid } : {}) });
    });
  }

  /** Whether the chain (mempool or a block) has any but the newest of these transactions. */
  private async anyEarlierKnown(payout: Payout, txs: SignedTx[]): Promise<boolean> {
    for (const tx of txs.slice(0, -1)) if (await payout.isKnown(tx.txid)) return true;
    return false;
  }

  private async confirmingStep(c: Claim): Promise<void> {
    const asset = this.asset(c.w);
    const payout = this.payout(c.w);
    const need = this.deps.settings.confirmations[asset.chain];
    const txs = await this.store.signedTransactions(this.deps.pool, c.w.id);
    const mined = await payout.findMined(txs);
    if (mined) {
      const done = mined.confirmations >= need;
      const facts = done ? await payout.completionFacts(c.w, asset) : undefined;
      await this.record(c, async (q, current) => {
        let w = current;
        if (mined.tx.txid !== w.txid) {
          // An earlier transaction of this withdrawal was mined, not its replacement: that is the one.
          await this.store.set(q, w.id, { txid: mined.tx.txid, signed_tx: mined.tx.raw });
          await this.store.note(q, w, { mined: mined.tx.txid, insteadOf: w.txid });
          w = { ...w, txid: mined.tx.txid, signed_tx: mined.tx.raw };
        }
        await this.store.set(q, w.id, { confirmations: mined.confirmations });
        if (!done) return this.store.waitFor(q, w.id, 1);
        if (mined.reverted) return this.outcomes.finishFailedOnChain(q, w, asset, mined, facts);
        return this.outcomes.complete(q, w, asset, mined, facts);
      });
      return;
    }
    await this.record(c, (q, w) => this.store.set(q, w.id, { confirmations: 0 }));
    const latest = txs[txs.length - 1]!;
    const ageSeconds = (Date.now() - latest.created_at.getTime()) / 1000;
    if (ageSeconds >= this.deps.settings.replaceAfterSeconds[asset.chain] && (await this.replace(c, asset, txs))) return;
    // Not mined: make sure the newest transaction is out (a node may have dropped it). The same bytes, never new ones.
    await payout.rebroadcastIfLost(latest);
    await this.store.waitFor(this.deps.pool, c.w.id, 1);
  }

  /**
   * Replaces a stuck transaction: the same payment with a higher fee, spending the same coins
   * (Bitcoin, BIP-125) or the same nonce (Ethereum), so at most one of them can ever confirm. The
   * intent is unchanged, so the signer accepts it under the approvals already given. The new
   * transaction is stored before it is broadcast (state broadcast). Returns false, and tells
   * treasury once (withdrawal.stuck), when no replacement is possible within the fee caps.
   */
  private async replace(c: Claim, asset: Asset, txs: SignedTx[]): Promise<boolean> {
    const { w } = c;
    const latest = txs[txs.length - 1]!;
    const stuck = async (reason: string): Promise<false> => {
      await this.record(c, async (q, cur) => {
        const build = cur.build as Record<string, unknown>;
        if (build.stuckReportedFor === latest.txid) return;
        this.deps.log.warn({ withdrawalId: cur.id, txid: latest.txid, reason }, 'withdrawal stuck: no replacement possible');
        await this.store.mergeBuild(q, cur.id, { stuckReportedFor: latest.txid });
        await appendEvent(q, 'withdrawal.stuck', cur.client_id, cur.id, { withdrawalId: cur.id, txid: latest.txid, reason });
      });
      return false;
    };
    if (txs.length - 1 >= this.deps.settings.maxReplacements) return stuck(`already replaced ${txs.length - 1} times`);
    const payout = this.payout(w);
    const plan = await payout.replacement(this.deps.pool, w, asset, latest);
    if (typeof plan === 'string') return stuck(plan);
    // A request id of its own per replacement: if we crash after the signer signed but before this
    // is stored, the next attempt may build a different one, and the signer's rule (the same coins
    // or nonce for the same intent) still means at most one of them can confirm.
    const digest = createHash('sha256').update(Object.values(plan.transaction).join()).digest('hex').slice(0, 16);
    let signed;
    try {
      signed = await this.deps.signer.sign({ requestId: `${w.id}:r${txs.length}:${digest}`, intent: w.intent, transaction: plan.transaction,
        approvals: await this.store.approvals(this.deps.pool, w) });
    } catch (error) {
      if (error instanceof SignerRefusal) return stuck(`the signer refused the replacement: ${error.code} ${error.message}`);
      throw error;
    }
    const { raw, txid } = payout.signedRaw(signed as Record<string, string>);
    await this.record(c, async (q, cur) => {
      await this.store.addSignedTransaction(q, cur, { txid, raw, fee: plan.fee, replaces: latest.txid });
      await transition(q, cur, 'broadcast', { txid, replaces: latest.txid, fee: plan.fee.toString(), ...plan.detail });
      await appendEvent(q, 'withdrawal.replaced', cur.client_id, cur.id, { withdrawalId: cur.id, txid, replaces: latest.txid, ...plan.detail });
    });
    return true;
  }

}
