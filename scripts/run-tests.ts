// The one test command: starts a real Postgres (unless DATABASE_URL is set), migrates a template
// database that every test file clones, then runs node's test runner over all test files.
// Usage: tsx scripts/run-tests.ts [path-filter ...]
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startPostgres, type PostgresServer } from '../src/platform/postgres-server.ts';
import { prepareTemplateDatabase } from '../test/helpers/template.ts';
import { stopOnSignal } from './stop-on-signal.ts';

const root = path.resolve(import.meta.dirname, '..');
const testRoots = ['test', 'signer/test'];

function findTests(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    if (name === 'node_modules') continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out = out.concat(findTests(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = testRoots
  .flatMap((r) => findTests(path.join(root, r)))
  .map((f) => path.relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}

let server: PostgresServer | undefined;
const started: { child?: ChildProcess } = {};
let baseUrl = process.env.AMANAT_TEST_PG_BASE_URL;
const tmpRoot = path.join(root, '.tmp', `test-${process.pid}`);
mkdirSync(tmpRoot, { recursive: true });
// Stopped (Ctrl-C, a CI timeout): the test run is told first and waited for, then its Postgres goes.
stopOnSignal(async (signal) => {
  const { child } = started;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
  await server?.stop();
  rmSync(tmpRoot, { recursive: true, force: true });
});
if (!baseUrl) {
  if (process.env.DATABASE_URL) {
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = '';
    baseUrl = u.toString().replace(/\/$/, '');
  } else {
    server = await startPostgres({ dataDir: path.join(tmpRoot, 'pg'), persistent: false, password: randomBytes(12).toString('hex') });
    baseUrl = server.baseUrl;
    console.log(`run-tests: started Postgres on port ${server.port}`);
  }
}
const template = await prepareTemplateDatabase(baseUrl);
console.log(`run-tests: template database ${template.name} migrated`);

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      AMANAT_TEST_PG_BASE_URL: baseUrl,
      AMANAT_TEST_TEMPLATE_DB: template.name,
      AMANAT_TEST_APP_PASSWORD: template.appPassword,
      AMANAT_TEST_TMP: tmpRoot,
    },
  },
);
started.child = child;
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
if (server) await server.stop();
rmSync(tmpRoot, { recursive: true, force: true });
process.exit(code);
