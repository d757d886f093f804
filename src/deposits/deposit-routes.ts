import { z } from 'zod';
import { defineRoute, READ_ROLES, type RouteDef } from '../api/route.ts';
import { limit, uuid } from '../api/schemas.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import { readEvents } from '../events/event-feed.ts';

export function depositRoutes(deps: { assets: AssetRegistry }): RouteDef[] {
  const { assets } = deps;
  return [
    defineRoute({
      method: 'get', path: '/v1/deposits', tag: 'deposits', roles: READ_ROLES,
      summary: 'Deposits, newest last: pending (visible, not spendable), credited, orphaned, reversed, suspense',
      query: z.strictObject({ clientId: uuid.optional(), status: z.enum(['pending', 'credited', 'orphaned', 'reversed', 'suspense']).optional(), limit }),
      async handler({ query, q }) {
        const { rows } = await q.query<{ id: string; chain: string; asset: string; txid: string; output_index: number | null; address: string; wallet_id: string;
          client_id: string | null; tier: string; amount: bigint; block_height: number; block_hash: string; status: string; generation: number;
          credit_entry_id: number | null; reversal_entry_id: number | null; detected_at: Date; updated_at: Date }>(
          `select * from deposits where ($1::uuid is null or client_id = $1) and ($2::text is null or status = $2)
           order by detected_at desc limit $3`, [query.clientId ?? null, query.status ?? null, query.limit]);
        return { status: 200, body: { deposits: rows.reverse().map((d) => ({
          id: d.id, chain: d.chain, asset: d.asset, txid: d.txid, outputIndex: d.output_index, address: d.address, walletId: d.wallet_id,
          clientId: d.client_id, tier: d.tier, amount: assets.toDecimal(d.asset, d.amount), blockHeight: d.block_height, blockHash: d.block_hash,
          status: d.status, generation: d.generation, creditEntryId: d.credit_entry_id, reversalEntryId: d.reversal_entry_id,
          detectedAt: d.detected_at.toISOString(), updatedAt: d.updated_at.toISOString(),
        })) } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/quarantine', tag: 'deposits', roles: ['treasury', 'auditor', 'admin'],
      summary: 'Transfers of tokens that are not admitted (DEP-07): never in balances',
      query: z.strictObject({ limit }),
      async handler({ query, q }) {
        const { rows } = await q.query(
          `select chain, token_contract, txid, address, wallet_id, amount::text as amount_base_units, block_height, status, detected_at
           from token_quarantine order by id desc limit $1`, [query.limit]);
        return { status: 200, body: { quarantined: rows } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/events', tag: 'events', roles: ['exchange', 'auditor', 'admin'],
      summary: 'The events feed: deposits pending / credited / reversed and more, oldest first; poll with after=<last id>',
      query: z.strictObject({ after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0), limit, clientId: uuid.optional() }),
      async handler({ query, q }) {
        const events = await readEvents(q, { after: query.after, limit: query.limit, clientId: query.clientId });
        return { status: 200, body: { events: events.map((e) => ({ ...e, createdAt: e.createdAt.toISOString() })), next: events.at(-1)?.id ?? query.after } };
      },
    }),
  ];
}
