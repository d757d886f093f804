import { z } from 'zod';
import { defineRoute, READ_ROLES, type RouteDef } from '../api/route.ts';
import { assetCode, bigintId, decimalAmount, isoInstant, limit, reference, uuid } from '../api/schemas.ts';
import { DomainError } from '../platform/errors.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { Hold, JournalEntry, LedgerService } from './ledger-service.ts';
import type { Config } from '../platform/config.ts';

export function presentHold(assets: AssetRegistry, h: Hold): Record<string, unknown> {
  return {
    id: h.id, owner: h.owner, purpose: h.purpose, clientId: h.clientId, asset: h.asset, amount: assets.toDecimal(h.asset, h.amount), state: h.state,
    postedAmount: h.postedAmount === null ? null : assets.toDecimal(h.asset, h.postedAmount), entryId: h.entryId,
    reference: h.reference, expiresAt: h.expiresAt.toISOString(), committedAt: h.committedAt?.toISOString() ?? null, createdAt: h.createdAt.toISOString(),
    resolvedAt: h.resolvedAt?.toISOString() ?? null,
  };
}

export function presentEntry(assets: AssetRegistry, e: JournalEntry): Record<string, unknown> {
  return {
    id: e.id, idempotencyId: e.idempotencyId, type: e.type, cause: e.cause, memo: e.memo, entryHash: e.entryHash,
    reversesEntryId: e.reversesEntryId, createdAt: e.createdAt.toISOString(),
    postings: e.postings.map((p) => ({ accountId: p.accountId, account: p.accountCode, asset: p.asset, book: p.book,
      amount: assets.toDecimal(p.asset, p.amount), balanceAfter: assets.toDecimal(p.asset, p.balanceAfter) })),
  };
}

