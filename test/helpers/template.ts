// Used by scripts/run-tests.ts: one migrated template database per test run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, setAppRolePassword, withDatabase } from '../../src/platform/db.ts';

export async function prepareTemplateDatabase(baseUrl: string): Promise<{ name: string; appPassword: string }> {
  const name = `amanat_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: withDatabase(baseUrl, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const ownerUrl = withDatabase(baseUrl, name);
  await migrate(ownerUrl);
  const appPassword = randomBytes(16).toString('hex');
  await setAppRolePassword(ownerUrl, appPassword);
  return { name, appPassword };
}
