// Config is one typed, documented, frozen object built once. process.env is read here only.
// Secrets are references (file paths) and are never logged.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DomainError } from './errors.ts';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Each key: environment variable, default, description. */
export const configSchema = z.object({
  env: z.enum(['development', 'test', 'production']).default('development')
    .describe('AMANAT_ENV: development enables embedded components and dev-only routes'),
  dataDir: z.string().min(1).default('./data')
    .describe('AMANAT_DATA_DIR: where embedded Postgres, dev chains, signer tokens and generated secrets live'),
  http: z.object({
    host: z.string().min(1).default('127.0.0.1').describe('HTTP_HOST: listen address'),
    port: z.coerce.number().int().min(0).max(65535).default(8080).describe('HTTP_PORT: listen port (0 = any free port)'),
    bodyLimitBytes: z.coerce.number().int().min(1024).max(10_485_760).default(65_536)
      .describe('HTTP_BODY_LIMIT_BYTES: largest accepted request body'),
  }),
  database: z.object({
    url: z.string().url().optional()
      .describe('DATABASE_URL (or DATABASE_URL_FILE): owner connection used for migrations; unset = embedded Postgres'),
    appUrl: z.string().url().optional()
      .describe('DATABASE_APP_URL (or DATABASE_APP_URL_FILE): connection as the restricted amanat_app role'),
    poolMax: z.coerce.number().int().min(1).max(200).default(20).describe('DATABASE_POOL_MAX: connections per process'),
    embeddedPort: z.coerce.number().int().min(0).max(65535).default(0)
      .describe('EMBEDDED_PG_PORT: port of the embedded Postgres (0 = any free port)'),
  }),
  logLevel: logLevel.default('info').describe('LOG_LEVEL'),
  auth: z.object({
    apiKeyCacheMs: z.coerce.number().int().min(0).max(60_000).default(5_000)
      .describe('API_KEY_CACHE_MS: how long a verified API key is cached (revocation delay)'),
    bootstrapAdminKeyFile: z.string().optional()
      .describe('BOOTSTRAP_ADMIN_KEY_FILE: where the first admin key is written (default <dataDir>/secrets/bootstrap-admin.key)'),
  }),
  ledger: z.object({
    holdDefaultTtlSeconds: z.coerce.number().int().min(1).max(30 * 86_400).default(86_400)
      .describe('HOLD_DEFAULT_TTL_SECONDS: expiry of a hold that names none'),
    holdMaxTtlSeconds: z.coerce.number().int().min(1).max(365 * 86_400).default(30 * 86_400)
      .describe('HOLD_MAX_TTL_SECONDS: the longest hold allowed'),
    expiryIntervalMs: z.coerce.number().int().min(100).max(3_600_000).default(1_000)
      .describe('HOLD_EXPIRY_INTERVAL_MS: how often expired holds are released'),
  }),
  audit: z.object({
    sealIntervalMs: z.coerce.number().int().min(50).max(60_000).default(500)
      .describe('AUDIT_SEAL_INTERVAL_MS: how often new audit rows are sealed into the hash chain'),
  }),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

type Env = Record<string, string | undefined>;

function secretFrom(env: Env, key: string): string | undefined {
  const file = env[`${key}_FILE`];
  if (file) {
    if (!existsSync(file)) throw new DomainError('CONFIG_INVALID', `${key}_FILE points to a missing file`, { key: `${key}_FILE` });
    return readFileSync(file, 'utf8').trim();
  }
  return env[key];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Builds the config from the environment and an optional JSON file (AMANAT_CONFIG_FILE). */
export function loadConfig(env: Env = process.env): Config {
  let fileValues: Record<string, unknown> = {};
  if (env.AMANAT_CONFIG_FILE) {
    try {
      fileValues = JSON.parse(readFileSync(env.AMANAT_CONFIG_FILE, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new DomainError('CONFIG_INVALID', `AMANAT_CONFIG_FILE cannot be read as JSON: ${(error as Error).message}`, { key: 'AMANAT_CONFIG_FILE' });
    }
  }
  const pick = (k: string) => env[k] === '' ? undefined : env[k];
  const raw = {
    ...fileValues,
    env: pick('AMANAT_ENV') ?? fileValues.env,
    dataDir: pick('AMANAT_DATA_DIR') ?? fileValues.dataDir,
    logLevel: pick('LOG_LEVEL') ?? fileValues.logLevel,
    http: { ...(fileValues.http as object), host: pick('HTTP_HOST'), port: pick('HTTP_PORT'), bodyLimitBytes: pick('HTTP_BODY_LIMIT_BYTES') },
    database: {
      ...(fileValues.database as object),
      url: secretFrom(env, 'DATABASE_URL'), appUrl: secretFrom(env, 'DATABASE_APP_URL'),
      poolMax: pick('DATABASE_POOL_MAX'), embeddedPort: pick('EMBEDDED_PG_PORT'),
    },
    auth: { ...(fileValues.auth as object), apiKeyCacheMs: pick('API_KEY_CACHE_MS'), bootstrapAdminKeyFile: pick('BOOTSTRAP_ADMIN_KEY_FILE') },
    ledger: {
      ...(fileValues.ledger as object),
      holdDefaultTtlSeconds: pick('HOLD_DEFAULT_TTL_SECONDS'), holdMaxTtlSeconds: pick('HOLD_MAX_TTL_SECONDS'),
      expiryIntervalMs: pick('HOLD_EXPIRY_INTERVAL_MS'),
    },
    audit: { ...(fileValues.audit as object), sealIntervalMs: pick('AUDIT_SEAL_INTERVAL_MS') },
  };
  const stripUndefined = (o: unknown): unknown => {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return o;
    return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k, stripUndefined(v)]));
  };
  const parsed = configSchema.safeParse(stripUndefined(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.');
    throw new DomainError('CONFIG_INVALID', `config key ${key}: ${issue.message}`, { key });
  }
  const config = parsed.data;
  config.dataDir = path.resolve(config.dataDir);
  return deepFreeze(config);
}

/** The config with secrets redacted, for the startup log. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const redactUrl = (u?: string) => {
    if (!u) return u;
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  };
  return { ...config, database: { ...config.database, url: redactUrl(config.database.url), appUrl: redactUrl(config.database.appUrl) } };
}
