// API keys: random 32-byte secrets shown once, stored as SHA-256 hashes, each bound to one role.
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../platform/canonical.ts';
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';

export const ROLES = ['exchange', 'treasury', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  keyPrefix: string;
  createdBy: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface Actor { keyId: string; role: Role; name: string }

interface ApiKeyRow {
  id: string; name: string; role: Role; key_prefix: string; created_by: string | null; created_at: Date; revoked_at: Date | null;
}
const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id, name: r.name, role: r.role, keyPrefix: r.key_prefix, createdBy: r.created_by, createdAt: r.created_at, revokedAt: r.revoked_at,
});

const KEY_FORMAT = /^amk_[A-Za-z0-9_-]{43}$/;
const CACHE_MAX = 10_000;

export class ApiKeyService {
  private readonly cache = new Map<string, { actor: Actor | null; until: number }>();

  constructor(private readonly db: Queryable, private readonly cacheMs: number) {}

  async create(q: Queryable, input: { name: string; role: Role; createdBy: string | null }): Promise<{ key: ApiKey; secret: string }> {
    const secret = `amk_${randomBytes(32).toString('base64url')}`;
    const { rows } = await q.query<ApiKeyRow>(
      'insert into api_keys (name, role, key_hash, key_prefix, created_by) values ($1, $2, $3, $4, $5) returning *',
      [input.name, input.role, sha256Hex(secret), secret.slice(0, 10), input.createdBy]);
    return { key: toApiKey(rows[0]!), secret };
  }

  async list(q: Queryable): Promise<ApiKey[]> {
    const { rows } = await q.query<ApiKeyRow>('select * from api_keys order by created_at, id');
    return rows.map(toApiKey);
  }

  async revoke(q: Queryable, id: string): Promise<ApiKey> {
    const { rows } = await q.query<ApiKeyRow>(
      'update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1 returning *', [id]);
    if (rows.length === 0) throw new DomainError('API_KEY_NOT_FOUND', `no API key ${id}`);
    this.cache.clear();
    return toApiKey(rows[0]!);
  }

  /** Resolves a presented secret to its actor; null when unknown or revoked. */
  async authenticate(secret: string): Promise<Actor | null> {
    if (!KEY_FORMAT.test(secret)) return null;
    const hash = sha256Hex(secret);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.actor;
    const { rows } = await this.db.query<ApiKeyRow>('select * from api_keys where key_hash = $1', [hash]);
    const row = rows[0];
    const actor = row && row.revoked_at === null ? { keyId: row.id, role: row.role, name: row.name } : null;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    if (this.cacheMs > 0) this.cache.set(hash, { actor, until: now + this.cacheMs });
    return actor;
  }

  /** On first start: when no admin key exists, create one and return its secret (written to a file by the caller). */
  async bootstrapAdmin(q: Queryable): Promise<string | null> {
    const { rows } = await q.query('select 1 from api_keys where role = $1 and revoked_at is null limit 1', ['admin']);
    if (rows.length > 0) return null;
    const { secret } = await this.create(q, { name: 'bootstrap-admin', role: 'admin', createdBy: null });
    return secret;
  }
}
