// The rebalancer (HOT-02, HOT-03): plans client by client, never across clients, and runs its plan
// through the withdrawal pipeline as tier moves. A sweep (hot -> cold) always goes to the same
// client's cold wallet and runs automatically; a refill (cold -> hot) waits for the treasury
// quorum like any cold withdrawal and is refused when it would take a hard-limited pool above the
// cap. Moves in flight are counted, so the planner never sweeps twice, and there is at most one
// tier move in flight per client and asset (the database holds to that too).
import type pg from 'pg';
import { DomainError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { inTransaction, type Queryable } from '../platform/tx.ts';
import type { AssetRegistry, Asset } from '../assets/asset-registry.ts';
import type { WalletService } from '../wallets/wallet-service.ts';
import type { WithdrawalService, WithdrawalRow } from '../withdrawals/withdrawal-service.ts';
import { BP, exceedsBp, shareBp, tierView, type ClientHoldings, type RatioEngine, type RatioSnapshot } from './ratio-engine.ts';
import type { RatioConfig, RatioConfigStore } from './ratio-config.ts';

/** Most moves one run creates (the rest wait for the next run). */
export const MAX_MOVES_PER_RUN = 200;

export interface PlannedMove {
  kind: 'sweep' | 'refill';
  clientId: string;
  asset: string;
  chain: 'bitcoin' | 'ethereum';
  amount: bigint;
  from: 'hot' | 'cold';
  to: 'hot' | 'cold';
  /** HOT-03: the wallets the move leaves and enters, and their owners (always the same client). */
  sourceWalletId: string;
  sourceClientId: string;
  destinationWalletId: string;
  destinationClientId: string;
  /** The client's hot share now and after the move (once everything in flight is done), basis points. */
  shareBpBefore: number | null;
  shareBpAfter: number | null;
  why: string;
}

export interface Plan {
  takenAt: string;
  moves: PlannedMove[];
  /** Clients above the alert level that get no move, and why (too small, a move already in flight, …). */
  skipped: { clientId: string; asset: string; reason: string }[];
}

export interface RebalancerSettings {
  /** Smallest move worth a transaction, per asset (base units); smaller ones wait. */
  minMove: Record<string, bigint>;
}

interface WalletRow { id: string; client_id: string; chain: 'bitcoin' | 'ethereum'; tier: 'hot' | 'cold'; state: string }

/** HOT-03: a tier move leaves and enters wallets of one and the same client, or it is no move at all. */
export function assertSameClient(move: Pick<PlannedMove, 'clientId' | 'sourceClientId' | 'destinationClientId'>): void {
  if (move.sourceClientId !== move.clientId || move.destinationClientId !== move.clientId) {
    throw new DomainError('CROSS_CLIENT_TRANSFER', `a tier move for client ${move.clientId} may not leave ${move.sourceClientId}'s wallet or enter ${move.destinationClientId}'s`);
  }
}

export class Rebalancer {
  constructor(private readonly deps: {
    pool: pg.Pool; assets: AssetRegistry; ratio: RatioEngine; configs: RatioConfigStore; withdrawals: WithdrawalService;
    /** Signer-backed wallets; without them the rebalancer plans but moves nothing. */
    wallets?: WalletService;
    settings: RebalancerSettings; log: Logger;
    /** The network fee a move reserves from the client's coins in the asset itself (BTC, ETH; 0 for ERC-20). */
    networkFeeMax: (asset: Asset) => bigint;
  }) {}

  /**
   * The plan, client by client (reads only). A client is swept when its own hot share, once the
   * moves in flight are done, is above the alert level, or when its pool is above the alert level
   * and the client above the target: down to the target (or its hot floor), within the cap, less
   * the network fee it will pay from its own hot coins (SEG-04). A client below its hot floor gets a
   * refill proposal up to the floor, within the cap.
   */
  async plan(q: Queryable, snapshot?: RatioSnapshot): Promise<Plan> {
    const ratios = snapshot ?? await this.deps.ratio.compute(q);
    const holdings = await this.deps.ratio.clientHoldings(q);
    const { rows: wallets } = await q.query<WalletRow>(`select id, client_id, chain, tier, state from wallets where owner = 'client'`);
    const walletOf = new Map(wallets.map((w) => [`${w.client_id}/${w.chain}/${w.tier}`, w]));
    const { rows: busy } = await q.query<{ client_id: string; asset: string }>(
      `select client_id, asset from withdrawals where kind <> 'withdrawal'
         and state in ('requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming')`);
    const inFlight = new Set(busy.map((b) => `${b.client_id}/${b.asset}`));
    const configs = new Map<string, RatioConfig>(ratios.assets.map((a) => [a.asset, a.config]));
    const poolAlert = new Map<string, boolean>(ratios.assets.flatMap((a) => [[`retail/${a.asset}`, a.retail.alert], [`all/${a.asset}`, a.allClients.alert]]));
    const moves: PlannedMove[] = [];
    const skipped: Plan['skipped'] = [];
    for (const h of holdings) {
      const move = this.planClient(h, configs.get(h.asset), poolAlert.get(`${h.classification === 'retail' ? 'retail' : 'all'}/${h.asset}`) ?? false, walletOf, inFlight, skipped);
      if (move) {
        assertSameClient(move);
        moves.push(move);
      }
    }
    return { takenAt: ratios.takenAt.toISOString(), moves, skipped };
  }

  private planClient(h: ClientHoldings, config: RatioConfig | undefined, poolAlert: boolean, walletOf: Map<string, WalletRow>, inFlight: Set<string>,
    skipped: Plan['skipped']): PlannedMove | undefined {
    if (!config) return undefined;
    const asset = this.deps.assets.get(h.asset);
    const view = tierView(h.hot, h.cold, h.inFlight);
    const hot = view.projectedHot;
    const total = view.projectedHot + view.projectedCold;
    if (total === 0n) return undefined;
    const aboveAlert = exceedsBp(hot, total, config.alertBp);
    const aboveTarget = exceedsBp(hot, total, config.targetBp);
    const capHot = (BigInt(config.capBp) * total) / BP;
    const belowFloor = config.minHotFloor > 0n && hot < config.minHotFloor && hot < capHot;
    if (!aboveAlert && !(poolAlert && aboveTarget) && !belowFloor) return undefined;
    if (inFlight.has(`${h.clientId}/${h.asset}`)) {
      skipped.push({ clientId: h.clientId, asset: h.asset, reason: 'a tier move is already in flight' });
      return undefined;
    }
    const hotWallet = walletOf.get(`${h.clientId}/${asset.chain}/hot`);
    const coldWallet = walletOf.get(`${h.clientId}/${asset.chain}/cold`);
    if (!hotWallet || !coldWallet || hotWallet.state !== 'active' || coldWallet.state !== 'active') {
      skipped.push({ clientId: h.clientId, asset: h.asset, reason: 'the client has no active hot and cold wallet on this chain' });
      return undefined;
    }
    const minMove = this.deps.settings.minMove[h.asset] ?? 1n;
    const fee = this.deps.networkFeeMax(asset);
    let kind: 'sweep' | 'refill';
    let amount: bigint;
    let why: string;
    if (aboveAlert || (poolAlert && aboveTarget)) {
      // Keep the target share (or the hot floor, if higher), never more than the cap allows. The
      // fee is paid from what stays in hot (the client's own coins, SEG-04): at least the fee cap stays.
      let keep = (BigInt(config.targetBp) * total) / BP;
      if (config.minHotFloor > keep) keep = config.minHotFloor;
      if (keep > capHot) keep = capHot;
      kind = 'sweep';
      amount = hot - (keep > fee ? keep : fee);
      why = aboveAlert ? `the client's hot share is above the alert level of ${config.alertBp} bp` : `the pool is above the alert level of ${config.alertBp} bp`;
    } else {
      const want = config.minHotFloor < capHot ? config.minHotFloor : capHot;
      kind = 'refill';
      amount = want - hot;
      if (amount + fee > view.projectedCold) amount = view.projectedCold - fee;
      why = `the hot float is below the floor of ${config.minHotFloor}`;
    }
    if (amount < minMove || amount <= 0n) {
      skipped.push({ clientId: h.clientId, asset: h.asset, reason: `a ${kind} of ${amount} is below the smallest move (${minMove})` });
      return undefined;
    }
    const [source, destination] = kind === 'sweep' ? [hotWallet, coldWallet] : [coldWallet, hotWallet];
    const afterHot = kind === 'sweep' ? hot - amount : hot + amount;
    const afterTotal = total - fee;
    return {
      kind, clientId: h.clientId, asset: h.asset, chain: asset.chain, amount, from: source.tier, to: destination.tier,
      sourceWalletId: source.id, sourceClientId: source.client_id, destinationWalletId: destination.id, destinationClientId: destination.client_id,
      shareBpBefore: shareBp(hot, total), shareBpAfter: shareBp(afterHot < 0n ? 0n : afterHot, afterTotal), why,
    };
  }

  /**
   * One scheduled (or on-demand) run: a ratio snapshot (history, HOT-06 incidents), the plan, and
   * its sweeps created as tier moves (the pipeline signs and sends them). Refill proposals are
   * created too: they wait for treasury. Returns what was created and what was skipped.
   */
  async run(): Promise<{ snapshot: RatioSnapshot; plan: Plan; created: WithdrawalRow[]; failed: { clientId: string; asset: string; code: string; detail: string }[] }> {
    const snapshot = await inTransaction(this.deps.pool, (q) => this.deps.ratio.snapshot(q));
    const plan = await this.plan(this.deps.pool, snapshot);
    const created: WithdrawalRow[] = [];
    const failed: { clientId: string; asset: string; code: string; detail: string }[] = [];
    if (!this.deps.wallets) return { snapshot, plan, created, failed };
    for (const move of plan.moves.slice(0, MAX_MOVES_PER_RUN)) {
      try {
        const result = move.kind === 'sweep'
          ? await this.createMove(move, 'rebalancer', { trigger: 'schedule', why: move.why, shareBpBefore: move.shareBpBefore, shareBpAfter: move.shareBpAfter })
          : await this.requestRefill({ clientId: move.clientId, asset: move.asset, amount: move.amount, initiator: 'rebalancer', reason: move.why });
        // A move already in flight (created by another run meanwhile) is not created again.
        if (result.created) created.push(result.withdrawal);
      } catch (error) {
        const code = error instanceof DomainError ? error.code : 'INTERNAL';
        failed.push({ clientId: move.clientId, asset: move.asset, code, detail: error instanceof Error ? error.message : String(error) });
        this.deps.log.warn({ move: { ...move, amount: move.amount.toString() }, code, err: error }, 'rebalancing move not created');
      }
    }
    if (created.length > 0) this.deps.log.info({ moves: created.length }, 'rebalancing moves created');
    return { snapshot, plan, created, failed };
  }

  /**
   * The destination in the client's own wallet of the other tier: Bitcoin a fresh address (a new
   * HSM key: a signer call, made with no database transaction open), Ethereum the wallet's account.
   */
  private async destination(walletId: string, chain: 'bitcoin' | 'ethereum'): Promise<{ address: string; keyId: string; walletId: string }> {
    const wallets = this.deps.wallets;
    if (!wallets) throw new DomainError('SIGNER_UNAVAILABLE', 'no signer-backed wallets: the rebalancer moves nothing');
    const address = chain === 'bitcoin' ? await wallets.changeAddress(this.deps.pool, walletId) : (await wallets.addresses(this.deps.pool, walletId))[0];
    if (!address) throw new DomainError('WALLET_NOT_FOUND', `wallet ${walletId} has no address`);
    return { address: address.address, keyId: address.keyId, walletId };
  }

  private async createMove(move: PlannedMove, initiator: string, reason: Record<string, unknown>): Promise<{ withdrawal: WithdrawalRow; created: boolean }> {
    assertSameClient(move);
    const destination = await this.destination(move.destinationWalletId, move.chain);
    return inTransaction(this.deps.pool, (q) => this.deps.withdrawals.createTierMove(q, {
      networkFeeMax: this.deps.networkFeeMax(this.deps.assets.get(move.asset)), kind: move.kind, clientId: move.clientId, asset: move.asset, amount: move.amount, destination, initiator, reason, actor: initiator }));
  }

  /**
   * A refill (cold -> hot) on request: refused with HOT_CAP_EXCEEDED when, with everything in
   * flight done, it would take the client's hard-limited pool (retail; all clients when that limit
   * is hard) above the cap. 30.00 % is allowed, 30.01 % is not. The check and the creation run in
   * one transaction under a per-asset lock, so two refills cannot both pass on the same headroom.
   * It then waits for the treasury quorum like a cold withdrawal.
   */
  async requestRefill(input: { clientId: string; asset: string; amount: bigint; initiator: string; reason: string }): Promise<{ withdrawal: WithdrawalRow; created: boolean }> {
    const asset = this.deps.assets.get(input.asset);
    if (input.amount <= 0n) throw new DomainError('AMOUNT_INVALID', 'a refill moves more than nothing');
    // Checked before a fresh address is made for it (a refused refill leaves nothing behind), and again under the lock.
    await this.checkRefill(this.deps.pool, input.clientId, asset.code, input.amount);
    const { rows: wallets } = await this.deps.pool.query<WalletRow>(
      `select id, client_id, chain, tier, state from wallets where client_id = $1 and chain = $2 and owner = 'client'`, [input.clientId, asset.chain]);
    const hotWallet = wallets.find((w) => w.tier === 'hot');
    const coldWallet = wallets.find((w) => w.tier === 'cold');
    if (!hotWallet || !coldWallet) throw new DomainError('WALLET_NOT_FOUND', `client ${input.clientId} has no ${asset.chain} wallets`);
    const destination = await this.destination(hotWallet.id, asset.chain);
    return inTransaction(this.deps.pool, async (q) => {
      await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7268))', [`hot-ratio/${asset.code}`]);
      await this.checkRefill(q, input.clientId, asset.code, input.amount);
      return this.deps.withdrawals.createTierMove(q, {
        networkFeeMax: this.deps.networkFeeMax(asset), kind: 'refill', clientId: input.clientId, asset: asset.code, amount: input.amount, destination, initiator: input.initiator,
        reason: { trigger: input.initiator === 'rebalancer' ? 'hot floor' : 'request', why: input.reason }, actor: input.initiator });
    });
  }

  /** HOT-01: whether a refill of `amount` keeps the client's hard-limited pool within the cap (throws HOT_CAP_EXCEEDED otherwise). */
  async checkRefill(q: Queryable, clientId: string, asset: string, amount: bigint): Promise<void> {
    const { rows } = await q.query<{ classification: string }>('select classification from clients where id = $1', [clientId]);
    if (!rows[0]) throw new DomainError('CLIENT_NOT_FOUND', `no client ${clientId}`);
    const [client] = await this.deps.ratio.clientHoldings(q, { clientIds: [clientId], asset });
    const own = tierView(client?.hot ?? 0n, client?.cold ?? 0n, client?.inFlight);
    if (amount > own.projectedCold) {
      throw new DomainError('INSUFFICIENT_FUNDS', `the client's cold wallet holds ${own.projectedCold} once the moves in flight are done; a refill of ${amount} does not fit`);
    }
    const snapshot = await this.deps.ratio.compute(q);
    const ratio = snapshot.assets.find((a) => a.asset === asset)!;
    const pools = [...(rows[0].classification === 'retail' ? [['retail', ratio.retail] as const] : []), ...(ratio.allClients.hard ? [['all clients', ratio.allClients] as const] : [])];
    for (const [name, view] of pools) {
      const hotAfter = view.projectedHot + amount;
      const coldAfter = view.projectedCold - amount;
      if (exceedsBp(hotAfter, hotAfter + coldAfter, view.capBp)) {
        throw new DomainError('HOT_CAP_EXCEEDED', `the refill would take the ${name} ${asset} hot share to ${shareBp(hotAfter, hotAfter + coldAfter)} bp, above the cap of ${view.capBp} bp`,
          { pool: name, asset, hotAfter: hotAfter.toString(), total: (hotAfter + coldAfter).toString(), capBp: view.capBp });
      }
    }
  }
}
