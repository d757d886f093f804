// Postgres access. Migrations run as the owner through knex; the service runs as the restricted
// amanat_app role through a pg Pool (one round trip per ledger call, no query builder on hot paths).
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { startPostgres, type PostgresServer } from './postgres-server.ts';

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../migrations');
export const APP_ROLE = 'amanat_app';

const NUMERIC_OID = 1700;
const INT8_OID = 20;

/** numeric(78,0) amounts come back as bigint; int8 ids and counts as number (checked safe). */
export const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === NUMERIC_OID) return (value: string) => BigInt(value);
    if (oid === INT8_OID) {
      return (value: string) => {
        const n = Number(value);
        if (!Number.isSafeInteger(n)) throw new Error(`int8 ${value} exceeds the safe integer range`);
        return n;
      };
    }
    return pg.types.getTypeParser(oid, format ?? 'text');
  },
} as pg.CustomTypesConfig;

export function createPool(connectionString: string, max: number, options: { setRole?: string } = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, types: pgTypes, idleTimeoutMillis: 30_000 });
  if (options.setRole) {
    const role = options.setRole;
    pool.on('connect', (client) => { void client.query(`set role ${pg.escapeIdentifier(role)}`); });
  }
  // A client that errors (server restart, admin shutdown, network) must not crash the process.
  // Idle clients: the pool drops them and emits 'error' on the pool. Checked-out clients: pg emits
  // 'error' on the client itself when no query is active at that moment (a transaction waiting on
  // the signer, say); without a listener that is an uncaught exception. The next query on such a
  // client fails, and release() drops it from the pool (it is no longer queryable).
  pool.on('error', () => undefined);
  pool.on('connect', (client) => { client.on('error', () => undefined); });
  return pool;
}

/** Connection-level failures: the server is down, restarting, unreachable or refused us for now. */
const UNAVAILABLE_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: terminating connection due to administrator command
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the database system is starting up / shutting down
  '53300', // too_many_connections
]);
const UNAVAILABLE_MESSAGES = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down|in recovery mode)|terminating connection due to administrator command/i;

/**
 * Whether an error means "Postgres cannot be reached right now" (retry later) rather than a fault
 * of the request or the code: refused or reset connections, SQLSTATE class 08 (connection
 * exception), 57P01/57P02/57P03, too many connections, and node-postgres's own messages for a dead
 * connection. The HTTP layer answers these with 503 DATABASE_UNAVAILABLE.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (UNAVAILABLE_NET_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}

export function createKnex(connectionString: string): Knex {
  return knexFactory({ client: 'pg', connection: connectionString, pool: { min: 0, max: 2 } });
}

export async function migrate(ownerUrl: string): Promise<string[]> {
  const knex = createKnex(ownerUrl);
  try {
    const [, applied] = (await knex.migrate.latest({ directory: MIGRATIONS_DIR, loadExtensions: ['.ts'], extension: 'ts' })) as [number, string[]];
    return applied;
  } finally {
    await knex.destroy();
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`create database ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/** Gives the app role a login password (roles are cluster-wide). */
export async function setAppRolePassword(ownerUrl: string, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await client.query(`alter role ${APP_ROLE} login password ${pg.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
}

function readOrCreateSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(24).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

export interface Database {
  readonly app: pg.Pool;
  readonly ownerUrl: string;
  readonly appUrl: string;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/** Opens (and with no DATABASE_URL, starts) Postgres, migrates, and returns the app pool. */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  let server: PostgresServer | undefined;
  let ownerUrl = config.database.url;
  if (!ownerUrl) {
    const superPassword = readOrCreateSecret(path.join(config.dataDir, 'secrets', 'pg-superuser.password'));
    server = await startPostgres({
      dataDir: path.join(config.dataDir, 'pg'),
      persistent: true,
      password: superPassword,
      port: config.database.embeddedPort || undefined,
      onLog: (line) => log.debug({ component: 'postgres' }, line),
    });
    await ensureDatabase(server.baseUrl, 'amanat');
    ownerUrl = withDatabase(server.baseUrl, 'amanat');
    log.info({ port: server.port, dataDir: path.join(config.dataDir, 'pg') }, 'embedded Postgres started');
  }
  const applied = await migrate(ownerUrl);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');

  let appUrl = config.database.appUrl;
  let pool: pg.Pool;
  if (appUrl) {
    pool = createPool(appUrl, config.database.poolMax);
  } else if (server) {
    const appPassword = readOrCreateSecret(path.join(config.dataDir, 'secrets', 'pg-app.password'));
    await setAppRolePassword(ownerUrl, appPassword);
    appUrl = withUser(ownerUrl, APP_ROLE, appPassword);
    pool = createPool(appUrl, config.database.poolMax);
  } else {
    log.warn('DATABASE_APP_URL is not set: connecting as the owner with SET ROLE amanat_app (set DATABASE_APP_URL in production)');
    appUrl = ownerUrl;
    pool = createPool(ownerUrl, config.database.poolMax, { setRole: APP_ROLE });
  }
  return {
    app: pool,
    ownerUrl,
    appUrl,
    embedded: server !== undefined,
    async close() {
      await pool.end();
      if (server) await server.stop();
    },
  };
}
