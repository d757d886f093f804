// Builds the Express app from route declarations: auth → role → validation → idempotency →
// handler in one transaction → audit. Every failure is problem+json with a stable code; only an
// unexpected error is a 500, logged in full with an error id.
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response, type NextFunction } from 'express';
import pg from 'pg';
import type { z } from 'zod';
import type { Logger } from '../platform/logger.ts';
import { DomainError, domainErrorFromPg, isDomainError, type ErrorCode } from '../platform/errors.ts';
import { hashOf } from '../platform/canonical.ts';
import { isChainError } from '../chains/errors.ts';
import { SignerRefusal } from '../signer-client/signer-client.ts';
import { isDatabaseUnavailable } from '../platform/db.ts';
import type { ApiKeyService, Actor } from '../auth/api-keys.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { RouteDef, RouteResult } from './route.ts';
import { problem, statusFor } from './http-errors.ts';
import type { HttpMetrics } from './metrics.ts';

const { escapeLiteral } = pg;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,255}$/;
const RETRYABLE_PG = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 3;

export interface HttpAppDeps {
  routes: readonly RouteDef[];
  pool: pg.Pool;
  apiKeys: ApiKeyService;
  audit: AuditLog;
  metrics: HttpMetrics;
  log: Logger;
  bodyLimitBytes: number;
}

/** Errors of every layer to one stable code; undefined for what is truly unexpected (a 500). */
function toDomainError(error: unknown): DomainError | undefined {
  if (isDomainError(error)) return error;
  const fromPg = domainErrorFromPg(error);
  if (fromPg) return fromPg;
  if (isChainError(error)) {
    if (error.code === 'ADDRESS_INVALID' || error.code === 'ADDRESS_UNSUPPORTED') return new DomainError('ADDRESS_INVALID', error.message, error.data);
    if (error.code === 'ADDRESS_WRONG_NETWORK') return new DomainError('ADDRESS_WRONG_NETWORK', error.message, error.data);
    if (error.code === 'AMOUNT_INVALID') return new DomainError('AMOUNT_INVALID', error.message, error.data);
    return new DomainError('CHAIN_UNAVAILABLE', `${error.code}: ${error.message}`, error.data);
  }
  if (error instanceof SignerRefusal) return new DomainError('SIGNER_UNAVAILABLE', `the signer refused: ${error.code}: ${error.message}`, { signerCode: error.code });
  // Postgres down, restarting or unreachable: a clean 503 the caller may retry with the same
  // Idempotency-Key (the transaction either committed whole, and the retry replays its answer, or not at all).
  if (isDatabaseUnavailable(error)) return new DomainError('DATABASE_UNAVAILABLE', 'the database is unavailable; retry later (with the same Idempotency-Key)');
  return undefined;
}

