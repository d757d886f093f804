// At least 2,000 malformed requests across all routes: never a 5xx, never a changed row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import type { RouteDef } from '../../src/api/route.ts';

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

async function snapshot(): Promise<Record<string, string>> {
  const { rows: tables } = await app.db.owner.query<{ tablename: string }>(
    "select tablename from pg_tables where schemaname = 'public' and tablename not like 'knex%' order by 1");
  const out: Record<string, string> = {};
  for (const { tablename } of tables) {
    const { rows } = await app.db.owner.query(`select count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '') as s from ${tablename} t`);
    out[tablename] = rows[0].s;
  }
  return out;
}

interface Rng { nextInt(min: number, max: number): number }

/** mulberry32: a small deterministic generator, so a failure can be replayed. */
function seededRandom(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { nextInt: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/** Values that no field of any route accepts. */
const BAD_VALUES: unknown[] = [null, -1, 1.5, '', 'x'.repeat(300), [], '\u0000', { nested: { deeper: [1, 2, 3] } }];
/** Values that no formatted field (amounts, ids, codes, enums, booleans) accepts; free-text fields may. */
const BAD_FORMATS: unknown[] = ["' or 1=1 --", '1e5', '-0.5', 'NaN', '1.0000000000000000000000000000000000001', '0x', '９', 'true', 'BTC;'];
const FREE_TEXT = new Set(['name', 'externalRef', 'feeScheduleVersion']);

function badValueFor(field: string, rnd: Rng): unknown {
  const pool = FREE_TEXT.has(field) ? BAD_VALUES : [...BAD_VALUES, ...BAD_FORMATS];
  return pool[rnd.nextInt(0, pool.length - 1)];
}

/** A body that would be valid, pointing at nothing that exists (so even a valid one writes nothing). */
function template(route: RouteDef): Record<string, unknown> {
  const id = randomUUID();
  switch (`${route.method} ${route.path}`) {
    case 'post /v1/clients': return { externalRef: `fuzz-${id}`, classification: 'retail', kzResident: true };
    case 'post /v1/holds': return { clientId: id, asset: 'BTC', amount: '0.1', expiresInSeconds: 60 };
    case 'post /v1/holds/:holdId/post': return { amount: '0.1', toClientId: id, fee: { amount: '0.01', feeScheduleVersion: 'v1' } };
    case 'post /v1/transfers': return { fromClientId: id, toClientId: randomUUID(), asset: 'ETH', amount: '1' };
    case 'post /v1/api-keys': return { name: 'fuzz', role: 'auditor' };
    case 'patch /v1/assets/:code': return { state: 'suspended' };
    default: return { unexpected: true };
  }
}

function pathFor(route: RouteDef, rnd: Rng): string {
  const garbage = ['%00', '..%2F..%2Fetc', "1'%3Bdrop%20table%20clients", '-1', '0', '99999999999999999999', 'null', 'BTC%20', 'x'.repeat(300), '%E0%A4%A'];
  return route.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const roll = rnd.nextInt(0, 3);
    if (roll === 0) return garbage[rnd.nextInt(0, garbage.length - 1)]!;
    if (name === 'code') return roll === 1 ? 'DOGE' : 'btc';
    if (name === 'entryId') return String(10_000_000 + rnd.nextInt(0, 1000));
    return randomUUID();
  });
}

