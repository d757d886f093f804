import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { uuid } from '../api/schemas.ts';
import { ROLES, type ApiKey, type ApiKeyService } from './api-keys.ts';

const presentKey = (k: ApiKey) => ({
  id: k.id, name: k.name, role: k.role, keyPrefix: k.keyPrefix, createdBy: k.createdBy,
  createdAt: k.createdAt.toISOString(), revokedAt: k.revokedAt?.toISOString() ?? null,
});

export function apiKeyRoutes(deps: { apiKeys: ApiKeyService }): RouteDef[] {
  const { apiKeys } = deps;
  return [
    defineRoute({
      method: 'post', path: '/v1/api-keys', tag: 'admin', roles: ['admin'],
      summary: 'Create an API key bound to one role; the secret is shown once (a replay of the same call returns it again)',
      body: z.strictObject({ name: z.string().min(1).max(100), role: z.enum(ROLES) }),
      responses: { 201: 'Created' },
      async handler({ body, q, actor }) {
        const { key, secret } = await apiKeys.create(q, { name: body.name, role: body.role, createdBy: actor?.keyId ?? null });
        return { status: 201, body: { ...presentKey(key), secret }, subject: key.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/api-keys', tag: 'admin', roles: ['admin'], summary: 'List API keys (never their secrets)',
      async handler({ q }) {
        return { status: 200, body: { keys: (await apiKeys.list(q)).map(presentKey) } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/api-keys/:keyId/revoke', tag: 'admin', roles: ['admin'], summary: 'Revoke an API key',
      params: z.strictObject({ keyId: uuid }),
      async handler({ params, q }) {
        const key = await apiKeys.revoke(q, params.keyId);
        return { status: 200, body: presentKey(key), subject: key.id };
      },
    }),
  ];
}
