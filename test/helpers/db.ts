// Each test file gets its own database cloned from the migrated template.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { APP_ROLE, createPool, withDatabase, withUser } from '../../src/platform/db.ts';

export interface TestDatabase {
  name: string;
  ownerUrl: string;
  appUrl: string;
  /** A pool connected as the restricted application role. */
  app: pg.Pool;
  /** A pool connected as the owner (superuser in tests): for tampering and inspection. */
  owner: pg.Pool;
  drop(): Promise<void>;
}

function requireEnv(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is not set: run the tests with \`npm test\` (scripts/run-tests.ts starts Postgres)`);
  return value;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const baseUrl = requireEnv('AMANAT_TEST_PG_BASE_URL');
  const template = requireEnv('AMANAT_TEST_TEMPLATE_DB');
  const appPassword = requireEnv('AMANAT_TEST_APP_PASSWORD');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: withDatabase(baseUrl, 'postgres') });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`create database ${name} template ${template}`);
        break;
      } catch (error) {
        // "source database is being accessed by other users": another file is cloning right now.
        if (attempt >= 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await admin.end();
  }
  const ownerUrl = withDatabase(baseUrl, name);
  const appUrl = withUser(ownerUrl, APP_ROLE, appPassword);
  const app = createPool(appUrl, 40);
  const owner = createPool(ownerUrl, 4);
  return {
    name, ownerUrl, appUrl, app, owner,
    async drop() {
      await app.end();
      await owner.end();
      const c = new pg.Client({ connectionString: withDatabase(baseUrl, 'postgres') });
      await c.connect();
      try { await c.query(`drop database if exists ${name} with (force)`); } finally { await c.end(); }
    },
  };
}