test('API fuzz: 2,000+ malformed requests across all routes: no response ≥ 500, no row changed', async () => {
  const before = await snapshot();
  const routes = app.amanat.routes.filter((r) => r.path !== '/metrics');
  const mutating = routes.filter((r) => r.mutating);
  const reads = routes.filter((r) => !r.mutating);
  const rnd = seededRandom(20261122);
  const requests: { method: string; path: string; key: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string>; idem?: string | null }[] = [];
  const keyFor = (r: RouteDef) => (r.roles === 'public' ? null : app.keys[r.roles[rnd.nextInt(0, r.roles.length - 1)]!]);

  for (let i = 0; i < 1400; i++) {
    const route = mutating[i % mutating.length]!;
    const body = template(route);
    const keys = Object.keys(body);
    const field = keys[rnd.nextInt(0, keys.length - 1)]!;
    switch (rnd.nextInt(0, 5)) {
      case 0: delete body[field]; if (Object.keys(body).length === 0) body.extra = 1; break;
      case 1: case 2: body[field] = badValueFor(field, rnd); break;
      case 3: body[`unknown_${rnd.nextInt(0, 9)}`] = 'x'; break;
      case 4: body[field] = badValueFor(field, rnd); body.extra = badValueFor('extra', rnd); break;
      default: requests.push({ method: route.method.toUpperCase(), path: pathFor(route, rnd), key: keyFor(route), rawBody: [
        '{', '{"a":', 'null', '[]', '"str"', '12', '{"amount": 1e309}', 'x'.repeat(70_000), '\uFEFF{}', '{"__proto__": {"polluted": true}}'][rnd.nextInt(0, 9)]!,
        headers: { 'content-type': ['application/json', 'text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded'][rnd.nextInt(0, 3)]! } });
        continue;
    }
    requests.push({ method: route.method.toUpperCase(), path: route.path.includes(':') ? pathFor(route, rnd) : route.path, key: keyFor(route), body });
  }
  for (let i = 0; i < 500; i++) {
    const route = reads[i % reads.length]!;
    const queries = ['?limit=abc', '?limit=-1', '?limit=1&limit=2', '?asOf=yesterday', '?after=%27', '?clientId=1', '?accountId=1.5', '?unknown=1', '?asOf=2026-13-45T99:00:00Z'];
    requests.push({ method: 'GET', path: pathFor(route, rnd) + queries[rnd.nextInt(0, queries.length - 1)], key: keyFor(route) });
  }
  for (let i = 0; i < 200; i++) {
    const route = mutating[i % mutating.length]!;
    const variants: { idem?: string | null; key?: string | null; headers?: Record<string, string> }[] = [
      { idem: null }, { idem: '' }, { headers: { 'idempotency-key': 'white space' } }, { headers: { 'idempotency-key': 'x'.repeat(300) } },
      { key: 'Bearer nonsense' }, { key: `amk_${'B'.repeat(43)}` }, { headers: { authorization: 'Basic Zm9vOmJhcg==' }, key: null },
    ];
    const v = variants[i % variants.length]!;
    requests.push({ method: route.method.toUpperCase(), path: route.path.includes(':') ? pathFor(route, rnd) : route.path,
      key: 'key' in v ? (v.key as string | null) : keyFor(route), body: template(route).extra === undefined ? { ...template(route), bogus: 1 } : {}, ...v });
  }
  for (let i = 0; i < 100; i++) {
    requests.push({ method: ['PUT', 'DELETE', 'OPTIONS', 'POST'][i % 4]!, path: ['/v1/nope', '/v1/clients/../../etc/passwd', '/v1//clients', '/%'][i % 4]!, key: app.keys.admin, body: {} });
  }
  assert.ok(requests.length >= 2000, `${requests.length} requests`);

  const statuses = new Map<number, number>();
  for (let i = 0; i < requests.length; i += 16) {
    const batch = requests.slice(i, i + 16);
    const results = await Promise.all(batch.map((r) => app.call(r.method, r.path, r)));
    results.forEach((res, j) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `${batch[j]!.method} ${batch[j]!.path} ${JSON.stringify(batch[j]!.body ?? batch[j]!.rawBody)?.slice(0, 200)} -> ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      assert.ok(res.status >= 400, `a malformed request must not succeed: ${batch[j]!.method} ${batch[j]!.path} ${JSON.stringify(batch[j]!.body)} -> ${res.status}`);
      if (res.status !== 404 || typeof res.body === 'object') assert.equal(typeof res.body?.code, 'string', 'every error carries a stable code');
    });
  }
  assert.deepEqual(await snapshot(), before, 'no row changed');
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
});
