// The withdrawal pipeline: every step is a persisted state, worked by whichever worker holds the
// withdrawal's row lock (the lease: SELECT … FOR UPDATE SKIP LOCKED). A crash at any point resumes
// at the last committed state. The signed transaction is committed before it is broadcast, the
// chain is asked before anything is broadcast again, and a withdrawal has exactly one signed
// transaction (re-signing after a crash returns the same one from the signer's replay log).
import type pg from 'pg';
import { DomainError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import { withdrawalHoldOwner, type LedgerService, type Posting } from '../ledger/ledger-service.ts';
import type { WalletService } from '../wallets/wallet-service.ts';
import type { SignerClient } from '../signer-client/signer-client.ts';
import { SignerRefusal } from '../signer-client/signer-client.ts';
import type { ChainRuntime } from '../deposits/chain-runtime.ts';
import { createHash } from 'node:crypto';
import { Transaction as BitcoinTransaction } from 'bitcoinjs-lib';
import { buildPsbt, type Utxo } from '../chains/bitcoin/psbt.ts';
import { replacementFeeRate } from '../chains/bitcoin/fees.ts';
import { decodeAddress } from '../chains/bitcoin/address.ts';
import { buildErc20Transfer, buildEthTransfer, ETH_TRANSFER_GAS, parseEip1559, replacementFees } from '../chains/ethereum/tx.ts';
import { isChainError } from '../chains/errors.ts';
import { intentHash, type Intent } from '../../signer/src/intent.ts';
import { appendEvent } from '../events/event-feed.ts';
import { freeReservedCoins, transition, type WithdrawalRow, type WithdrawalState } from './withdrawal-service.ts';
import type { Compliance } from './compliance.ts';
import type { ApproverRegistry } from './approvers.ts';
import type { CaseService } from '../cases/index.ts';
import { COMPLIANCE_HOLD, screeningHash, type DestinationScreening, type ScreeningRecord } from '../screening/index.ts';

export interface PipelineSettings {
  confirmations: { bitcoin: number; ethereum: number };
  btcFeeRateFallbackSatPerVbyte: bigint;
  btcFeeRateCapSatPerVbyte: bigint;
  ethPriorityFeeWei: bigint;
  ethMaxFeePerGasCapWei: bigint;
  erc20GasLimit: bigint;
  /** Steps a withdrawal may fail transiently (chain or signer unreachable) before it is failed. */
  maxAttempts: number;
  retryDelayMs: number;
  /** Travel Rule to VASPs: the exchange with the beneficiary VASP is not built yet (hold = wait). */
  vaspTravelRule: 'hold' | 'development-auto-ack';
  /** A withdrawal's transaction still unconfirmed this long after it was signed is replaced with a higher fee. */
  replaceAfterSeconds: { bitcoin: number; ethereum: number };
  /** Most replacements one withdrawal may get; beyond that treasury is told (withdrawal.stuck). */
  maxReplacements: number;
}

/** One signed transaction of a withdrawal: the first, or a replacement of the one before. */
interface SignedTx { txid: string; raw: string; fee: bigint; replaces_txid: string | null; created_at: Date }

/** Transaction ids as the scanners see them: lower-case hex (Ethereum hashes with 0x). */
export function normalizeTxid(txid: string): string {
  return txid.toLowerCase();
}

/** The longest wait between two attempts of a paused withdrawal, as a multiple of retryDelayMs. */
const MAX_BACKOFF_FACTOR = 64;
/** Signer answers that say "not now", not "never". */
const TRANSIENT_SIGNER_CODES = new Set(['REQUEST_IN_FLIGHT', 'SIGNER_BUSY', 'HSM_UNAVAILABLE']);

/** A cause that can never go away by waiting: the withdrawal ends. Everything else pauses it. */
export function isPermanent(error: unknown): boolean {
  if (error instanceof SignerRefusal) return !TRANSIENT_SIGNER_CODES.has(error.code);
  if (error instanceof DomainError) return !(['SIGNER_UNAVAILABLE', 'CHAIN_UNAVAILABLE', 'GAS_STATION_EMPTY'].includes(error.code) || error.data.transient === true);
  if (isChainError(error)) return ['ADDRESS_INVALID', 'ADDRESS_WRONG_NETWORK', 'ADDRESS_UNSUPPORTED', 'AMOUNT_INVALID'].includes(error.code);
  return false;
}

/**
 * What the other withdrawals of this client and asset will still take out of its hot wallet: each
 * one sourced from hot, past the policy and not yet completed, reserves its amount and (when the
 * client pays the gas or fee in this asset) its maximum network fee.
 */
async function inFlightFromHot(q: Queryable, w: WithdrawalRow): Promise<bigint> {
  const { rows } = await q.query<{ total: bigint | null }>(
    `select sum(amount + case when chain = 'bitcoin' or asset = 'ETH' then network_fee_max else 0 end) as total
     from withdrawals where client_id = $1 and asset = $2 and id <> $3 and source_tier = 'hot'
       and state in ('travel_rule', 'approvals', 'signing', 'broadcast', 'confirming')`, [w.client_id, w.asset, w.id]);
  return rows[0]!.total ?? 0n;
}

/** Runs `work` on the withdrawal under its row lock, in a transaction of its own. */
async function withLockedWithdrawal(pool: pg.Pool, id: string, work: (q: pg.PoolClient, w: WithdrawalRow) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<WithdrawalRow>('select * from withdrawals where id = $1 for update', [id]);
    if (rows[0]) await work(client, rows[0]);
    await client.query('commit');
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

const RUNNABLE: readonly WithdrawalState[] = ['requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming'];
const INTENT_TTL_MS = 24 * 3600_000;
/** A withdrawal is signed only while its hold has at least this long to live: time to confirm, replacements included. */
const HOLD_MARGIN_MS = 24 * 3600_000;

export class WithdrawalPipeline {
  constructor(private readonly deps: {
    pool: pg.Pool; assets: AssetRegistry; ledger: LedgerService; wallets: WalletService; signer: SignerClient;
    chains: ChainRuntime; compliance: Compliance; approvers: ApproverRegistry; cases: CaseService; screening: DestinationScreening;
    settings: PipelineSettings; log: Logger;
  }) {}

  /** Works runnable withdrawals until none is left or `max` steps were taken; returns the steps taken. */
  async drain(max = 1000): Promise<number> {
    let steps = 0;
    while (steps < max && (await this.step())) steps++;
    return steps;
  }

  /** One step of one runnable withdrawal. Returns false when nothing was runnable. */
  async step(): Promise<boolean> {
    const client = await this.deps.pool.connect();
    let w: WithdrawalRow | undefined;
    try {
      await client.query('begin');
      const { rows } = await client.query<WithdrawalRow>(
        `select * from withdrawals where state = any($1) and next_run_at <= now()
         order by next_run_at limit 1 for update skip locked`, [RUNNABLE]);
      w = rows[0];
      if (!w) { await client.query('rollback'); return false; }
      await this.run(client, w);
      await client.query('commit');
      return true;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      if (!w) throw error;
      await this.onError(w, error);
      return true;
    } finally {
      client.release();
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
      await withLockedWithdrawal(this.deps.pool, w.id, async (client, current) => {
        if (current.state === w.state && !current.signed_tx) await this.finishUnsent(client, current, 'failed', code, detail);
      });
      return;
    }
    const attempts = w.attempts + 1;
    await this.deps.pool.query(
      `update withdrawals set attempts = attempts + 1, failure_code = $2, failure_detail = $3,
         next_run_at = now() + make_interval(secs => $4) where id = $1`,
      [w.id, code, detail.slice(0, 2000), (this.deps.settings.retryDelayMs / 1000) * Math.min(2 ** Math.min(w.attempts, 16), MAX_BACKOFF_FACTOR)]);
    if (attempts === this.deps.settings.maxAttempts) {
      // The alarm, once per outage: the withdrawal keeps waiting (funds held) until the component is back.
      this.deps.log.error({ withdrawalId: w.id, state: w.state, code, detail, attempts }, 'ALARM: withdrawal paused by an outage');
      await appendEvent(this.deps.pool, 'withdrawal.delayed', w.client_id, w.id, { withdrawalId: w.id, state: w.state, code }).catch(() => undefined);
    }
  }

  private async run(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    // WDR-08 / WDR-04: for a frozen client nothing is signed and nothing not yet sent goes out; the
    // withdrawal waits where it is (its hold stays) until the case is resolved or it is cancelled.
    if ((w.state === 'signing' || (w.state === 'broadcast' && !w.broadcast_at)) && (await this.deps.cases.isFrozen(q, w.client_id))) {
      await q.query(`update withdrawals set failure_code = 'CLIENT_FROZEN', failure_detail = 'the client is frozen: waiting',
                       next_run_at = now() + interval '30 seconds' where id = $1`, [w.id]);
      return;
    }
    switch (w.state) {
      case 'requested': return transition(q, w, 'screening');
      case 'screening': return this.screeningStep(q, w);
      case 'policy': return this.policyStep(q, w);
      case 'travel_rule': return this.travelRuleStep(q, w);
      case 'approvals': return this.approvalsStep(q, w);
      case 'signing': return this.signingStep(q, w);
      case 'broadcast': return this.broadcastStep(q, w);
      case 'confirming': return this.confirmingStep(q, w);
      default: return undefined;
    }
  }

  private asset(w: WithdrawalRow): Asset {
    return this.deps.assets.get(w.asset);
  }

  /** Rejected, failed or cancelled before anything was broadcast: the hold is voided, reserved coins freed. */
  private async finishUnsent(q: Queryable, w: WithdrawalRow, to: 'rejected' | 'failed', code: string, detail: string): Promise<void> {
    if (w.hold_id) {
      const hold = await this.deps.ledger.getHold(q, w.hold_id);
      if (hold?.state === 'pending') await this.deps.ledger.releaseHold(q, w.hold_id, withdrawalHoldOwner(w.id), 'pipeline');
    }
    await freeReservedCoins(q, w.id);
    await q.query('update withdrawals set failure_code = $2, failure_detail = $3 where id = $1', [w.id, code, detail.slice(0, 2000)]);
    await transition(q, w, to, { code, detail });
    await appendEvent(q, to === 'rejected' ? 'withdrawal.rejected' : 'withdrawal.failed', w.client_id, w.id, { withdrawalId: w.id, code, detail });
  }

  /**
   * WDR-04, before the policy (a policy denial releases the hold, which a sanctions hit must never
   * do): the destination is classified, scored and matched against sanctions and privacy-device
   * lists; the record and its hash are stored (the hash goes into the intent). A sanctions hit
   * freezes the funds and the client and opens a case; privacy-device exposure is refused with
   * PRIVACY_DEVICE and a case; a high risk score opens a case and makes treasury approvals
   * mandatory (policyStep). The destination type the Travel Rule goes by is the stricter of the
   * request and the VASP directory (effectiveDestinationType).
   */
  private async screeningStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const { record, hash } = await this.deps.screening.screen(w.chain, w.destination, w.destination_type);
    await q.query('update withdrawals set screening = $2, screening_hash = $3, destination_type = $4 where id = $1',
      [w.id, record, hash, record.destinationType]);
    const r = record.result;
    const details = { screeningHash: hash, screening: record };
    const actor = 'pipeline:screening';
    switch (record.outcome) {
      case 'sanctioned': {
        const hold = w.hold_id ? await this.deps.ledger.getHold(q, w.hold_id) : undefined;
        const c = await this.deps.cases.open(q, { kind: 'sanctions_hit', clientId: w.client_id, withdrawalId: w.id, actor,
          details: { ...details, holdId: w.hold_id, holdStateAtHit: hold?.state ?? 'missing' },
          summary: `sanctions match on the destination ${r.address} (${r.sanctionsList ?? 'list'}): transfer blocked, funds and client frozen` });
        await this.deps.cases.freezeClient(q, w.client_id, { reasonCode: 'COMPLIANCE', caseId: c.id, actor });
        return this.finishFrozen(q, w, c.id, `sanctions match: ${r.sanctionsList ?? 'list'} (${r.listVersion}); case ${c.id}`);
      }
      case 'privacy_device': {
        const c = await this.deps.cases.open(q, { kind: 'privacy_device', clientId: w.client_id, withdrawalId: w.id, actor, details,
          summary: `destination ${r.address} is exposed to a privacy device (${r.tags.join(', ') || 'tagged'}): transfer refused` });
        this.deps.log.info({ withdrawalId: w.id, caseId: c.id }, 'privacy-device destination refused');
        return this.finishUnsent(q, w, 'rejected', 'PRIVACY_DEVICE', 'the destination is exposed to a mixer or another privacy device; transfers to them are not supported');
      }
      case 'high_risk': {
        const c = await this.deps.cases.open(q, { kind: 'high_risk_destination', clientId: w.client_id, withdrawalId: w.id, actor, details,
          summary: `destination ${r.address} risk score ${r.riskScore} (threshold ${record.highRiskScore}): treasury approvals required` });
        return transition(q, w, 'policy', { screeningHash: hash, outcome: record.outcome, riskScore: r.riskScore, caseId: c.id, destinationType: record.destinationType });
      }
      case 'clear':
        return transition(q, w, 'policy', { screeningHash: hash, outcome: record.outcome, riskScore: r.riskScore, destinationType: record.destinationType });
    }
  }

  /**
   * A sanctions hit: rejected (SANCTIONED, which never leaves the firm), but unlike finishUnsent the
   * client's funds are not given back. The hold is frozen under the case: it stays held, the
   * expiry loop and the void route cannot release it, and only the case's decision can
   * (LedgerService.releaseFrozenHold). The exchange is told COMPLIANCE_HOLD and nothing more
   * (AML tipping-off).
   */
  private async finishFrozen(q: Queryable, w: WithdrawalRow, caseId: string, detail: string): Promise<void> {
    let hold = 'none';
    if (w.hold_id) {
      const current = await this.deps.ledger.getHold(q, w.hold_id);
      hold = current?.state ?? 'missing';
      if (current?.state === 'pending') hold = (await this.deps.ledger.freezeHold(q, w.hold_id, withdrawalHoldOwner(w.id), { caseId, withdrawalId: w.id, reason: 'sanctions_hit' }, 'pipeline:screening')).state;
      // A hold already gone (it expired while the worker was down) cannot be frozen: the frozen
      // client can still move nothing, and the case says so for compliance to act on.
      if (hold !== 'frozen') this.deps.log.error({ withdrawalId: w.id, caseId, hold }, 'sanctions hit: the withdrawal hold could not be frozen');
    }
    await freeReservedCoins(q, w.id);
    await q.query('update withdrawals set failure_code = $2, failure_detail = $3 where id = $1', [w.id, 'SANCTIONED', detail.slice(0, 2000)]);
    await transition(q, w, 'rejected', { code: 'SANCTIONED', caseId, hold });
    await appendEvent(q, 'withdrawal.rejected', w.client_id, w.id, { withdrawalId: w.id, code: COMPLIANCE_HOLD.code });
  }

  private async policyStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const asset = this.asset(w);
    // Where the coins come from: the client's hot wallet when it covers amount and fee net of what
    // is already on its way out of it, else cold (WDR-06). The hot wallet's holdings drop only when
    // a withdrawal completes, so the withdrawals in flight from it are reserved against it here,
    // one decision at a time per wallet (two could otherwise both take the same coins or wei).
    await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7262))', [`hot-wallet/${w.client_id}/${asset.chain}`]);
    const balances = await this.deps.ledger.clientBalances(q, w.client_id);
    const hotHoldings = balances.find((b) => b.asset === asset.code)!.holdings.hot;
    const inFlight = await inFlightFromHot(q, w);
    const needed = w.amount + (asset.contractAddress ? 0n : w.network_fee_max);
    const tier: 'hot' | 'cold' = hotHoldings - inFlight >= needed ? 'hot' : 'cold';
    const decision = await this.deps.compliance.evaluatePolicy(q, w, asset, tier);
    // WDR-06 cold, and WDR-04 a high-risk destination from either tier: at least the approver quorum.
    const highRisk = (w.screening as ScreeningRecord | null)?.outcome === 'high_risk';
    const approvals = tier === 'cold' || highRisk ? Math.max(decision.approvals, this.deps.approvers.quorum) : decision.approvals;
    await q.query(`update withdrawals set policy = $2, policy_hash = $3, source_tier = $4, approvals_required = $5 where id = $1`,
      [w.id, decision, decision.policyHash, tier, decision.outcome === 'deny' ? 0 : approvals]);
    if (decision.outcome === 'deny') {
      return this.finishUnsent(q, w, 'rejected', 'POLICY_DENIED', `denied by ${decision.matchedRules.join(', ')}: ${decision.reasons.join(', ')}`);
    }
    await transition(q, w, 'travel_rule', { outcome: decision.outcome, approvals, tier });
  }

  private async travelRuleStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const result = await this.deps.compliance.travelRule(q, w, this.asset(w));
    if (!result.ok) return this.finishUnsent(q, w, 'rejected', result.code, result.detail);
    let status = result.status;
    if (status === 'pending' && this.deps.settings.vaspTravelRule === 'development-auto-ack') status = 'acked';
    await q.query('update withdrawals set travel_rule_status = $2, travel_rule_tier = $3, travel_rule_payload = $4 where id = $1',
      [w.id, status, result.tier, result.payload]);
    if (status === 'pending') {
      // WDR-05: nothing is signed before the beneficiary VASP has the data; the VASP exchange picks it up from here.
      await q.query(`update withdrawals set next_run_at = now() + interval '60 seconds' where id = $1`, [w.id]);
      return;
    }
    await transition(q, w, 'approvals', { travelRule: status, tier: result.tier });
  }

  /** Builds the transaction and fixes the intent the approvers and the signer see. */
  private async prepare(q: pg.PoolClient, w: WithdrawalRow): Promise<{ intent: Intent; build: Record<string, unknown> }> {
    const asset = this.asset(w);
    const wallets = await this.deps.wallets.ensureClientWallets(q, w.client_id);
    const wallet = wallets.find((x) => x.chain === asset.chain && x.tier === w.source_tier)!;
    if (wallet.state !== 'active') throw new DomainError('WALLET_NOT_ACTIVE', `source wallet ${wallet.id} is ${wallet.state}`);
    const base = {
      intentId: w.id, asset: asset.code, clientId: w.client_id, initiator: w.initiator, purpose: 'withdrawal' as const,
      expiresAt: new Date(Date.now() + INTENT_TTL_MS).toISOString(),
      // WDR-04 / KEY-08: the approvals and the signature cover the screening the approvers were shown.
      ...(w.screening_hash ? { screeningHash: w.screening_hash } : {}),
    };
    if (asset.chain === 'bitcoin') {
      const network = this.deps.chains.bitcoin.network;
      const { rows: candidates } = await q.query<{ txid: string; vout: number; value: bigint; address: string; key_id: string }>(
        `select txid, vout, value, address, key_id from utxos where wallet_id = $1 and status = 'unspent' order by value desc, txid, vout limit 5000 for update`,
        [wallet.id]);
      const utxos: (Utxo & { keyId: string })[] = candidates.map((u) => ({
        txid: u.txid, vout: u.vout, value: u.value, script: decodeAddress(u.address, network).script, keyId: u.key_id }));
      const change = await this.deps.wallets.changeAddress(q, wallet.id);
      const { satPerVbyte } = await this.deps.chains.bitcoin.rpc.estimateFeeRate(6, this.deps.settings.btcFeeRateFallbackSatPerVbyte);
      const feeRate = satPerVbyte > this.deps.settings.btcFeeRateCapSatPerVbyte ? this.deps.settings.btcFeeRateCapSatPerVbyte : satPerVbyte;
      let built;
      try {
        built = buildPsbt({ network, utxos, outputs: [{ address: w.destination, value: w.amount }], changeAddress: change.address,
          feeRateSatPerVbyte: feeRate, feeMaxSat: w.network_fee_max });
      } catch (error) {
        if (isChainError(error, 'INSUFFICIENT_FUNDS') || isChainError(error, 'FEE_TOO_HIGH')) {
          // Coins held by other withdrawals in flight come back (as change) when those confirm: wait for them.
          const { rows: reserved } = await q.query('select 1 from utxos where wallet_id = $1 and status = $2 limit 1', [wallet.id, 'reserved']);
          if (reserved.length > 0) throw new DomainError('INSUFFICIENT_FUNDS', 'the wallet\'s other coins are reserved by withdrawals in flight; waiting for their change', { transient: true });
          throw new DomainError('INSUFFICIENT_FUNDS', `the ${w.source_tier} wallet's coins cannot pay ${w.amount} sat within a fee of ${w.network_fee_max}: ${error.message}`);
        }
        throw error;
      }
      const chosen = built.inputs.map((i) => utxos.find((u) => u.txid === i.txid && u.vout === i.vout)!);
      for (const u of chosen) {
        await q.query(`update utxos set status = 'reserved', reserved_by = $3 where txid = $1 and vout = $2`, [u.txid, u.vout, w.id]);
      }
      const keyIds = [...new Set(chosen.map((u) => u.keyId))];
      const intent: Intent = {
        ...base, chain: 'bitcoin', network, sourceKeyId: keyIds[0]!, sourceKeyIds: keyIds,
        outputs: [{ address: w.destination, amount: w.amount.toString() }],
        ...(built.changeIndex >= 0 ? { change: { address: change.address, keyId: change.keyId } } : {}),
        feeCap: w.network_fee_max.toString(),
      };
      return { intent, build: { psbt: built.psbtBase64, fee: built.fee.toString(), changeIndex: built.changeIndex, changeValue: built.change.toString(),
        changeAddress: change.address, changeKeyId: change.keyId, changeWalletId: wallet.id, inputs: chosen.map((u) => ({ txid: u.txid, vout: u.vout, value: u.value.toString() })), feeRate: feeRate.toString() } };
    }
    const eth = this.deps.chains.ethereum;
    const from = (await this.deps.wallets.addresses(q, wallet.id))[0]!;
    const gasLimit = asset.contractAddress ? this.deps.settings.erc20GasLimit : ETH_TRANSFER_GAS;
    if (!asset.contractAddress && this.ethFeeCapPerGas(w.network_fee_max, gasLimit) < (await eth.rpc.getBaseFee())) {
      throw new DomainError('INSUFFICIENT_FUNDS', `the quoted network fee of ${w.network_fee_max} wei does not cover gas at today's base fee`);
    }
    // The fee cap is the most the withdrawal may ever pay, not one transaction's maximum: a
    // same-nonce replacement with higher fees is then the same intent (same approvals) to the signer.
    const feeCap = asset.contractAddress ? this.deps.settings.erc20GasLimit * this.deps.settings.ethMaxFeePerGasCapWei : w.network_fee_max;
    const intent: Intent = {
      ...base, chain: 'ethereum', network: eth.chainId.toString(), sourceKeyId: from.keyId,
      ...(asset.contractAddress ? { tokenContract: asset.contractAddress } : {}),
      outputs: [{ address: w.destination, amount: w.amount.toString() }], feeCap: feeCap.toString(),
    };
    // No nonce yet: it is taken when the transaction is signed (signingStep), so a withdrawal that
    // ends before then (cancelled, rejected, refused) leaves no gap in the address's nonces.
    return { intent, build: { from: from.address, gasLimit: gasLimit.toString(), gasFromHouse: Boolean(asset.contractAddress) } };
  }

  /** The highest fee per gas an Ethereum transaction of this withdrawal may offer: the configured cap, within the withdrawal's fee cap. */
  private ethFeeCapPerGas(feeCapWei: bigint, gasLimit: bigint): bigint {
    const withinWithdrawal = feeCapWei / gasLimit;
    return withinWithdrawal < this.deps.settings.ethMaxFeePerGasCapWei ? withinWithdrawal : this.deps.settings.ethMaxFeePerGasCapWei;
  }

  private async approvalsStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    if (!w.intent_hash) {
      // Fail closed: nothing unscreened gets an intent (a withdrawal from before screening existed included).
      const unscreened = this.screeningProblem(w, false);
      if (unscreened) return this.finishUnsent(q, w, 'rejected', unscreened.code, unscreened.detail);
      const { intent, build } = await this.prepare(q, w);
      const hash = intentHash(intent);
      await q.query('update withdrawals set intent = $2, intent_hash = $3, build = $4 where id = $1', [w.id, intent, hash, build]);
      w = { ...w, intent: intent as unknown as Record<string, unknown>, intent_hash: hash, build };
      if (w.approvals_required > 0) {
        await appendEvent(q, 'withdrawal.approvals_needed', w.client_id, w.id, { withdrawalId: w.id, intentHash: hash, required: w.approvals_required });
      }
    }
    if (w.approvals_required > 0) {
      const { rows } = await q.query<{ n: number }>(
        `select count(distinct approver_id)::int as n from withdrawal_approvals
         where withdrawal_id = $1 and intent_hash = $2 and expires_at > now() and decision = 'approve'`, [w.id, w.intent_hash]);
      if (rows[0]!.n < w.approvals_required) {
        // Approvals expire with the intent they cover: past it the signer would refuse, so the
        // withdrawal ends here and the client's funds and coins are freed (a new request starts over).
        const expiresAt = Date.parse((w.intent as { expiresAt: string }).expiresAt);
        if (expiresAt <= Date.now()) {
          return this.finishUnsent(q, w, 'failed', 'APPROVALS_EXPIRED',
            `${rows[0]!.n} of ${w.approvals_required} approvals before the intent expired at ${new Date(expiresAt).toISOString()}`);
        }
        // Waiting for treasury: approve() wakes it up; meanwhile look again now and then.
        await q.query(`update withdrawals set next_run_at = now() + interval '30 seconds' where id = $1`, [w.id]);
        return;
      }
    }
    await transition(q, w, 'signing', { intentHash: w.intent_hash });
  }

  /**
   * The stored screening must be the one the intent carries: its record hashes to screening_hash
   * and (once there is an intent) the intent's screeningHash is that hash. A record changed after
   * the approvers saw it never reaches the signer.
   */
  private screeningProblem(w: WithdrawalRow, withIntent: boolean): { code: string; detail: string } | undefined {
    if (!w.screening || !w.screening_hash) return { code: 'SCREENING_MISSING', detail: 'the destination was never screened: nothing is signed unscreened' };
    if (screeningHash(w.screening) !== w.screening_hash) return { code: 'SCREENING_MISMATCH', detail: 'the stored screening result does not hash to the stored screening hash' };
    if (withIntent && (w.intent as { screeningHash?: string } | null)?.screeningHash !== w.screening_hash) {
      return { code: 'SCREENING_MISMATCH', detail: 'the intent does not carry the stored screening hash' };
    }
    return undefined;
  }

  private async signingStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const screening = this.screeningProblem(w, true);
    if (screening) return this.finishUnsent(q, w, 'rejected', screening.code, screening.detail);
    // Screened again at the last moment: a designation published while the withdrawal waited for
    // approvals or Travel Rule data still stops it, frozen, exactly as at the screening step.
    const latest = await this.deps.screening.screen(w.chain, w.destination, w.destination_type);
    if (latest.record.outcome === 'sanctioned' || latest.record.outcome === 'privacy_device') {
      this.deps.log.warn({ withdrawalId: w.id, outcome: latest.record.outcome }, 'destination blocked by screening just before signing');
      return this.screeningStep(q, w);
    }
    // WDR-03: coins leave only against a live hold, one that outlives the time to confirm; a hold
    // that has expired (or is about to) has given the client's funds back, so nothing is signed.
    const hold = w.hold_id ? await this.deps.ledger.getHold(q, w.hold_id) : undefined;
    if (!hold || hold.state !== 'pending' || hold.expiresAt.getTime() < Date.now() + HOLD_MARGIN_MS) {
      return this.finishUnsent(q, w, 'failed', 'HOLD_EXPIRED',
        `the withdrawal's hold is ${hold?.state ?? 'missing'}${hold ? `, expiring ${hold.expiresAt.toISOString()}` : ''}: nothing is signed without a live hold`);
    }
    // From here the coins may leave at any moment: the hold is committed and no longer expires
    // until this withdrawal posts it (completed) or voids it (nothing was sent).
    await this.deps.ledger.commitHold(q, hold.id, withdrawalHoldOwner(w.id), 'pipeline');
    if (this.asset(w).chain === 'ethereum') return this.signEthereum(q, w);
    const build = w.build as Record<string, string | number>;
    const signed = await this.signOrFinish(q, w, { psbt: build.psbt });
    if (!signed) return;
    await this.storeSigned(q, w, signed.txHex!, signed.txid!, BigInt(build.fee as string));
  }

  /**
   * The nonce manager: the address's next nonce (ours in Postgres, or the chain's if it is ahead),
   * taken under that row's lock in the same database transaction that stores the signed
   * transaction. A nonce is used up only by a transaction that was signed and stored; if we crash
   * after the signer signed but before the commit, the retry asks again under the same request id
   * and the signer's replay log returns the transaction it already signed, with that nonce.
   */
  private async signEthereum(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const asset = this.asset(w);
    const eth = this.deps.chains.ethereum;
    const build = w.build as { from: string; gasLimit: string; gasFromHouse: boolean };
    const gasLimit = BigInt(build.gasLimit);
    const capPerGas = this.ethFeeCapPerGas(BigInt((w.intent as { feeCap: string }).feeCap), gasLimit);
    const priority = this.deps.settings.ethPriorityFeeWei < capPerGas ? this.deps.settings.ethPriorityFeeWei : capPerGas;
    const wanted = (await eth.rpc.getBaseFee()) * 2n + priority;
    const fees = { maxFeePerGas: wanted < capPerGas ? wanted : capPerGas, maxPriorityFeePerGas: priority };
    // Gas for a token transfer first: the top-up is a step of its own (sign and store, then send, then wait).
    if (build.gasFromHouse && !(await this.gasReady(q, w, gasLimit * fees.maxFeePerGas, build.from))) return;
    const signed = await this.signWithNonce(q, build.from, (nonce) => (asset.contractAddress
      ? buildErc20Transfer({ chainId: eth.chainId, nonce, tokenContract: asset.contractAddress, to: w.destination, amount: w.amount, gasLimit, ...fees })
      : buildEthTransfer({ chainId: eth.chainId, nonce, to: w.destination, valueWei: w.amount, gasLimit, ...fees })).unsignedSerialized,
    (ethereumTx) => this.signOrFinish(q, w, { ethereumTx }));
    if (!signed) return;
    await q.query('update withdrawals set build = build || $2 where id = $1', [w.id, { nonce: signed.tx.nonce, maxFeeWei: signed.tx.maxFeeWei.toString() }]);
    await this.storeSigned(q, w, signed.signedTx, signed.txHash, signed.tx.maxFeeWei);
  }

  /**
   * The nonce manager, the one nonce authority for every address we send from (client wallets and
   * the gas station alike): the address's next nonce (ours in Postgres, or the chain's if it is
   * ahead), taken under that row's lock in the same database transaction that stores the signed
   * transaction. A nonce is used up only by a transaction that was signed and stored; if we crash
   * after the signer signed but before the commit, the retry asks again under the same request id
   * and the signer's replay log returns the transaction it already signed, with its own nonce,
   * which is the one recorded here.
   */
  private async signWithNonce(q: pg.PoolClient, address: string, build: (nonce: number) => string,
    sign: (ethereumTx: string) => Promise<{ signedTx?: string; txHash?: string } | undefined>): Promise<{ signedTx: string; txHash: string; tx: ReturnType<typeof parseEip1559> } | undefined> {
    await q.query('insert into eth_nonces (address, next_nonce) values ($1, 0) on conflict do nothing', [address]);
    const { rows } = await q.query<{ next_nonce: number }>('select next_nonce from eth_nonces where address = $1 for update', [address]);
    const chainNonce = await this.deps.chains.ethereum.rpc.getNonce(address, 'pending');
    const signed = await sign(build(Math.max(rows[0]!.next_nonce, chainNonce)));
    if (!signed) return undefined;
    const tx = parseEip1559(signed.signedTx!);
    await q.query('update eth_nonces set next_nonce = greatest(next_nonce, $2) where address = $1', [address, tx.nonce + 1]);
    return { signedTx: signed.signedTx!, txHash: signed.txHash!, tx };
  }

  /**
   * Asks the signer. A refusal by its own checks ends the withdrawal with nothing signed and the
   * client's funds released (returns undefined), except a replay conflict on Ethereum: another
   * signing holds that nonce until it is stored, so it is tried again (transient, bounded by maxAttempts).
   */
  private async signOrFinish(q: pg.PoolClient, w: WithdrawalRow, transaction: Record<string, unknown>): Promise<{ txHex?: string; txid?: string; signedTx?: string; txHash?: string } | undefined> {
    try {
      return await this.deps.signer.sign({ requestId: w.id, intent: w.intent, transaction, approvals: await this.approvalsFor(q, w) });
    } catch (error) {
      if (!(error instanceof SignerRefusal)) throw error;
      if (w.chain === 'ethereum' && error.code === 'REPLAY_CONFLICT') {
        throw new DomainError('SIGNER_UNAVAILABLE', `${error.message}; trying again once the other signing is stored`, { transient: true, signerCode: error.code });
      }
      await this.finishUnsent(q, w, 'rejected', `SIGNER_${error.code}`, error.message);
      return undefined;
    }
  }

  /** Stored before it is broadcast: after a crash this exact transaction is the only one we send. */
  private async storeSigned(q: Queryable, w: WithdrawalRow, raw: string, txid: string, fee: bigint): Promise<void> {
    await q.query('insert into withdrawal_transactions (withdrawal_id, txid, raw, fee) values ($1, $2, $3, $4) on conflict do nothing', [w.id, txid, raw, fee.toString()]);
    await q.query(`insert into own_transactions (chain, txid, purpose, withdrawal_id) values ($1, $2, 'withdrawal', $3) on conflict do nothing`, [w.chain, normalizeTxid(txid), w.id]);
    await q.query('update withdrawals set signed_tx = $2, txid = $3 where id = $1', [w.id, raw, txid]);
    await transition(q, w, 'broadcast', { txid });
  }

  /** The treasury approvals the signer verifies for a cold withdrawal (none for hot). */
  private async approvalsFor(q: Queryable, w: WithdrawalRow): Promise<Record<string, string>[]> {
    if (w.source_tier !== 'cold') return [];
    const { rows } = await q.query<{ approver_id: string; algorithm: string; intent_hash: string; signature: string; signed_at: Date; expires_at: Date }>(
      `select * from withdrawal_approvals where withdrawal_id = $1 and intent_hash = $2 and decision = 'approve'`, [w.id, w.intent_hash]);
    return rows.map((a) => ({ approverId: a.approver_id, algorithm: a.algorithm, intentHash: a.intent_hash,
      signature: a.signature, signedAt: a.signed_at.toISOString(), expiresAt: a.expires_at.toISOString() }));
  }

  /**
   * ERC-20 gas from the house gas station (booked as house money), once per withdrawal. Each call
   * is one step that ends with the ordinary commit, never a commit in the middle: (1) fix the
   * top-up's intent (stored, so a retry asks the signer for the very same thing), (2) sign it
   * under the station's nonce lock and store it, (3) send the stored bytes, (4) wait until it is
   * mined. Returns true once the client address holds the gas.
   */
  private async gasReady(q: pg.PoolClient, w: WithdrawalRow, needWei: bigint, clientAddress: string): Promise<boolean> {
    const eth = this.deps.chains.ethereum;
    const build = w.build as Record<string, unknown>;
    const wait = async (code: string, detail: string, seconds = 1): Promise<false> => {
      await q.query(`update withdrawals set failure_code = $2, failure_detail = $3, next_run_at = now() + make_interval(secs => $4) where id = $1`,
        [w.id, code, detail, seconds]);
      return false;
    };
    if (build.gasTopUpRaw) {
      // Sent (or about to be): wait for it, and send the same bytes again if the node lost it.
      const receipt = await eth.rpc.getReceipt(build.gasTopUpTxid as string);
      if (receipt) return true;
      if (!(await eth.rpc.getTransaction(build.gasTopUpTxid as string))) {
        await eth.rpc.broadcast(build.gasTopUpRaw as string).catch((error: unknown) => this.deps.log.warn({ err: error, withdrawalId: w.id }, 'gas top-up broadcast'));
      }
      return wait('GAS_TOP_UP_PENDING', 'waiting for the gas top-up to be mined');
    }
    const station = await this.deps.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum');
    if (!build.gasTopUpIntent) {
      // The gas float on the address is shared by every token withdrawal from it: what the others
      // in flight will still burn is reserved, one decision at a time per address.
      await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7263))', [`gas/${clientAddress}`]);
      const balance = await eth.rpc.getBalance(clientAddress, 'latest') - (await this.gasInFlight(q, w, clientAddress, needWei));
      if (balance >= needWei) return true;
      // Twice the need: room for a same-nonce replacement with higher fees without a second top-up.
      // What is left stays on the address as the house's gas float (house_gas_float) for the next one.
        const topUp = 2n * needWei - (balance > 0n ? balance : 0n);
      const fees = { maxFeePerGas: (await eth.rpc.getBaseFee()) * 2n + this.deps.settings.ethPriorityFeeWei, maxPriorityFeePerGas: this.deps.settings.ethPriorityFeeWei };
      const feeCap = ETH_TRANSFER_GAS * fees.maxFeePerGas;
      const stationBalance = await eth.rpc.getBalance(station.address.address, 'pending');
      if (stationBalance < topUp + feeCap) {
        throw new DomainError('GAS_STATION_EMPTY', `the house gas station ${station.address.address} holds ${stationBalance} wei; this top-up needs ${topUp + feeCap}`, { transient: true });
      }
      const intent: Intent = {
        intentId: `${w.id}:gas`, chain: 'ethereum', network: eth.chainId.toString(), asset: 'ETH', clientId: 'house', initiator: 'gas-station',
        sourceKeyId: station.address.keyId, purpose: 'withdrawal', outputs: [{ address: clientAddress, amount: topUp.toString() }],
        feeCap: feeCap.toString(), expiresAt: new Date(Date.now() + INTENT_TTL_MS).toISOString(),
      };
      await q.query('update withdrawals set build = build || $2 where id = $1', [w.id, { gasTopUpIntent: intent, gasTopUpWei: topUp.toString(), gasTopUpFees: { maxFeePerGas: fees.maxFeePerGas.toString(), maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString() } }]);
      return wait('GAS_TOP_UP_PENDING', 'gas top-up prepared');
    }
    const intent = build.gasTopUpIntent as Intent;
    const stored = build.gasTopUpFees as { maxFeePerGas: string; maxPriorityFeePerGas: string };
    const fees = { maxFeePerGas: BigInt(stored.maxFeePerGas), maxPriorityFeePerGas: BigInt(stored.maxPriorityFeePerGas) };
    const signed = await this.signWithNonce(q, station.address.address,
      (nonce) => buildEthTransfer({ chainId: eth.chainId, nonce, to: clientAddress, valueWei: BigInt(build.gasTopUpWei as string), gasLimit: ETH_TRANSFER_GAS, ...fees }).unsignedSerialized,
      (ethereumTx) => this.deps.signer.sign<{ signedTx: string; txHash: string }>({ requestId: `${w.id}:gas`, intent, transaction: { ethereumTx }, approvals: [] }));
    await q.query('update withdrawals set build = build || $2 where id = $1', [w.id, { gasTopUpTxid: signed!.txHash, gasTopUpRaw: signed!.signedTx }]);
    await q.query(`insert into own_transactions (chain, txid, purpose, withdrawal_id) values ('ethereum', $1, 'gas_top_up', $2) on conflict do nothing`, [normalizeTxid(signed!.txHash), w.id]);
    // Stored: the next step sends these bytes, and only these.
    return wait('GAS_TOP_UP_PENDING', 'gas top-up signed', 0);
  }

  /** Gas the other token withdrawals from this address will still burn: their signed maximum, or this one's need while unsigned. */
  private async gasInFlight(q: Queryable, w: WithdrawalRow, address: string, needWei: bigint): Promise<bigint> {
    const { rows } = await q.query<{ max_fee: string | null }>(
      `select build->>'maxFeeWei' as max_fee from withdrawals
       where build->>'from' = $1 and id <> $2 and (build->>'gasFromHouse')::boolean and confirmations = 0
         and state in ('signing', 'broadcast', 'confirming')`, [address, w.id]);
    return rows.reduce((sum, r) => sum + (r.max_fee === null ? needWei : BigInt(r.max_fee)), 0n);
  }

  private async broadcastStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const asset = this.asset(w);
    const raw = w.signed_tx!;
    const txs = await this.signedTransactions(q, w.id);
    try {
      if (asset.chain === 'bitcoin') {
        // Ask the chain first: after a crash the transaction may already be out.
        const known = await this.deps.chains.bitcoin.rpc.findTransaction(w.txid!);
        if (!known) await this.deps.chains.bitcoin.rpc.broadcast(raw);
      } else {
        const receipt = await this.deps.chains.ethereum.rpc.getReceipt(w.txid!);
        if (!receipt) {
          try {
            await this.deps.chains.ethereum.rpc.broadcast(raw);
          } catch (error) {
            if (!/already known|nonce too low|known transaction/i.test(error instanceof Error ? error.message : '')) throw error;
          }
        }
      }
    } catch (error) {
      // A replacement the network refused (the original was mined meanwhile, or a node that does
      // not replace): the earlier transaction stands, and confirming watches all of them.
      if (txs.length < 2 || !(await this.anyEarlierKnown(asset, txs))) throw error;
      this.deps.log.warn({ withdrawalId: w.id, txid: w.txid, err: error }, 'replacement not accepted; the earlier transaction stands');
      await transition(q, w, 'confirming', { txid: w.txid, replacementRefused: error instanceof Error ? error.message.slice(0, 300) : String(error) });
      return;
    }
    await q.query('update withdrawals set broadcast_at = coalesce(broadcast_at, now()) where id = $1', [w.id]);
    await transition(q, w, 'confirming', { txid: w.txid });
    await appendEvent(q, 'withdrawal.broadcast', w.client_id, w.id, { withdrawalId: w.id, txid: w.txid, ...(txs.length > 1 ? { replaces: txs[txs.length - 2]!.txid } : {}) });
  }

  /** The withdrawal's signed transactions, oldest first: the first and its replacements. */
  private async signedTransactions(q: Queryable, withdrawalId: string): Promise<SignedTx[]> {
    const { rows } = await q.query<SignedTx>(
      'select txid, raw, fee, replaces_txid, created_at from withdrawal_transactions where withdrawal_id = $1 order by id', [withdrawalId]);
    return rows;
  }

  /** Whether the chain (mempool or a block) has any but the newest of these transactions. */
  private async anyEarlierKnown(asset: Asset, txs: SignedTx[]): Promise<boolean> {
    for (const tx of txs.slice(0, -1)) {
      const known = asset.chain === 'bitcoin' ? await this.deps.chains.bitcoin.rpc.findTransaction(tx.txid)
        : await this.deps.chains.ethereum.rpc.getTransaction(tx.txid);
      if (known) return true;
    }
    return false;
  }

  /** Which of the withdrawal's transactions is mined, with its confirmations and the fee it really paid. */
  private async minedTransaction(asset: Asset, txs: SignedTx[]): Promise<{ tx: SignedTx; confirmations: number; networkFee: bigint; reverted: boolean } | undefined> {
    for (const tx of [...txs].reverse()) {
      if (asset.chain === 'bitcoin') {
        const info = await this.deps.chains.bitcoin.rpc.call<{ confirmations?: number }>('getrawtransaction', [tx.txid, true]).catch(() => undefined);
        if (info?.confirmations && info.confirmations > 0) return { tx, confirmations: info.confirmations, networkFee: BigInt(tx.fee), reverted: false };
      } else {
        const receipt = await this.deps.chains.ethereum.rpc.getReceipt(tx.txid);
        if (!receipt) continue;
        const tip = await this.deps.chains.ethereum.rpc.getBlockNumber();
        return { tx, confirmations: tip - Number(BigInt(receipt.blockNumber)) + 1, reverted: receipt.status !== '0x1',
          networkFee: BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice ?? '0') };
      }
    }
    return undefined;
  }

  private async confirmingStep(q: pg.PoolClient, w: WithdrawalRow): Promise<void> {
    const asset = this.asset(w);
    const need = this.deps.settings.confirmations[asset.chain];
    const txs = await this.signedTransactions(q, w.id);
    const mined = await this.minedTransaction(asset, txs);
    if (mined) {
      if (mined.tx.txid !== w.txid) {
        // An earlier transaction of this withdrawal was mined, not its replacement: that is the one.
        await q.query('update withdrawals set txid = $2, signed_tx = $3 where id = $1', [w.id, mined.tx.txid, mined.tx.raw]);
        await q.query('insert into withdrawal_transitions (withdrawal_id, from_state, to_state, detail) values ($1, $2, $2, $3)',
          [w.id, 'confirming', { mined: mined.tx.txid, insteadOf: w.txid }]);
        w = { ...w, txid: mined.tx.txid, signed_tx: mined.tx.raw };
      }
      await q.query('update withdrawals set confirmations = $2 where id = $1', [w.id, mined.confirmations]);
      if (mined.confirmations < need) {
        await q.query(`update withdrawals set next_run_at = now() + interval '1 second' where id = $1`, [w.id]);
        return;
      }
      if (mined.reverted) return this.finishFailedOnChain(q, w, mined.networkFee);
      return this.complete(q, w, asset, mined.networkFee, mined.tx);
    }
    await q.query('update withdrawals set confirmations = 0 where id = $1', [w.id]);
    const latest = txs[txs.length - 1]!;
    const ageSeconds = (Date.now() - latest.created_at.getTime()) / 1000;
    if (ageSeconds >= this.deps.settings.replaceAfterSeconds[asset.chain] && (await this.replace(q, w, asset, txs))) return;
    // Not mined: make sure the newest transaction is out (a node may have dropped it). The same bytes, never new ones.
    if (asset.chain === 'bitcoin') {
      if (!(await this.deps.chains.bitcoin.rpc.findTransaction(latest.txid))) await this.deps.chains.bitcoin.rpc.broadcast(latest.raw, 0).catch(() => undefined);
    } else if (!(await this.deps.chains.ethereum.rpc.getTransaction(latest.txid))) {
      await this.deps.chains.ethereum.rpc.broadcast(latest.raw).catch(() => undefined);
    }
    await q.query(`update withdrawals set next_run_at = now() + interval '1 second' where id = $1`, [w.id]);
  }

  /**
   * Replaces a stuck transaction: the same payment with a higher fee, spending the same coins
   * (Bitcoin, BIP-125) or the same nonce (Ethereum), so at most one of them can ever confirm. The
   * intent is unchanged, so the signer accepts it under the approvals already given. The new
   * transaction is committed before it is broadcast (state broadcast). Returns false, and tells
   * treasury once (withdrawal.stuck), when no replacement is possible within the fee caps.
   */
  private async replace(q: pg.PoolClient, w: WithdrawalRow, asset: Asset, txs: SignedTx[]): Promise<boolean> {
    const latest = txs[txs.length - 1]!;
    const stuck = async (reason: string): Promise<false> => {
      const build = w.build as Record<string, unknown>;
      if (build.stuckReportedFor !== latest.txid) {
        this.deps.log.warn({ withdrawalId: w.id, txid: latest.txid, reason }, 'withdrawal stuck: no replacement possible');
        await q.query('update withdrawals set build = build || $2 where id = $1', [w.id, { stuckReportedFor: latest.txid }]);
        await appendEvent(q, 'withdrawal.stuck', w.client_id, w.id, { withdrawalId: w.id, txid: latest.txid, reason });
      }
      return false;
    };
    if (txs.length - 1 >= this.deps.settings.maxReplacements) return stuck(`already replaced ${txs.length - 1} times`);
    let transaction: Record<string, string>;
    let fee: bigint;
    let detail: Record<string, string>;
    if (asset.chain === 'bitcoin') {
      const built = await this.bitcoinReplacement(q, w, latest);
      if (typeof built === 'string') return stuck(built);
      ({ transaction, fee, detail } = built);
    } else {
      const built = await this.ethereumReplacement(w, asset, latest);
      if (typeof built === 'string') return stuck(built);
      ({ transaction, fee, detail } = built);
    }
    // A request id of its own per replacement: if we crash after the signer signed but before this
    // commits, the next attempt may build a different one, and the signer's rule (same outpoints or
    // nonce for the same intent) still means at most one of them can confirm.
    const digest = createHash('sha256').update(Object.values(transaction).join()).digest('hex').slice(0, 16);
    let signed: { txHex?: string; txid?: string; signedTx?: string; txHash?: string };
    try {
      signed = await this.deps.signer.sign({ requestId: `${w.id}:r${txs.length}:${digest}`, intent: w.intent, transaction, approvals: await this.approvalsFor(q, w) });
    } catch (error) {
      if (error instanceof SignerRefusal) return stuck(`the signer refused the replacement: ${error.code} ${error.message}`);
      throw error;
    }
    const raw = asset.chain === 'bitcoin' ? signed.txHex! : signed.signedTx!;
    const txid = asset.chain === 'bitcoin' ? signed.txid! : signed.txHash!;
    await q.query('insert into withdrawal_transactions (withdrawal_id, txid, raw, fee, replaces_txid) values ($1, $2, $3, $4, $5) on conflict do nothing',
      [w.id, txid, raw, fee.toString(), latest.txid]);
    await q.query(`insert into own_transactions (chain, txid, purpose, withdrawal_id) values ($1, $2, 'withdrawal', $3) on conflict do nothing`, [w.chain, normalizeTxid(txid), w.id]);
    await q.query('update withdrawals set signed_tx = $2, txid = $3 where id = $1', [w.id, raw, txid]);
    await transition(q, w, 'broadcast', { txid, replaces: latest.txid, fee: fee.toString(), ...detail });
    await appendEvent(q, 'withdrawal.replaced', w.client_id, w.id, { withdrawalId: w.id, txid, replaces: latest.txid, ...detail });
    return true;
  }

  /** The same inputs and payment at a higher fee rate; the bump comes out of the change. */
  private async bitcoinReplacement(q: Queryable, w: WithdrawalRow, latest: SignedTx): Promise<string | { transaction: Record<string, string>; fee: bigint; detail: Record<string, string> }> {
    const build = w.build as { changeIndex: number; changeAddress: string; inputs: { txid: string; vout: number }[] };
    if (build.changeIndex < 0) return 'the transaction has no change output to take a higher fee from';
    const network = this.deps.chains.bitcoin.network;
    const { rows } = await q.query<{ txid: string; vout: number; value: bigint; address: string }>(
      'select txid, vout, value, address from utxos where reserved_by = $1', [w.id]);
    const utxos: Utxo[] = build.inputs.map((i) => {
      const u = rows.find((r) => r.txid === i.txid && r.vout === i.vout)!;
      return { txid: u.txid, vout: u.vout, value: u.value, script: decodeAddress(u.address, network).script };
    });
    const vsize = BitcoinTransaction.fromHex(latest.raw).virtualSize();
    const { satPerVbyte } = await this.deps.chains.bitcoin.rpc.estimateFeeRate(2, this.deps.settings.btcFeeRateFallbackSatPerVbyte);
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

  /** The same nonce and payment with both EIP-1559 fees raised. ERC-20 gas must fit the gas float on the address. */
  private async ethereumReplacement(w: WithdrawalRow, asset: Asset, latest: SignedTx): Promise<string | { transaction: Record<string, string>; fee: bigint; detail: Record<string, string> }> {
    const eth = this.deps.chains.ethereum;
    const previous = parseEip1559(latest.raw);
    const feeCap = BigInt((w.intent as { feeCap: string }).feeCap);
    const cap = this.deps.settings.ethMaxFeePerGasCapWei < feeCap / previous.gasLimit ? this.deps.settings.ethMaxFeePerGasCapWei : feeCap / previous.gasLimit;
    const fees = replacementFees(previous, { baseFeePerGas: await eth.rpc.getBaseFee(), priorityFeePerGas: this.deps.settings.ethPriorityFeeWei, capPerGas: cap });
    if (!fees) return `a valid fee bump would exceed the cap of ${cap} wei per gas`;
    const unsigned = asset.contractAddress
      ? buildErc20Transfer({ chainId: eth.chainId, nonce: previous.nonce, tokenContract: asset.contractAddress, to: w.destination, amount: w.amount, gasLimit: previous.gasLimit, ...fees })
      : buildEthTransfer({ chainId: eth.chainId, nonce: previous.nonce, to: w.destination, valueWei: w.amount, gasLimit: previous.gasLimit, ...fees });
    if (asset.contractAddress) {
      const from = (w.build as { from: string }).from;
      const balance = await eth.rpc.getBalance(from, 'latest');
      if (balance < unsigned.maxFeeWei) return `the gas float on ${from} (${balance} wei) does not cover ${unsigned.maxFeeWei} wei`;
    }
    return { transaction: { ethereumTx: unsigned.unsignedSerialized }, fee: unsigned.maxFeeWei,
      detail: { maxFeePerGas: fees.maxFeePerGas.toString(), maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString() } };
  }

  /** WDR-07: post the hold with the real fee, release the rest, record change, tell the exchange. */
  private async complete(q: pg.PoolClient, w: WithdrawalRow, asset: Asset, networkFee: bigint, mined: SignedTx): Promise<void> {
    const { ledger } = this.deps;
    const clientPaysGas = !asset.contractAddress;
    const leaves = w.amount + (clientPaysGas ? networkFee : 0n);
    const walletKind = w.source_tier === 'cold' ? 'client_wallet_cold' : 'client_wallet_hot';
    const credits: Posting[] = [{ accountId: await ledger.systemAccountId(q, asset.code, 'external_world'), amount: leaves }];
    if (w.service_fee > 0n) credits.push({ accountId: await ledger.systemAccountId(q, asset.code, 'house_fees'), amount: w.service_fee });
    const others: Posting[] = [
      { accountId: await ledger.clientAccountId(q, w.client_id, asset.code, walletKind), amount: -leaves },
      { accountId: await ledger.systemAccountId(q, asset.code, 'external_chain'), amount: leaves },
    ];
    const posted = await ledger.postHold(q, {
      holdId: w.hold_id!, owner: withdrawalHoldOwner(w.id), idempotencyId: `withdrawal:${w.id}`, type: w.service_fee > 0n ? 'fee' : 'withdrawal',
      debit: leaves + w.service_fee, credits, others, actor: 'pipeline',
      cause: { withdrawalId: w.id, txid: w.txid, chain: asset.chain, networkFee: networkFee.toString(), ...(w.service_fee > 0n ? { feeScheduleVersion: 'service-fee-v1' } : {}) },
    });
    if (!clientPaysGas) await this.bookHouseGas(q, w, networkFee);
    if (asset.chain === 'bitcoin') {
      const build = w.build as Record<string, unknown>;
      await q.query(`update utxos set status = 'spent' where reserved_by = $1`, [w.id]);
      if ((build.changeIndex as number) >= 0) {
        // The mined transaction's change: a replacement took its higher fee out of the change.
        const changeValue = BigInt(build.changeValue as string) + BigInt(build.fee as string) - BigInt(mined.fee);
        await q.query(`insert into utxos (txid, vout, wallet_id, address, key_id, value, status, origin) values ($1, $2, $3, $4, $5, $6, 'unspent', 'change')
                       on conflict do nothing`, [mined.txid, build.changeIndex, build.changeWalletId, build.changeAddress, build.changeKeyId, changeValue.toString()]);
      }
    }
    await q.query('update withdrawals set network_fee = $2, entry_id = $3 where id = $1', [w.id, networkFee.toString(), posted.entryId]);
    await transition(q, w, 'completed', { txid: w.txid, networkFee: networkFee.toString() });
    const feeAsset = asset.chain === 'bitcoin' ? 'BTC' : 'ETH';
    await appendEvent(q, 'withdrawal.completed', w.client_id, w.id, {
      withdrawalId: w.id, asset: asset.code, amount: this.deps.assets.toDecimal(asset.code, w.amount), txid: w.txid,
      networkFee: this.deps.assets.toDecimal(feeAsset, networkFee), networkFeeAsset: feeAsset, networkFeePaidBy: clientPaysGas ? 'client' : 'house',
      serviceFee: this.deps.assets.toDecimal(asset.code, w.service_fee), usdCents: w.usd_cents.toString(), fxRate: null,
    });
  }

  /** ERC-20 gas: the top-up and the gas burned are house money, never the client's. */
  private async bookHouseGas(q: Queryable, w: WithdrawalRow, gasUsedWei: bigint): Promise<void> {
    const { ledger } = this.deps;
    const build = w.build as Record<string, string>;
    const topUp = BigInt(build.gasTopUpWei ?? '0');
    const postings: Posting[] = [];
    let topUpGasWei = 0n;
    if (topUp > 0n) {
      postings.push({ accountId: await ledger.systemAccountId(q, 'ETH', 'house_wallet_gas'), amount: -topUp },
        { accountId: await ledger.systemAccountId(q, 'ETH', 'house_gas_float'), amount: topUp });
      // The top-up paid its own gas from the station: house money too, so the station's books equal its chain balance.
      const receipt = await this.deps.chains.ethereum.rpc.getReceipt(build.gasTopUpTxid!);
      if (!receipt) throw new DomainError('CHAIN_UNAVAILABLE', `the gas top-up ${build.gasTopUpTxid} has no receipt yet`);
      topUpGasWei = BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice ?? '0');
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

  /** A mined transaction that reverted (ERC-20): the asset did not move, the gas did. */
  private async finishFailedOnChain(q: Queryable, w: WithdrawalRow, gasUsedWei: bigint): Promise<void> {
    await this.bookHouseGas(q, w, gasUsedWei);
    if (w.hold_id) await this.deps.ledger.releaseHold(q, w.hold_id, withdrawalHoldOwner(w.id), 'pipeline');
    await transition(q, w, 'failed', { code: 'REVERTED_ON_CHAIN' });
    await appendEvent(q, 'withdrawal.failed', w.client_id, w.id, { withdrawalId: w.id, code: 'REVERTED_ON_CHAIN', txid: w.txid });
  }
}
