// WAL-02 route × role matrix. The expected matrix is the roles table in docs/roles.md, never the
// route declarations under test: every route the app serves must have a row there, and each role
// gets past authorization or gets 403 exactly as its row says; no key or an unknown key is a 401.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { ROLES, type Role } from '../../src/auth/api-keys.ts';
import { devRoutes } from '../../src/deposits/dev-routes.ts';

const ROLES_DOC = path.resolve(import.meta.dirname, '../../docs/roles.md');
const TABLE_HEADING = '## Route × role table';

interface RoleRow { method: string; path: string; roles: readonly Role[] | 'public'; developmentOnly: boolean; line: number }

/** The rows of the route × role table: `| \`METHOD /path\` | public or role, role | what it is for |`. */
function readRolesTable(): Map<string, RoleRow> {
  const lines = readFileSync(ROLES_DOC, 'utf8').split('\n');
  const start = lines.indexOf(TABLE_HEADING);
  assert.ok(start >= 0, `${ROLES_DOC} has the heading "${TABLE_HEADING}"`);
  const rows = new Map<string, RoleRow>();
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const line = lines[i]!.trim();
    if (!line.startsWith('| `')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const route = /^`(GET|POST|PATCH|PUT|DELETE) (\/\S*)`$/.exec(cells[0] ?? '');
    assert.ok(route && cells.length === 3, `docs/roles.md:${i + 1}: a row is | \`METHOD /path\` | roles | purpose |: ${line}`);
    const names = cells[1]!.split(',').map((r) => r.trim());
    let roles: readonly Role[] | 'public';
    if (names.length === 1 && names[0] === 'public') roles = 'public';
    else {
      for (const name of names) assert.ok((ROLES as readonly string[]).includes(name), `docs/roles.md:${i + 1}: unknown role "${name}"`);
      assert.equal(new Set(names).size, names.length, `docs/roles.md:${i + 1}: a role listed twice`);
      roles = names as Role[];
    }
    const key = `${route[1]} ${route[2]}`;
    assert.ok(!rows.has(key), `docs/roles.md:${i + 1}: ${key} has a second row`);
    rows.set(key, { method: route[1]!, path: route[2]!, roles, developmentOnly: cells[2]!.includes('*development only*'), line: i + 1 });
  }
  assert.ok(rows.size > 0, 'the route × role table has rows');
  return rows;
}

const table = readRolesTable();
const allows = (row: RoleRow, role: Role): boolean => row.roles === 'public' || row.roles.includes(role);

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

function concretePath(route: string): string {
  return route.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    if (name === 'code') return 'BTC';
    if (name === 'entryId') return '1';
    return randomUUID();
  });
}

test('WAL-02 every route the service serves has exactly one row in the docs/roles.md table, and every row is a route', () => {
  const served = app.amanat.routes.map((r) => `${r.method.toUpperCase()} ${r.path}`);
  assert.ok(served.length >= 20, `expected the whole API, got ${served.length} routes`);
  const missing = served.filter((key) => !table.has(key));
  assert.deepEqual(missing, [], 'routes served without a row in docs/roles.md (add the row: who may call it?)');
  // Development-only routes are not served by the test app: their declarations stand in.
  const development = devRoutes({ chains: {} as never, assets: {} as never, confirmations: { bitcoin: 1, ethereum: 1 } });
  for (const route of development) {
    const row = table.get(`${route.method.toUpperCase()} ${route.path}`);
    assert.ok(row?.developmentOnly, `${route.method.toUpperCase()} ${route.path} has a row marked *development only*`);
    assert.deepEqual(route.roles, row.roles, `${route.method.toUpperCase()} ${route.path}: declared roles differ from docs/roles.md:${row.line}`);
  }
  const known = new Set([...served, ...development.map((r) => `${r.method.toUpperCase()} ${r.path}`)]);
  const stale = [...table.keys()].filter((key) => !known.has(key));
  assert.deepEqual(stale, [], 'rows in docs/roles.md for routes that do not exist');
  for (const key of served) assert.equal(table.get(key)!.developmentOnly, false, `${key} is served outside development: not *development only*`);
});