function json(res: Response, status: number, body: unknown, contentType = 'application/json'): void {
  res.status(status).type(contentType).send(JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

function sendProblem(res: Response, code: ErrorCode, detail: string, extra: Record<string, unknown> = {}): void {
  // A component that is down (database, signer, chain node): the caller may come back shortly.
  if (statusFor(code) === 503) res.setHeader('Retry-After', '1');
  json(res, statusFor(code), problem(code, detail, extra), 'application/problem+json');
}

function validationDetail(where: string, error: z.ZodError): { detail: string; errors: { path: string; message: string }[] } {
  const errors = error.issues.slice(0, 20).map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return { detail: `invalid ${where}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors };
}

function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7).trim();
  const alt = req.headers['x-api-key'];
  return typeof alt === 'string' ? alt.trim() : undefined;
}

export function buildHttpApp(deps: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      deps.metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      deps.metrics.duration.observe({ method: req.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  });
  app.use(express.json({ limit: deps.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));

  for (const route of deps.routes) {
    app[route.method](route.path, (req: Request, res: Response, next: NextFunction) => {
      handle(route, req, res).catch(next);
    });
  }

  app.use((req: Request, res: Response) => {
    sendProblem(res, 'NOT_FOUND', `no route ${req.method} ${req.path}`);
  });

  // Body parser errors and anything unexpected.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = error as { type?: string; status?: number; expose?: boolean };
    if (e && typeof e === 'object' && typeof e.type === 'string') {
      if (e.type === 'entity.parse.failed') return sendProblem(res, 'VALIDATION_FAILED', 'the body is not valid JSON');
      if (e.type === 'entity.too.large') return sendProblem(res, 'PAYLOAD_TOO_LARGE', `the body exceeds ${deps.bodyLimitBytes} bytes`);
      if (e.type === 'charset.unsupported' || e.type === 'encoding.unsupported') return sendProblem(res, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported charset or encoding');
      if (e.status && e.status >= 400 && e.status < 500) return sendProblem(res, 'VALIDATION_FAILED', 'the request could not be read');
    }
    if (error instanceof URIError) return sendProblem(res, 'VALIDATION_FAILED', 'malformed URL encoding');
    // Failures outside a handler's own catch (authentication, pool.connect, an idempotency replay)
    // map the same way: a database that is down is a 503, never a 500.
    const domain = toDomainError(error);
    if (domain && !res.headersSent) {
      deps.log.warn({ code: domain.code, method: req.method, path: req.path, detail: error instanceof Error ? error.message : String(error) }, 'request failed');
      return sendProblem(res, domain.code, domain.message, domain.data);
    }
    const errorId = randomUUID();
    deps.log.error({ err: error, errorId, method: req.method, path: req.path }, 'unhandled error');
    if (!res.headersSent) sendProblem(res, 'INTERNAL', 'internal error', { errorId });
  });

  async function authenticate(route: RouteDef, req: Request): Promise<Actor | null> {
    if (route.roles === 'public') return null;
    const secret = bearer(req);
    if (!secret) throw new DomainError('UNAUTHENTICATED', 'an API key is required (Authorization: Bearer …)');
    const actor = await deps.apiKeys.authenticate(secret);
    if (!actor) throw new DomainError('UNAUTHENTICATED', 'unknown or revoked API key');
    if (!route.roles.includes(actor.role)) {
      // REC-05: an auditor's attempt at a route it may not call (any mutating one) is in the access log too.
      if (actor.role === 'auditor') {
        await deps.audit.append(deps.pool, { actor: `apikey:${actor.keyId}`, action: `${route.method.toUpperCase()} ${route.path}`, subject: req.path,
          outcome: 'rejected:FORBIDDEN', details: { status: 403, path: req.path, accessLog: 'auditor' } });
      }
      throw new DomainError('FORBIDDEN', `role ${actor.role} may not call ${route.method.toUpperCase()} ${route.path}`, { allowedRoles: route.roles });
    }
    return actor;
  }

  /** Postgres text cannot hold U+0000; refuse it at the edge for every field of every route. */
  function containsNul(value: unknown, depth = 0): boolean {
    if (depth > 32) return true;
    if (typeof value === 'string') return value.includes('\u0000');
    if (Array.isArray(value)) return value.some((v) => containsNul(v, depth + 1));
    if (value && typeof value === 'object') return Object.entries(value).some(([k, v]) => k.includes('\u0000') || containsNul(v, depth + 1));
    return false;
  }

  function parse(route: RouteDef, req: Request): { params: unknown; query: unknown; body: unknown } {
    if (containsNul(req.params) || containsNul(req.query) || containsNul(req.body)) {
      throw new DomainError('VALIDATION_FAILED', 'the request contains a NUL character');
    }
    const out: { params: unknown; query: unknown; body: unknown } = { params: undefined, query: undefined, body: undefined };
    const parts = [['params', route.params, req.params], ['query', route.query, req.query], ['body', route.body, req.body]] as const;
    for (const [where, schema, value] of parts) {
      if (!schema) {
        if (where === 'body' && value !== undefined && !(typeof value === 'object' && value !== null && Object.keys(value).length === 0)) {
          throw new DomainError('VALIDATION_FAILED', 'this route takes no body');
        }
        if (where === 'query' && value && typeof value === 'object' && Object.keys(value).length > 0) {
          throw new DomainError('VALIDATION_FAILED', 'this route takes no query parameters');
        }
        continue;
      }
      const result = schema.safeParse(where === 'body' && value === undefined ? undefined : value);
      if (!result.success) {
        const { detail, errors } = validationDetail(where, result.error);
        throw new DomainError('VALIDATION_FAILED', detail, { errors });
      }
      out[where] = result.data;
    }
    return out;
  }

  async function handle(route: RouteDef, req: Request, res: Response): Promise<void> {
    let actor: Actor | null;
    let input: { params: unknown; query: unknown; body: unknown };
    try {
      actor = await authenticate(route, req);
      input = parse(route, req);
    } catch (error) {
      if (isDomainError(error)) return sendProblem(res, error.code, error.message, error.data);
      throw error;
    }
    const actorLabel = actor ? `apikey:${actor.keyId}` : 'public';
    const requestHash = hashOf({ method: route.method, path: req.path, body: req.body ?? null });

    if (!route.mutating) {
      // REC-05: every read by an auditor is in the audit log, written before the answer goes out
      // (no log row, no data).
      const auditorRead = async (outcome: string, status: number) => {
        if (actor?.role !== 'auditor') return;
        await deps.audit.append(deps.pool, { actor: actorLabel, action: `GET ${route.path}`, subject: req.path, requestHash, outcome,
          details: { status, path: req.path, query: input.query ?? null, accessLog: 'auditor' } });
      };
      try {
        const result = await route.handler({ ...input, actor, actorLabel, q: deps.pool, requestHash, idempotencyId: '' });
        await auditorRead('ok', result.status);
        return send(res, result);
      } catch (error) {
        const domain = toDomainError(error);
        if (domain) {
          await auditorRead(`rejected:${domain.code}`, statusFor(domain.code));
          return sendProblem(res, domain.code, domain.message, domain.data);
        }
        throw error;
      }
    }

    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
      return sendProblem(res, 'IDEMPOTENCY_KEY_REQUIRED', 'mutating calls need an Idempotency-Key header of 1-255 characters [A-Za-z0-9_.:-]');
    }
    const keyId = actor?.keyId;
    if (!keyId) throw new Error('mutating routes must not be public');
    const idempotencyId = `api:${keyId}:${key}`;
    const action = `${route.method.toUpperCase()} ${route.path}`;

    const L = escapeLiteral;
    const replayStored = async (): Promise<boolean> => {
      const { rows } = await deps.pool.query<{ request_hash: string; status_code: number; response: unknown }>(
        'select request_hash, status_code, response from idempotency_keys where api_key_id = $1 and key = $2', [keyId, key]);
      const first = rows[0];
      if (!first) return false;
      if (first.request_hash !== requestHash) {
        sendProblem(res, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with another request');
        return true;
      }
      res.setHeader('Idempotent-Replayed', 'true');
      json(res, first.status_code, first.response, first.status_code >= 400 ? 'application/problem+json' : 'application/json');
      return true;
    };

    for (let attempt = 1; ; attempt++) {
      const client = await deps.pool.connect();
      let released = false;
      try {
        // Round trip 1: begin, and look for an earlier answer under this key. (Multi-statement
        // queries cannot take parameters: literals are escaped by node-pg; key and hash were validated.)
        const found = (await client.query(
          `begin; select request_hash, status_code, response from idempotency_keys
           where api_key_id = ${L(keyId)} and key = ${L(key)}`)) as unknown as pg.QueryResult[];
        if (found[1]!.rowCount! > 0) {
          await client.query('rollback');
          client.release();
          released = true;
          if (await replayStored()) return;
          if (attempt >= MAX_ATTEMPTS) throw new Error('idempotency record vanished');
          continue;
        }
        // Round trip 2..n: the work.
        const result = await route.handler({ ...input, actor, actorLabel, q: client, requestHash, idempotencyId });
        const body = JSON.parse(JSON.stringify(result.body ?? null, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown;
        // Last round trip: store the answer under the key, audit the call, commit. A concurrent
        // call with the same key that committed first makes this insert fail: its answer wins and
        // this transaction's work is rolled back.
        const details = JSON.stringify({ status: result.status, idempotencyKey: key, path: req.path });
        await client.query(
          `insert into idempotency_keys (api_key_id, key, method, path, request_hash, status_code, response)
             values (${L(keyId)}, ${L(key)}, ${L(route.method)}, ${L(req.path)}, ${L(requestHash)}, ${Number(result.status)}, ${L(JSON.stringify(body))}::jsonb);
           select audit_append(${L(actorLabel)}, ${L(action)}, ${result.subject === undefined ? 'null' : L(result.subject)}, ${L(requestHash)}, 'ok', ${L(details)}::jsonb);
           commit`);
        return send(res, { ...result, body });
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        client.release();
        released = true;
        const pgError = error as { code?: string; constraint?: string };
        if (pgError.code === '23505' && pgError.constraint === 'idempotency_keys_pkey' && (await replayStored())) return;
        if (pgError.code && RETRYABLE_PG.has(pgError.code) && attempt < MAX_ATTEMPTS) continue;
        const domain = toDomainError(error);
        if (!domain) throw error;
        const status = statusFor(domain.code);
        // Malformed or unknown references change nothing, not even the audit log.
        if (status !== 409 && status !== 422) return sendProblem(res, domain.code, domain.message, domain.data);
        // A refused call is an outcome too: remember it for replays and record it in the audit log,
        // unless a concurrent call with the same key answered first.
        const body = problem(domain.code, domain.message, domain.data);
        const stored = await deps.pool.query(
          `with i as (insert into idempotency_keys (api_key_id, key, method, path, request_hash, status_code, response)
                      values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning 1)
           select audit_append($8, $9, null, $5, $10, $11) from i`,
          [keyId, key, route.method, req.path, requestHash, body.status, JSON.stringify(body), actorLabel, action,
            `rejected:${domain.code}`, { status: body.status, idempotencyKey: key, path: req.path }]);
        if (stored.rowCount === 0 && (await replayStored())) return;
        return json(res, body.status, body, 'application/problem+json');
      } finally {
        if (!released) client.release();
      }
    }
  }

  function send(res: Response, result: RouteResult): void {
    for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
    // A download (a report's PDF, CSV or JSON bytes) goes out as the very bytes.
    if (result.contentType && (typeof result.body === 'string' || Buffer.isBuffer(result.body))) {
      res.status(result.status).type(result.contentType).send(result.body);
      return;
    }
    json(res, result.status, result.body);
  }

  return app;
}
