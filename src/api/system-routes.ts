import type pg from 'pg';
import { defineRoute, type RouteDef } from './route.ts';
import type { HttpMetrics } from './metrics.ts';
import { buildOpenApi } from './openapi.ts';

/** How long one readiness probe may take before its component counts as down. */
export const READY_CHECK_TIMEOUT_MS = 2_000;

/** What /readyz asks: each optional, present when the service uses it. */
export interface ReadinessDeps {
  pool: pg.Pool;
  /** The signer (its /health covers its HSM sessions). */
  signer?: { health(timeoutMs?: number): Promise<unknown> };
  /** The chain nodes the scanners and the withdrawal pipeline talk to. */
  chains?: {
    bitcoin?: { rpc?: { getBlockCount(): Promise<number> } };
    ethereum?: { rpc?: { getBlockNumber(): Promise<number> } };
  };
}

type CheckResult = 'ok' | 'down';

async function probe(work: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => { timer = setTimeout(() => resolve('down'), timeoutMs); });
  try {
    return await Promise.race([work().then(() => 'ok' as const, () => 'down' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Readiness, component by component: Postgres, the signer and each chain node, probed in parallel
 * with a bounded wait. 200 when all answer; 503 naming the ones that do not (`down`). Liveness
 * (/healthz) never looks at them: a dependency that is down pauses flows, it is no reason to
 * restart this process.
 */
export async function readiness(deps: ReadinessDeps, timeoutMs = READY_CHECK_TIMEOUT_MS): Promise<{ ready: boolean; checks: Record<string, CheckResult>; down: string[] }> {
  const probes: [string, () => Promise<unknown>][] = [['postgres', () => deps.pool.query('select 1')]];
  if (deps.signer) { const signer = deps.signer; probes.push(['signer', () => signer.health(timeoutMs)]); }
  const bitcoin = deps.chains?.bitcoin?.rpc;
  if (bitcoin) probes.push(['bitcoin', () => bitcoin.getBlockCount()]);
  const ethereum = deps.chains?.ethereum?.rpc;
  if (ethereum) probes.push(['ethereum', () => ethereum.getBlockNumber()]);
  const results = await Promise.all(probes.map(async ([name, work]) => [name, await probe(work, timeoutMs)] as const));
  const checks = Object.fromEntries(results);
  const down = results.filter(([, r]) => r === 'down').map(([name]) => name);
  return { ready: down.length === 0, checks, down };
}

export function systemRoutes(deps: ReadinessDeps & { metrics: HttpMetrics; allRoutes: () => readonly RouteDef[]; version: string }): RouteDef[] {
  let openApiCache: unknown;
  return [
    defineRoute({
      method: 'get', path: '/healthz', tag: 'system', roles: 'public', summary: 'Liveness: the process answers (nothing else is checked)',
      async handler() { return { status: 200, body: { status: 'ok' } }; },
    }),
    defineRoute({
      method: 'get', path: '/readyz', tag: 'system', roles: 'public',
      summary: 'Readiness: Postgres, the signer and each chain node answer; 503 names the components that are down',
      responses: { 200: 'Ready', 503: 'Not ready: `down` lists the components that do not answer' },
      async handler() {
        const { ready, checks, down } = await readiness(deps);
        return ready
          ? { status: 200, body: { status: 'ready', checks } }
          : { status: 503, body: { status: 'not_ready', checks, down }, headers: { 'Retry-After': '1' } };
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