test('WAL-02 the table keeps its rules: no mutating route is public or allows auditor; exchange never approves or rejects a withdrawal', () => {
  for (const [key, row] of table) {
    if (row.method === 'GET') continue;
    assert.notEqual(row.roles, 'public', `${key}: no mutating route is public`);
    assert.ok(!allows(row, 'auditor'), `${key}: auditor is read-only`);
  }
  for (const key of ['POST /v1/treasury/approvals/:withdrawalId', 'POST /v1/treasury/approvals/:withdrawalId/reject']) {
    assert.ok(table.has(key) && !allows(table.get(key)!, 'exchange'), `${key}: the backend can never approve (WAL-02)`);
  }
  // And what the app serves as mutating is what the table calls mutating (a GET that writes would slip past the rule above).
  for (const route of app.amanat.routes) assert.equal(route.mutating, route.method !== 'get', `${route.method} ${route.path}`);
});

test('WAL-02 every route × every role over HTTP: a role the table lists gets past authorization, every other role gets 403; no key and an unknown key get 401', async () => {
  let checked = 0;
  for (const route of app.amanat.routes) {
    const method = route.method.toUpperCase();
    const row = table.get(`${method} ${route.path}`);
    assert.ok(row, `${method} ${route.path} has a row in docs/roles.md`);
    const concrete = concretePath(route.path);
    const body = route.mutating ? {} : undefined;
    for (const role of ROLES) {
      const res = await app.call(method, concrete, { key: app.keys[role], body });
      assert.ok(res.status < 500, `${role} ${method} ${route.path} -> ${res.status} ${JSON.stringify(res.body)}`);
      if (allows(row, role)) {
        assert.ok(res.status !== 401 && res.status !== 403, `docs/roles.md:${row.line}: ${role} may call ${method} ${route.path}, got ${res.status} ${JSON.stringify(res.body)}`);
      } else {
        assert.equal(res.status, 403, `docs/roles.md:${row.line}: ${role} must get 403 on ${method} ${route.path}`);
        assert.equal(res.body.code, 'FORBIDDEN');
      }
      checked++;
    }
    const anonymous = await app.call(method, concrete, { key: null, body });
    const unknownKey = await app.call(method, concrete, { key: `amk_${'A'.repeat(43)}`, body });
    if (row.roles === 'public') {
      assert.ok(anonymous.status !== 401 && anonymous.status !== 403 && anonymous.status < 500, `public ${method} ${route.path} without a key -> ${anonymous.status}`);
    } else {
      assert.deepEqual([anonymous.status, anonymous.body.code], [401, 'UNAUTHENTICATED'], `no key on ${method} ${route.path}`);
      assert.deepEqual([unknownKey.status, unknownKey.body.code], [401, 'UNAUTHENTICATED'], `unknown key on ${method} ${route.path}`);
    }
  }
  assert.equal(checked, app.amanat.routes.length * ROLES.length);
});

test('WAL-02 a revoked key is refused', async () => {
  const created = await app.call('POST', '/v1/api-keys', { key: app.keys.admin, body: { name: 'temp', role: 'auditor' } });
  assert.equal(created.status, 201);
  assert.equal((await app.call('GET', '/v1/assets', { key: created.body.secret })).status, 200);
  assert.equal((await app.call('POST', `/v1/api-keys/${created.body.id}/revoke`, { key: app.keys.admin })).status, 200);
  assert.equal((await app.call('GET', '/v1/assets', { key: created.body.secret })).status, 401);
  const list = await app.call('GET', '/v1/api-keys', { key: app.keys.admin });
  assert.ok(!JSON.stringify(list.body).includes(created.body.secret), 'secrets are never listed');
  const { rows } = await app.db.owner.query('select key_hash from api_keys where id = $1', [created.body.id]);
  assert.notEqual(rows[0].key_hash, created.body.secret, 'keys are stored hashed');
});
