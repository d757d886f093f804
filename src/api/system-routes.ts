import type pg from 'pg';
import { defineRoute, type RouteDef } from './route.ts';
import type { HttpMetrics } from './metrics.ts';
import { buildOpenApi } from './openapi.ts';

export function systemRoutes(deps: { pool: pg.Pool; metrics: HttpMetrics; allRoutes: () => readonly RouteDef[]; version: string }): RouteDef[] {
  let openApiCache: unknown;
  return [
    defineRoute({
      method: 'get', path: '/healthz', tag: 'system', roles: 'public', summary: 'Liveness: the process answers',
      async handler() { return { status: 200, body: { status: 'ok' } }; },
    }),
    defineRoute({
      method: 'get', path: '/readyz', tag: 'system', roles: 'public', summary: 'Readiness: Postgres answers',
      responses: { 200: 'Ready', 503: 'Not ready' },
      async handler() {
        try {
          await deps.pool.query('select 1');
          return { status: 200, body: { status: 'ready', checks: { postgres: 'ok' } } };
        } catch {
          return { status: 503, body: { status: 'not_ready', checks: { postgres: 'down' } } };
        }
      },
    }),
    defineRoute({
      method: 'get', path: '/metrics', tag: 'system', roles: 'public', summary: 'Prometheus metrics',
      async handler() {
        return { status: 200, body: await deps.metrics.registry.metrics(), contentType: deps.metrics.registry.contentType };
      },
    }),
    defineRoute({
      method: 'get', path: '/openapi.json', tag: 'system', roles: 'public', summary: 'This API as OpenAPI 3, generated from the validating schemas',
      async handler() {
        openApiCache ??= buildOpenApi(deps.allRoutes(), deps.version);
        return { status: 200, body: openApiCache };
      },
    }),
  ];
}
