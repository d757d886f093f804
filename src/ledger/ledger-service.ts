// The ledger: a thin, typed layer over the SECURITY DEFINER functions in the foundation
// migration, which hold the invariants (zero-sum per asset and book, no overdraft, append-only).
import { DomainError, domainErrorFromPg } from '../platform/errors.ts';
import { hashOf } from '../platform/canonical.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';

export type EntryType =
  | 'deposit' | 'deposit_reversal' | 'withdrawal' | 'transfer' | 'trade' | 'fee' | 'hold_post'
  | 'tier_move' | 'correction' | 'manual' | 'opening';

/** Entry types that may move value between client trust and house (SEG-01). Mirrors ledger_cross_root_types(). */
export const CROSS_ROOT_ENTRY_TYPES: readonly EntryType[] = Object.freeze(['fee', 'trade', 'correction']);

export type ClientAccountKind = 'client_entitlement' | 'client_wallet_hot' | 'client_wallet_cold';
export type SystemAccountKind =
  | 'house_fees' | 'house_treasury' | 'house_suspense' | 'house_wallet_fees' | 'house_wallet_gas' | 'house_wallet_suspense' | 'house_gas_float'
  | 'external_world' | 'external_chain';

export interface Posting { accountId: number; amount: bigint }

export interface EntryInput {
  idempotencyId: string;
  type: EntryType;
  postings: Posting[];
  cause?: Record<string, unknown>;
  memo?: string;
  actor: string;
  reversesEntryId?: number;
}

export interface EntryResult { entryId: number; entryHash: string; replayed: boolean }

/**
 * Who may end a hold (SEG-05, WDR-03): the exchange (pre-trade holds it placed through the API), or
 * the flow that placed it, named with its object: `withdrawal:<id>` (later `rebalancing:<id>`,
 * `settlement:<id>`). The database refuses a void, post, commit or freeze by anyone else (HOLD_NOT_OWNER).
 */
export type HoldOwner = 'exchange' | `${'withdrawal' | 'rebalancing' | 'settlement'}:${string}`;

export function withdrawalHoldOwner(withdrawalId: string): HoldOwner {
  return `withdrawal:${withdrawalId}`;
}

export interface Hold {
  id: string;
  owner: HoldOwner;
  /** The owner's kind: exchange, withdrawal, rebalancing, settlement. */
  purpose: string;
  /** Set once the owner's transaction is signed: the hold no longer expires. */
  committedAt: Date | null;
  accountId: number;
  clientId: string | null;
  asset: string;
  amount: bigint;
  /** frozen: a compliance freeze (WDR-04 sanctions hit); still held, never expires, leaves only by releaseFrozenHold. */
  state: 'pending' | 'frozen' | 'posted' | 'voided' | 'expired';
  postedAmount: bigint | null;
  entryId: number | null;
  reference: Record<string, unknown>;
  expiresAt: Date;
  createdAt: Date;
  resolvedAt: Date | null;
}

export interface AccountBalance {
  accountId: number;
  kind: string;
  asset: string;
  balance: bigint;
  held: bigint;
}

export interface ClientAssetBalance {
  asset: string;
  entitlement: { total: bigint; held: bigint; available: bigint };
  holdings: { hot: bigint; cold: bigint; total: bigint };
}

export interface JournalEntry {
  id: number;
  idempotencyId: string;
  type: EntryType;
  cause: Record<string, unknown>;
  memo: string | null;
  entryHash: string;
  reversesEntryId: number | null;
  createdAt: Date;
  postings: { accountId: number; accountCode: string; asset: string; book: string; amount: bigint; balanceAfter: bigint }[];
}

const MAX_LIST = 500;
/** A reversal reads the balances it may take from, then posts; this often if they keep moving. */
const MAX_REVERSAL_ATTEMPTS = 5;

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw domainErrorFromPg(error) ?? error;
  }
}