export function ledgerRoutes(deps: { ledger: LedgerService; clients: ClientService; assets: AssetRegistry; config: Config }): RouteDef[] {
  const { ledger, clients, assets, config } = deps;
  return [
    defineRoute({
      method: 'get', path: '/v1/clients/:clientId/balances', tag: 'ledger', roles: READ_ROLES,
      summary: 'Balances per asset: entitlement (total, held, available) and wallet holdings (hot, cold), now or as of an instant',
      params: z.strictObject({ clientId: uuid }),
      query: z.strictObject({ asOf: isoInstant.optional() }),
      async handler({ params, query, q }) {
        await clients.get(q, params.clientId);
        const asOf = query.asOf ? new Date(query.asOf) : undefined;
        const balances = await ledger.clientBalances(q, params.clientId, asOf);
        // DEP-02: deposits seen on-chain but not yet final are shown, never spendable.
        const pendingRows = asOf ? [] : (await q.query<{ asset: string; total: bigint }>(
          `select asset, sum(amount) as total from deposits where client_id = $1 and status = 'pending' group by asset`, [params.clientId])).rows;
        const pending = new Map(pendingRows.map((r) => [r.asset, r.total]));
        const d = (asset: string, v: bigint) => assets.toDecimal(asset, v);
        return { status: 200, body: {
          clientId: params.clientId, asOf: (asOf ?? new Date()).toISOString(),
          balances: balances.map((b) => ({
            asset: b.asset,
            entitlement: { total: d(b.asset, b.entitlement.total), held: d(b.asset, b.entitlement.held), available: d(b.asset, b.entitlement.available) },
            pendingDeposits: d(b.asset, pending.get(b.asset) ?? 0n),
            holdings: { hot: d(b.asset, b.holdings.hot), cold: d(b.asset, b.holdings.cold), total: d(b.asset, b.holdings.total) },
          })),
        } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/holds', tag: 'ledger', roles: ['exchange'],
      summary: 'Place a two-phase hold on a client’s available balance (pre-trade or withdrawal reservation)',
      body: z.strictObject({ clientId: uuid, asset: assetCode, amount: decimalAmount,
        expiresInSeconds: z.number().int().min(1).max(365 * 86_400).optional(), reference: reference.optional() }),
      responses: { 201: 'Hold placed', 409: 'INSUFFICIENT_FUNDS' },
      async handler({ body, q, idempotencyId, actorLabel }) {
        const ttl = body.expiresInSeconds ?? config.ledger.holdDefaultTtlSeconds;
        if (ttl > config.ledger.holdMaxTtlSeconds) throw new DomainError('BAD_ARGUMENT', `expiresInSeconds may be at most ${config.ledger.holdMaxTtlSeconds}`);
        const amount = assets.fromDecimal(body.asset, body.amount);
        if (amount === 0n) throw new DomainError('AMOUNT_INVALID', 'amount must be greater than zero');
        // The client's existence and state are checked by ledger_place_hold in the same round trip.
        const { hold } = await ledger.placeHold(q, { idempotencyId, clientId: body.clientId, asset: body.asset, amount,
          expiresAt: new Date(Date.now() + ttl * 1000), reference: body.reference ?? {}, owner: 'exchange', actor: actorLabel });
        return { status: 201, body: presentHold(assets, hold), subject: hold.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/holds/:holdId', tag: 'ledger', roles: READ_ROLES, summary: 'Read a hold',
      params: z.strictObject({ holdId: uuid }),
      async handler({ params, q }) {
        const hold = await ledger.getHold(q, params.holdId);
        if (!hold) throw new DomainError('HOLD_NOT_FOUND', `no hold ${params.holdId}`);
        return { status: 200, body: presentHold(assets, hold) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/holds/:holdId/void', tag: 'ledger', roles: ['exchange'],
      summary: 'Void a pending hold the exchange placed (release it whole); a hold owned by a withdrawal or another flow is refused with HOLD_NOT_OWNER',
      params: z.strictObject({ holdId: uuid }),
      responses: { 200: 'Voided', 409: 'HOLD_NOT_OWNER / HOLD_NOT_PENDING' },
      async handler({ params, q, actorLabel }) {
        const hold = await ledger.getHold(q, params.holdId);
        if (!hold) throw new DomainError('HOLD_NOT_FOUND', `no hold ${params.holdId}`);
        const voided = await ledger.releaseHold(q, params.holdId, 'exchange', actorLabel);
        return { status: 200, body: presentHold(assets, voided), subject: voided.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/holds/:holdId/post', tag: 'ledger', roles: ['exchange'],
      summary: 'Post a pending hold: move up to the held amount to another client (and an optional disclosed fee to the house); the remainder is released',
      params: z.strictObject({ holdId: uuid }),
      body: z.strictObject({
        amount: decimalAmount,
        toClientId: uuid,
        fee: z.strictObject({ amount: decimalAmount, feeScheduleVersion: z.string().min(1).max(64) }).optional(),
        reference: reference.optional(),
      }),
      responses: { 200: 'Posted', 409: 'HOLD_NOT_OWNER / HOLD_NOT_PENDING / HOLD_EXPIRED', 422: 'HOLD_AMOUNT_EXCEEDED' },
      async handler({ params, body, q, idempotencyId, actorLabel }) {
        const hold = await ledger.getHold(q, params.holdId);
        if (!hold) throw new DomainError('HOLD_NOT_FOUND', `no hold ${params.holdId}`);
        const amount = assets.fromDecimal(hold.asset, body.amount);
        const fee = body.fee ? assets.fromDecimal(hold.asset, body.fee.amount, 'fee.amount') : 0n;
        if (amount === 0n || fee >= amount) throw new DomainError('AMOUNT_INVALID', 'amount must be positive and larger than the fee');
        await clients.requireActive(q, body.toClientId);
        const credits = [{ accountId: await ledger.clientAccountId(q, body.toClientId, hold.asset), amount: amount - fee }];
        if (fee > 0n) credits.push({ accountId: await ledger.systemAccountId(q, hold.asset, 'house_fees'), amount: fee });
        const result = await ledger.postHold(q, {
          holdId: hold.id, owner: 'exchange', idempotencyId, type: fee > 0n ? 'fee' : 'transfer', debit: amount, credits, actor: actorLabel,
          cause: { holdId: hold.id, ...(body.fee ? { feeScheduleVersion: body.fee.feeScheduleVersion } : {}), ...(body.reference ?? {}) },
        });
        return { status: 200, body: { hold: presentHold(assets, result.hold), entryId: result.entryId }, subject: hold.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/transfers', tag: 'ledger', roles: ['exchange'],
      summary: 'Book-entry transfer between two clients’ entitlements (SEG-07)',
      body: z.strictObject({ fromClientId: uuid, toClientId: uuid, asset: assetCode, amount: decimalAmount, reference: reference.optional() }),
      responses: { 201: 'Transferred', 409: 'INSUFFICIENT_FUNDS' },
      async handler({ body, q, idempotencyId, actorLabel }) {
        const amount = assets.fromDecimal(body.asset, body.amount);
        await clients.requireActive(q, body.fromClientId);
        await clients.requireActive(q, body.toClientId);
        const result = await ledger.transfer(q, { idempotencyId, fromClientId: body.fromClientId, toClientId: body.toClientId,
          asset: body.asset, amount, reference: body.reference ?? {}, actor: actorLabel });
        return { status: 201, body: { entryId: result.entryId, entryHash: result.entryHash }, subject: String(result.entryId) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/journal/entries', tag: 'ledger', roles: READ_ROLES,
      summary: 'Journal entries with their postings, oldest first; page with `after`',
      query: z.strictObject({ clientId: uuid.optional(), accountId: bigintId.optional(), after: bigintId.optional(), limit }),
      async handler({ query, q }) {
        const entries = await ledger.listEntries(q, { clientId: query.clientId, accountId: query.accountId, afterId: query.after, limit: query.limit });
        return { status: 200, body: { entries: entries.map((e) => presentEntry(assets, e)), next: entries.length === query.limit ? entries.at(-1)!.id : null } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/journal/entries/:entryId', tag: 'ledger', roles: READ_ROLES, summary: 'One journal entry',
      params: z.strictObject({ entryId: bigintId }),
      async handler({ params, q }) {
        const entry = await ledger.getEntry(q, params.entryId);
        if (!entry) throw new DomainError('NOT_FOUND', `no entry ${params.entryId}`);
        return { status: 200, body: presentEntry(assets, entry) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/ledger/control-totals', tag: 'ledger', roles: ['treasury', 'auditor', 'admin'],
      summary: 'Σ of every account per asset and book: zero when no asset was created or lost (SEG-06)',
      async handler({ q }) {
        const totals = await ledger.controlTotals(q);
        return { status: 200, body: { totals: totals.map((t) => ({ asset: t.asset, book: t.book, total: t.total.toString(), balanced: t.total === 0n })) } };
      },
    }),
  ];
}
