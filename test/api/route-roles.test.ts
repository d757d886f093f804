// Every route × every role: allowed roles get past authorization, the others get 403, no key is a 401.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { ROLES } from '../../src/auth/api-keys.ts';

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

function concretePath(path: string): string {
  return path.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    if (name === 'code') return 'BTC';
    if (name === 'entryId') return '1';
    return randomUUID();
  });
}

test('API roles: every route declares its roles; auditor gets 403 on every mutating route', async () => {
  const routes = app.amanat.routes;
  assert.ok(routes.length >= 20, `expected the whole API, got ${routes.length} routes`);
  let checked = 0;
  for (const route of routes) {
    assert.ok(route.roles === 'public' || route.roles.length > 0, `${route.method} ${route.path} declares roles`);
    if (route.mutating) {
      assert.notEqual(route.roles, 'public', `${route.path}: no mutating route is public`);
      assert.ok(route.roles !== 'public' && !route.roles.includes('auditor'), `${route.path}: auditor is read-only`);
    }
    const method = route.method.toUpperCase();
    const path = concretePath(route.path);
    for (const role of ROLES) {
      const res = await app.call(method, path, { key: app.keys[role], body: route.mutating ? {} : undefined });
      const allowed = route.roles === 'public' || route.roles.includes(role);
      if (allowed) {
        assert.ok(res.status !== 401 && res.status !== 403, `${role} may call ${method} ${route.path}, got ${res.status}`);
      } else {
        assert.equal(res.status, 403, `${role} must get 403 on ${method} ${route.path}`);
        assert.equal(res.body.code, 'FORBIDDEN');
      }
      assert.ok(res.status < 500, `${role} ${method} ${route.path} -> ${res.status}`);
      checked++;
    }
    if (route.roles !== 'public') {
      const anonymous = await app.call(method, path, { key: null, body: route.mutating ? {} : undefined });
      assert.equal(anonymous.status, 401, `no key on ${method} ${route.path}`);
      const revokedLike = await app.call(method, path, { key: `amk_${'A'.repeat(43)}`, body: route.mutating ? {} : undefined });
      assert.equal(revokedLike.status, 401, `unknown key on ${method} ${route.path}`);
    }
  }
  assert.equal(checked, routes.length * ROLES.length);
});

test('API roles: a revoked key is refused', async () => {
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
