// Every route is declared once: method, path, roles, schemas, handler. The same declaration
// drives validation, authorization, idempotency, the OpenAPI document and the route × role test.
import type { z } from 'zod';
import type { Actor, Role } from '../auth/api-keys.ts';
import type { Queryable } from '../platform/tx.ts';

export type Method = 'get' | 'post' | 'patch' | 'delete';

type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  actor: Actor | null;
  /** `apikey:<id>` or `public`: what the audit log records. */
  actorLabel: string;
  /** Inside the request's transaction for mutating routes; the pool for reads. */
  q: Queryable;
  requestHash: string;
  /** Scoped by the caller's key: use as the idempotency id of what the call writes. */
  idempotencyId: string;
}

export interface RouteResult {
  status: number;
  body: unknown;
  /** What the call changed (id), for the audit log. */
  subject?: string;
  contentType?: string;
  /** Extra response headers (the console's Content-Security-Policy, for one). */
  headers?: Readonly<Record<string, string>>;
}

export interface RouteDef {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  roles: readonly Role[] | 'public';
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Mutating routes need an Idempotency-Key and run in one transaction. Default: method !== 'get'. */
  mutating: boolean;
  responses: Record<number, string>;
  handler(ctx: RouteContext<unknown, unknown, unknown>): Promise<RouteResult>;
}

export function defineRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(def: {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  roles: readonly Role[] | 'public';
  params?: P;
  query?: Q;
  body?: B;
  responses?: Record<number, string>;
  handler(ctx: RouteContext<Infer<P>, Infer<Q>, Infer<B>>): Promise<RouteResult>;
}): RouteDef {
  return {
    ...def,
    mutating: def.method !== 'get',
    responses: def.responses ?? { 200: 'OK' },
    handler: def.handler as RouteDef['handler'],
  } as RouteDef;
}

export const READ_ROLES: readonly Role[] = ['exchange', 'treasury', 'auditor', 'admin'];