interface HoldRow {
  id: string; owner: HoldOwner; purpose: string; committed_at: Date | null; account_id: number; client_id: string | null; asset: string; amount: bigint; state: Hold['state'];
  posted_amount: bigint | null; entry_id: number | null; reference: Record<string, unknown>;
  expires_at: Date; created_at: Date; resolved_at: Date | null;
}
/** The hold as ledger_hold_json() returns it (numbers and timestamps as JSON). */
interface HoldJson {
  id: string; owner: HoldOwner; purpose: string; committed_at: string | null; account_id: number; client_id: string | null; asset: string; amount: string; state: Hold['state'];
  posted_amount: string | null; entry_id: number | null; reference: Record<string, unknown>;
  expires_at: string; created_at: string; resolved_at: string | null; replayed: boolean;
}
const holdFromJson = (r: HoldJson): Hold => ({
  id: r.id, owner: r.owner, purpose: r.purpose, committedAt: r.committed_at ? new Date(r.committed_at) : null, accountId: r.account_id, clientId: r.client_id, asset: r.asset, amount: BigInt(r.amount), state: r.state,
  postedAmount: r.posted_amount === null ? null : BigInt(r.posted_amount), entryId: r.entry_id, reference: r.reference,
  expiresAt: new Date(r.expires_at), createdAt: new Date(r.created_at), resolvedAt: r.resolved_at ? new Date(r.resolved_at) : null,
});

const toHold = (r: HoldRow): Hold => ({
  id: r.id, owner: r.owner, purpose: r.purpose, committedAt: r.committed_at, accountId: r.account_id, clientId: r.client_id, asset: r.asset, amount: r.amount, state: r.state,
  postedAmount: r.posted_amount, entryId: r.entry_id, reference: r.reference, expiresAt: r.expires_at,
  createdAt: r.created_at, resolvedAt: r.resolved_at,
});

export class LedgerService {
  /** Account ids never change once created: cache code -> id. */
  private readonly accountIds = new Map<string, number>();

  constructor(private readonly db: Queryable, private readonly assets: AssetRegistry) {}

  async openClientAccounts(q: Queryable, clientId: string): Promise<void> {
    for (const asset of this.assets.list()) {
      await q.query('select ledger_open_client_accounts($1, $2)', [clientId, asset.code]);
    }
  }

  async openSystemAccounts(q: Queryable): Promise<void> {
    for (const asset of this.assets.list()) await q.query('select ledger_open_system_accounts($1)', [asset.code]);
  }

  private async accountIdByCode(q: Queryable, code: string): Promise<number> {
    const cached = this.accountIds.get(code);
    if (cached !== undefined) return cached;
    const { rows } = await q.query<{ id: number }>('select id from accounts where code = $1', [code]);
    if (rows.length === 0) throw new DomainError('ACCOUNT_NOT_FOUND', `no account ${code}`, { account: code });
    this.accountIds.set(code, rows[0]!.id);
    return rows[0]!.id;
  }

  clientAccountId(q: Queryable, clientId: string, asset: string, kind: ClientAccountKind = 'client_entitlement'): Promise<number> {
    this.assets.get(asset);
    return this.accountIdByCode(q, `client_trust/${clientId}/${asset}/${kind}`);
  }

  systemAccountId(q: Queryable, asset: string, kind: SystemAccountKind): Promise<number> {
    this.assets.get(asset);
    const root = kind.startsWith('external') ? 'external' : 'house';
    return this.accountIdByCode(q, `${root}/${asset}/${kind}`);
  }

  async postEntry(q: Queryable, input: EntryInput): Promise<EntryResult> {
    if (input.postings.length < 2 || input.postings.length > 64) {
      throw new DomainError('ENTRY_POSTINGS_COUNT', 'an entry has 2 to 64 postings');
    }
    const postings = input.postings.map((p) => ({ accountId: p.accountId, amount: p.amount.toString() }));
    const requestHash = hashOf({ type: input.type, postings, cause: input.cause ?? {}, memo: input.memo ?? null });
    const { rows } = await call(() => q.query<{ r: EntryResult }>('select ledger_post_entry($1) as r', [{
      idempotencyId: input.idempotencyId, type: input.type, postings, cause: input.cause ?? {}, memo: input.memo ?? null,
      requestHash, actor: input.actor, reversesEntryId: input.reversesEntryId ?? null,
    }]));
    return rows[0]!.r;
  }

