import { z } from 'zod';
import { defineRoute, READ_ROLES, type RouteDef } from '../api/route.ts';
import { limit, uuid } from '../api/schemas.ts';
import type { Client, ClientService } from './client-service.ts';

export const presentClient = (c: Client) => ({
  id: c.id, externalRef: c.externalRef, classification: c.classification, kzResident: c.kzResident, state: c.state,
  createdAt: c.createdAt.toISOString(),
});

export function clientRoutes(deps: { clients: ClientService }): RouteDef[] {
  const { clients } = deps;
  return [
    defineRoute({
      method: 'post', path: '/v1/clients', tag: 'clients', roles: ['exchange', 'admin'],
      summary: 'Open a client: classification and residency; opens its trust accounts for every asset',
      body: z.strictObject({
        externalRef: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
        classification: z.enum(['retail', 'professional', 'market_counterparty']),
        kzResident: z.boolean(),
      }),
      responses: { 201: 'Client opened', 409: 'CLIENT_EXISTS' },
      async handler({ body, q }) {
        const client = await clients.create(q, body);
        return { status: 201, body: presentClient(client), subject: client.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/clients', tag: 'clients', roles: READ_ROLES, summary: 'List clients (page with `after`)',
      query: z.strictObject({ externalRef: z.string().min(1).max(128).optional(), after: uuid.optional(), limit }),
      async handler({ query, q }) {
        const list = await clients.list(q, { externalRef: query.externalRef, afterCreatedId: query.after, limit: query.limit });
        return { status: 200, body: { clients: list.map(presentClient), next: list.length === query.limit ? list.at(-1)!.id : null } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/clients/:clientId', tag: 'clients', roles: READ_ROLES, summary: 'Read a client',
      params: z.strictObject({ clientId: uuid }),
      async handler({ params, q }) {
        return { status: 200, body: presentClient(await clients.get(q, params.clientId)) };
      },
    }),
  ];
}
