// Starts the real HTTP app on a free port against a fresh test database.
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { createAmanat, type Amanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { ROLES, type Role } from '../../src/auth/api-keys.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestApp {
  url: string;
  db: TestDatabase;
  amanat: Amanat;
  keys: Record<Role, string>;
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; idem?: string | null; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

let seq = 0;

export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'app-'));
  const config = loadConfig({ AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: dataDir, ...env });
  // AMANAT_TEST_LOG=debug shows what the app logs (a 500's error, for one).
  const log = createLogger(process.env.AMANAT_TEST_LOG ?? 'silent');
  const amanat = await createAmanat({ pool: db.app, config, log });
  const keys = {} as Record<Role, string>;
  for (const role of ROLES) {
    keys[role] = (await inTransaction(db.app, (q) => amanat.services.apiKeys.create(q, { name: `test-${role}`, role, createdBy: null }))).secret;
  }
  const server: Server = amanat.http.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, db, amanat, keys,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      const key = options.key === undefined ? keys.exchange : options.key;
      if (key) headers.authorization = `Bearer ${key}`;
      if (method !== 'GET' && options.idem !== null) headers['idempotency-key'] = options.idem ?? `k-${process.pid}-${++seq}`;
      let body: string | undefined;
      if (options.rawBody !== undefined) body = options.rawBody;
      else if (options.body !== undefined) { body = JSON.stringify(options.body); headers['content-type'] ??= 'application/json'; }
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await amanat.stopBackground();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.drop();
    },
  };
}