  /** Posts up to 1,000 entries in one round trip; all or nothing. */
  async postEntries(q: Queryable, inputs: EntryInput[]): Promise<EntryResult[]> {
    if (inputs.length < 1 || inputs.length > 1000) throw new DomainError('BAD_ARGUMENT', 'a batch holds 1 to 1000 entries');
    const payload = inputs.map((input) => {
      if (input.postings.length < 2 || input.postings.length > 64) throw new DomainError('ENTRY_POSTINGS_COUNT', 'an entry has 2 to 64 postings');
      const postings = input.postings.map((p) => ({ accountId: p.accountId, amount: p.amount.toString() }));
      return {
        idempotencyId: input.idempotencyId, type: input.type, postings, cause: input.cause ?? {}, memo: input.memo ?? null,
        requestHash: hashOf({ type: input.type, postings, cause: input.cause ?? {}, memo: input.memo ?? null }),
        actor: input.actor, reversesEntryId: input.reversesEntryId ?? null,
      };
    });
    const { rows } = await call(() => q.query<{ r: EntryResult[] }>('select ledger_post_entries($1) as r', [JSON.stringify(payload)]));
    return rows[0]!.r;
  }

  async placeHold(q: Queryable, input: {
    idempotencyId: string; clientId: string; asset: string; amount: bigint; expiresAt: Date;
    reference?: Record<string, unknown>; owner: HoldOwner; actor: string;
  }): Promise<{ hold: Hold; replayed: boolean }> {
    this.assets.requireActive(input.asset);
    let accountId: number;
    try {
      accountId = await this.clientAccountId(q, input.clientId, input.asset);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'ACCOUNT_NOT_FOUND') throw new DomainError('CLIENT_NOT_FOUND', `no client ${input.clientId}`);
      throw error;
    }
    const reference = input.reference ?? {};
    const requestHash = hashOf({ accountId, amount: input.amount, expiresAt: input.expiresAt.toISOString(), reference, owner: input.owner });
    const { rows } = await call(() => q.query<{ r: HoldJson }>('select ledger_place_hold($1) as r', [{
      idempotencyId: input.idempotencyId, accountId, amount: input.amount.toString(), expiresAt: input.expiresAt.toISOString(),
      reference, requestHash, owner: input.owner, actor: input.actor,
    }]));
    const r = rows[0]!.r;
    return { hold: holdFromJson(r), replayed: r.replayed };
  }

  /** Voids a pending (or committed) hold, for its owner only (HOLD_NOT_OWNER otherwise). */
  async releaseHold(q: Queryable, holdId: string, owner: HoldOwner, actor: string): Promise<Hold> {
    await call(() => q.query('select ledger_void_hold($1, $2, $3)', [holdId, owner, actor]));
    return (await this.getHold(q, holdId))!;
  }

  /**
   * Commits a pending hold, for its owner: from now on it never expires (its transaction is about
   * to be signed and may confirm at any time) until the owner posts or voids it. Idempotent.
   */
  async commitHold(q: Queryable, holdId: string, owner: HoldOwner, actor: string): Promise<Hold> {
    await call(() => q.query('select ledger_commit_hold($1, $2, $3)', [holdId, owner, actor]));
    return (await this.getHold(q, holdId))!;
  }

  /**
   * Freezes a pending hold under a compliance case (WDR-04): the amount stays held (the client's,
   * unavailable), the expiry loop no longer sees it, void and post refuse it. Idempotent.
   */
  async freezeHold(q: Queryable, holdId: string, owner: HoldOwner, reference: { caseId: string } & Record<string, unknown>, actor: string): Promise<Hold> {
    await call(() => q.query('select ledger_freeze_hold($1, $2, $3, $4)', [holdId, owner, reference, actor]));
    return (await this.getHold(q, holdId))!;
  }

  /** Gives a frozen hold back to the client (voided): only under the case that froze it. */
  async releaseFrozenHold(q: Queryable, holdId: string, caseId: string, actor: string): Promise<Hold> {
    await call(() => q.query('select ledger_release_frozen_hold($1, $2, $3)', [holdId, caseId, actor]));
    return (await this.getHold(q, holdId))!;
  }

  /** Posts a pending hold: `debit` (≤ hold) leaves the held account, `credits` receive it. */
  async postHold(q: Queryable, input: {
    holdId: string; owner: HoldOwner; idempotencyId: string; type: EntryType; debit: bigint; credits: Posting[];
    /** More postings in the same entry that balance among themselves (e.g. the wallet-holdings side). */
    others?: Posting[];
    cause?: Record<string, unknown>; memo?: string; actor: string;
  }): Promise<{ hold: Hold; entryId: number; replayed: boolean }> {
    const hold = await this.getHold(q, input.holdId);
    if (!hold) throw new DomainError('HOLD_NOT_FOUND', `no hold ${input.holdId}`);
    const creditTotal = input.credits.reduce((s, c) => s + c.amount, 0n);
    if (input.debit <= 0n || creditTotal !== input.debit) {
      throw new DomainError('UNBALANCED_ENTRY', 'credits must add up to the posted amount', { debit: input.debit.toString() });
    }
    const postings = [{ accountId: hold.accountId, amount: (-input.debit).toString() },
      ...input.credits.map((c) => ({ accountId: c.accountId, amount: c.amount.toString() })),
      ...(input.others ?? []).map((c) => ({ accountId: c.accountId, amount: c.amount.toString() }))];
    const requestHash = hashOf({ type: input.type, postings, cause: input.cause ?? {}, memo: input.memo ?? null });
    const { rows } = await call(() => q.query<{ r: { entryId: number; replayed: boolean } }>('select ledger_post_hold($1) as r', [{
      holdId: input.holdId, owner: input.owner, idempotencyId: input.idempotencyId, type: input.type, postings, cause: input.cause ?? {},
      memo: input.memo ?? null, requestHash, actor: input.actor,
    }]));
    return { hold: (await this.getHold(q, input.holdId))!, entryId: rows[0]!.r.entryId, replayed: rows[0]!.r.replayed };
  }

  /**
   * Reverses an entry (a reorg took back a deposit, DEP-02): every posting negated. Where a bounded
   * account no longer holds what it was credited (the client spent it), only its available part is
   * taken and the rest is booked to house suspense of the same book (house_suspense for the
   * entitlement, house_wallet_suspense for wallet holdings): a client account never goes negative
   * (SEG-05). That entry is a `correction` and its shortfall is returned for the caller to act on
   * (a case). Idempotent on `idempotencyId`. Runs inside the caller's transaction (savepoints).
   */
  async reverseEntry(q: Queryable, input: { entryId: number; idempotencyId: string; actor: string; cause: Record<string, unknown> }):
    Promise<{ entryId: number; replayed: boolean; shortfall: { entitlement: bigint; holdings: bigint } }> {
    const { rows: postings } = await q.query<{ account_id: number; amount: bigint; asset: string; book: string; bounded: boolean }>(
      `select p.account_id, p.amount, a.asset, a.book, not a.may_go_negative as bounded
       from postings p join accounts a on a.id = p.account_id where p.entry_id = $1 order by p.id`, [input.entryId]);
    if (postings.length === 0) throw new DomainError('NOT_FOUND', `no entry ${input.entryId}`);
    // Balances move under us (other entries commit): read, post, and read again if the post found less.
    for (let attempt = 0; attempt < MAX_REVERSAL_ATTEMPTS; attempt++) {
      const out: Posting[] = [];
      const shortfall = { entitlement: 0n, holdings: 0n };
      let asset = '';
      for (const p of postings) {
        asset = p.asset;
        const negated = -p.amount;
        if (negated < 0n && p.bounded) {
          const { rows } = await q.query<{ available: bigint }>('select balance - held as available from accounts where id = $1', [p.account_id]);
          const available = rows[0]!.available > 0n ? rows[0]!.available : 0n;
          const take = available < -negated ? available : -negated;
          if (take > 0n) out.push({ accountId: p.account_id, amount: -take });
          shortfall[p.book === 'entitlement' ? 'entitlement' : 'holdings'] += -negated - take;
        } else {
          out.push({ accountId: p.account_id, amount: negated });
        }
      }
      if (shortfall.entitlement > 0n) out.push({ accountId: await this.systemAccountId(q, asset, 'house_suspense'), amount: -shortfall.entitlement });
      if (shortfall.holdings > 0n) out.push({ accountId: await this.systemAccountId(q, asset, 'house_wallet_suspense'), amount: -shortfall.holdings });
      const short = shortfall.entitlement > 0n || shortfall.holdings > 0n;
      await q.query('savepoint ledger_reverse_entry');
      try {
        const r = await this.postEntry(q, { idempotencyId: input.idempotencyId, type: short ? 'correction' : 'deposit_reversal', actor: input.actor,
          cause: short ? { ...input.cause, shortfall: true } : input.cause, reversesEntryId: input.entryId, postings: out.filter((x) => x.amount !== 0n) });
        await q.query('release savepoint ledger_reverse_entry');
        return { entryId: r.entryId, replayed: r.replayed, shortfall };
      } catch (error) {
        await q.query('rollback to savepoint ledger_reverse_entry');
        if (!(error instanceof DomainError && (error.code === 'INSUFFICIENT_FUNDS' || error.code === 'IDEMPOTENCY_CONFLICT'))) throw error;
        // IDEMPOTENCY_CONFLICT: reversed before, with amounts read then; take that entry as it is.
        if (error.code === 'IDEMPOTENCY_CONFLICT') {
          const { rows } = await q.query<{ id: number }>('select id from journal_entries where idempotency_id = $1', [input.idempotencyId]);
          if (rows[0]) return { entryId: rows[0].id, replayed: true, shortfall: { entitlement: 0n, holdings: 0n } };
          throw error;
        }
      }
    }
    throw new DomainError('INSUFFICIENT_FUNDS', `entry ${input.entryId} could not be reversed after ${MAX_REVERSAL_ATTEMPTS} attempts: balances kept moving`);
  }

  /** Book-entry transfer between two clients' entitlements (SEG-07). */
  async transfer(q: Queryable, input: {
    idempotencyId: string; fromClientId: string; toClientId: string; asset: string; amount: bigint;
    reference?: Record<string, unknown>; actor: string;
  }): Promise<EntryResult> {
    this.assets.requireActive(input.asset);
    if (input.amount <= 0n) throw new DomainError('AMOUNT_INVALID', 'amount must be greater than zero');
    const from = await this.clientAccountId(q, input.fromClientId, input.asset);
    const to = await this.clientAccountId(q, input.toClientId, input.asset);
    if (from === to) throw new DomainError('BAD_ARGUMENT', 'a transfer needs two different clients');
    return this.postEntry(q, {
      idempotencyId: input.idempotencyId, type: 'transfer', actor: input.actor, cause: input.reference ?? {},
      postings: [{ accountId: from, amount: -input.amount }, { accountId: to, amount: input.amount }],
    });
  }

  async getHold(q: Queryable, holdId: string): Promise<Hold | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(holdId)) return undefined;
    const { rows } = await q.query<HoldRow>(
      `select h.*, a.client_id, a.asset from holds h join accounts a on a.id = h.account_id where h.id = $1`, [holdId]);
    return rows[0] ? toHold(rows[0]) : undefined;
  }

  async expireHolds(max = 1000): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('select ledger_expire_holds($1) as n', [max]);
    return rows[0]!.n;
  }

  /** Balances per asset for one client, now or as of a past instant (SEG-08). */
  async clientBalances(q: Queryable, clientId: string, asOf?: Date): Promise<ClientAssetBalance[]> {
    const rows = asOf ? await this.accountBalancesAsOf(q, clientId, asOf) : await this.accountBalancesNow(q, clientId);
    const byAsset = new Map<string, ClientAssetBalance>();
    for (const asset of this.assets.list()) {
      byAsset.set(asset.code, { asset: asset.code, entitlement: { total: 0n, held: 0n, available: 0n }, holdings: { hot: 0n, cold: 0n, total: 0n } });
    }
    for (const r of rows) {
      const b = byAsset.get(r.asset);
      if (!b) continue;
      if (r.kind === 'client_entitlement') b.entitlement = { total: r.balance, held: r.held, available: r.balance - r.held };
      if (r.kind === 'client_wallet_hot') b.holdings.hot = r.balance;
      if (r.kind === 'client_wallet_cold') b.holdings.cold = r.balance;
      b.holdings.total = b.holdings.hot + b.holdings.cold;
    }
    return [...byAsset.values()];
  }

  private async accountBalancesNow(q: Queryable, clientId: string): Promise<AccountBalance[]> {
    const { rows } = await q.query<{ id: number; kind: string; asset: string; balance: bigint; held: bigint }>(
      'select id, kind, asset, balance, held from accounts where client_id = $1', [clientId]);
    return rows.map((r) => ({ accountId: r.id, kind: r.kind, asset: r.asset, balance: r.balance, held: r.held }));
  }

  private async accountBalancesAsOf(q: Queryable, clientId: string, asOf: Date): Promise<AccountBalance[]> {
    const { rows } = await q.query<{ id: number; kind: string; asset: string; balance: bigint | null; held: bigint | null }>(
      `select a.id, a.kind, a.asset,
         (select p.balance_after from postings p where p.account_id = a.id and p.created_at <= $2 order by p.id desc limit 1) as balance,
         (select sum(h.amount) from holds h where h.account_id = a.id and h.created_at <= $2
            and (h.resolved_at is null or h.resolved_at > $2)) as held
       from accounts a where a.client_id = $1`, [clientId, asOf]);
    return rows.map((r) => ({ accountId: r.id, kind: r.kind, asset: r.asset, balance: r.balance ?? 0n, held: r.held ?? 0n }));
  }

  async getEntry(q: Queryable, entryId: number): Promise<JournalEntry | undefined> {
    const entries = await this.listEntries(q, { entryId, limit: 1 });
    return entries[0];
  }

  async listEntries(q: Queryable, filter: { entryId?: number; accountId?: number; clientId?: string; afterId?: number; limit: number }): Promise<JournalEntry[]> {
    const limit = Math.min(Math.max(filter.limit, 1), MAX_LIST);
    const { rows } = await q.query<{
      id: number; idempotency_id: string; type: EntryType; cause: Record<string, unknown>; memo: string | null;
      entry_hash: string; reverses_entry_id: number | null; created_at: Date; postings: {
        accountId: number; accountCode: string; asset: string; book: string; amount: string; balanceAfter: string }[];
    }>(
      `select e.*, (select json_agg(json_build_object('accountId', p.account_id, 'accountCode', a.code, 'asset', p.asset,
                 'book', p.book, 'amount', p.amount::text, 'balanceAfter', p.balance_after::text) order by p.id)
               from postings p join accounts a on a.id = p.account_id where p.entry_id = e.id) as postings
       from journal_entries e
       where ($1::bigint is null or e.id = $1)
         and ($2::bigint is null or e.id > $2)
         and ($3::bigint is null or exists (select 1 from postings p where p.entry_id = e.id and p.account_id = $3))
         and ($4::uuid is null or exists (select 1 from postings p join accounts a on a.id = p.account_id
                                          where p.entry_id = e.id and a.client_id = $4))
       order by e.id limit $5`,
      [filter.entryId ?? null, filter.afterId ?? null, filter.accountId ?? null, filter.clientId ?? null, limit]);
    return rows.map((r) => ({
      id: r.id, idempotencyId: r.idempotency_id, type: r.type, cause: r.cause, memo: r.memo, entryHash: r.entry_hash,
      reversesEntryId: r.reverses_entry_id, createdAt: r.created_at,
      postings: (r.postings ?? []).map((p) => ({ ...p, amount: BigInt(p.amount), balanceAfter: BigInt(p.balanceAfter) })),
    }));
  }

  /**
   * SEG-08: every client's entitlement and holdings per asset as of an instant: each account's
   * balance_after of its last posting at or before `asOf` (a later movement changes nothing here).
   * Accounts without a posting by then are left out (their balance was 0).
   */
  async allClientBalancesAsOf(q: Queryable, asOf: Date, filter: { asset?: string } = {}): Promise<{ clientId: string; asset: string; entitlement: bigint; hot: bigint; cold: bigint }[]> {
    const { rows } = await q.query<{ client_id: string; asset: string; kind: string; balance: bigint }>(
      `select a.client_id, a.asset, a.kind, last.balance_after as balance
       from accounts a
       cross join lateral (select p.balance_after from postings p where p.account_id = a.id and p.created_at <= $1 order by p.id desc limit 1) last
       where a.client_id is not null and a.kind in ('client_entitlement', 'client_wallet_hot', 'client_wallet_cold')
         and ($2::text is null or a.asset = $2)
       order by a.client_id, a.asset`, [asOf, filter.asset ?? null]);
    const byKey = new Map<string, { clientId: string; asset: string; entitlement: bigint; hot: bigint; cold: bigint }>();
    for (const r of rows) {
      const key = `${r.client_id}\n${r.asset}`;
      const entry = byKey.get(key) ?? { clientId: r.client_id, asset: r.asset, entitlement: 0n, hot: 0n, cold: 0n };
      if (r.kind === 'client_entitlement') entry.entitlement = r.balance;
      if (r.kind === 'client_wallet_hot') entry.hot = r.balance;
      if (r.kind === 'client_wallet_cold') entry.cold = r.balance;
      byKey.set(key, entry);
    }
    return [...byKey.values()];
  }

  /** HOT-01: what the retail clients' own wallets hold of an asset, hot and cold. */
  async retailHoldings(q: Queryable, asset: string): Promise<{ hot: bigint; cold: bigint }> {
    const { rows } = await q.query<{ hot: bigint | null; cold: bigint | null }>(
      `select sum(case when a.kind = 'client_wallet_hot' then a.balance end) as hot, sum(case when a.kind = 'client_wallet_cold' then a.balance end) as cold
       from accounts a join clients c on c.id = a.client_id where c.classification = 'retail' and a.asset = $1`, [asset]);
    return { hot: rows[0]!.hot ?? 0n, cold: rows[0]!.cold ?? 0n };
  }

  /**
   * REC-01: every client-trust and house account with its balance as of `asOf`: the stored balance
   * less what was posted after `asOf`. When the books are whole this is the balance_after of the last
   * posting at or before `asOf` (docs/ledger.md, As-of balances); a balance changed without a posting
   * (by hand, as the database owner) shows here, so the reconciliation sees it against the chain.
   */
  async accountsAsOf(q: Queryable, asOf: Date): Promise<{ accountId: number; code: string; root: string; book: string; kind: string; asset: string; clientId: string | null; balance: bigint }[]> {
    const { rows } = await q.query<{ id: number; code: string; root: string; book: string; kind: string; asset: string; client_id: string | null; balance: bigint }>(
      `select a.id, a.code, a.root, a.book, a.kind, a.asset, a.client_id,
         a.balance - coalesce((select sum(p.amount) from postings p join journal_entries e on e.id = p.entry_id
                               where p.account_id = a.id and e.created_at > $1), 0) as balance
       from accounts a where a.root in ('client_trust', 'house') order by a.id`, [asOf]);
    return rows.map((r) => ({ accountId: r.id, code: r.code, root: r.root, book: r.book, kind: r.kind, asset: r.asset, clientId: r.client_id, balance: BigInt(r.balance) }));
  }

  /**
   * REC-02: what the journal booked on each holdings account up to `asOf`, summed per transaction it
   * names (cause.txid, or cause.gasTopUpTxid for the house gas of an ERC-20 payout) or, for an entry
   * that names none, per entry (`entry:<id>`).
   */
  async holdingsMovementsAsOf(q: Queryable, asOf: Date): Promise<{ account: string; key: string; txid: string | null; amount: bigint; bookedAt: Date; entryIds: number[] }[]> {
    const { rows } = await q.query<{ code: string; key: string; txid: string | null; amount: bigint; booked_at: Date; entry_ids: number[] }>(
      `select a.code, coalesce(e.cause->>'txid', e.cause->>'gasTopUpTxid', 'entry:' || e.id) as key, coalesce(e.cause->>'txid', e.cause->>'gasTopUpTxid') as txid, sum(p.amount) as amount,
              min(e.created_at) as booked_at, array_agg(distinct e.id) as entry_ids
       from postings p join accounts a on a.id = p.account_id join journal_entries e on e.id = p.entry_id
       where a.book = 'holdings' and a.root in ('client_trust', 'house') and e.created_at <= $1
       group by a.code, 2, 3`, [asOf]);
    return rows.map((r) => ({ account: r.code, key: r.key, txid: r.txid, amount: BigInt(r.amount), bookedAt: r.booked_at, entryIds: r.entry_ids.map(Number) }));
  }

  /** Σ balances per asset and book over all accounts: zero when the books are whole (SEG-06). */
  async controlTotals(q: Queryable): Promise<{ asset: string; book: string; total: bigint }[]> {
    const { rows } = await q.query<{ asset: string; book: string; total: bigint }>(
      'select asset, book, sum(balance) as total from accounts group by asset, book order by asset, book');
    return rows;
  }
}
