// R8: Postgres restarts under HTTP load. A dedicated server (never the test run's shared one) is
// stopped with a fast shutdown while requests are in flight, stays down for a while, and starts
// again on the same data directory and port. Every request meanwhile gets either its normal answer
// or a clean 503 problem+json DATABASE_UNAVAILABLE (never a 500); the pool reconnects by itself; a
// client checked out across the restart (a transaction waiting on the signer, say) does not crash
// the process; every request answered 503 and sent again with the same Idempotency-Key takes
// effect exactly once; and the ledger's invariants hold, with nothing half-written.
// The second test restarts it under the service's own work: withdrawals being signed and sent
// (a worker waits on the signer with its session idle) and deposits being scanned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAmanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createPool } from '../../src/platform/db.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { tempDir } from '../../signer/test/helpers.ts';
import {
  CONFIRMATIONS, appPool, assertNoneEnded, bitcoinPaymentsTo, depositBookings, ledgerInvariantProblems, pollUntil, readyz, show, sleep, startDedicatedPostgres,
  startLoop, startOutageRig, type Loop, type OutageRig,
} from '../helpers/outage.ts';

interface Sent { n: number; op: 'hold' | 'transfer' | 'client' | 'void' | 'balances'; method: string; path: string; body?: unknown; idem: string; phase: Phase }
interface Answer { status: number; code?: string; contentType: string; retryAfter: string | null; replayed: boolean; body: any }
type Phase = 'before' | 'down' | 'after';

const WORKERS = 8;
const CLIENTS = 6;

test('R8 Postgres restart under load: in-flight and new requests get 503 DATABASE_UNAVAILABLE (never a 500, never a partial write); the pool reconnects by itself; retried requests take effect exactly once; ledger invariants hold', async (t) => {
  const server = await startDedicatedPostgres();
  t.after(() => server.close());
  const pool = appPool(server, 20);
  const owner = createPool(server.ownerUrl, 2);
  t.after(async () => { await pool.end().catch(() => undefined); await owner.end().catch(() => undefined); });
  const config = loadConfig({ AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: tempDir('outage-pg-app'),
    HOLD_EXPIRY_INTERVAL_MS: '200', AUDIT_SEAL_INTERVAL_MS: '200' });
  const amanat = await createAmanat({ pool, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent') });
  const exchange = (await inTransaction(pool, (q) => amanat.services.apiKeys.create(q, { name: 'load-exchange', role: 'exchange', createdBy: null }))).secret;
  const treasury = (await inTransaction(pool, (q) => amanat.services.apiKeys.create(q, { name: 'load-treasury', role: 'treasury', createdBy: null }))).secret;
  const http: Server = amanat.http.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => http.once('listening', resolve));
  t.after(async () => { http.closeAllConnections(); await new Promise<void>((resolve) => http.close(() => resolve())); });
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  // The service's own background loops (hold expiry, audit sealing) meet the outage too.
  amanat.startBackground();
  t.after(() => amanat.stopBackground());

  const send = async (s: Pick<Sent, 'method' | 'path' | 'body' | 'idem'>, key = exchange): Promise<Answer> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (s.method !== 'GET') headers['idempotency-key'] = s.idem;
    if (s.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${s.path}`, { method: s.method, headers, body: s.body === undefined ? undefined : JSON.stringify(s.body) });
    const text = await res.text();
    let body: any = text;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, code: body?.code, contentType: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'),
      replayed: res.headers.get('idempotent-replayed') === 'true', body };
  };

  // Clients funded straight through the ledger (what a credited deposit does).
  const clientIds: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const r = await send({ method: 'POST', path: '/v1/clients', body: { externalRef: `load-${process.pid}-${i}`, classification: 'retail', kzResident: true }, idem: `c-${i}` });
    assert.equal(r.status, 201, show(r));
    clientIds.push(r.body.id);
    const ledger = amanat.services.ledger;
    await ledger.postEntry(pool, { idempotencyId: `fund-${i}`, type: 'deposit', actor: 'test', postings: [
      { accountId: await ledger.systemAccountId(pool, 'BTC', 'external_world'), amount: -(10n ** 9n) },
      { accountId: await ledger.clientAccountId(pool, r.body.id, 'BTC'), amount: 10n ** 9n }] });
  }

  // The load: WORKERS loops, each sending holds, transfers, voids, new clients and balance reads.
  let phase: Phase = 'before';
  let n = 0;
  let running = true;
  const log: { sent: Sent; answer?: Answer; error?: unknown }[] = [];
  const placedHolds: string[] = [];
  const counts: Record<Phase, { ok: number; failed: number }> = { before: { ok: 0, failed: 0 }, down: { ok: 0, failed: 0 }, after: { ok: 0, failed: 0 } };
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const k = ++n;
      const client = clientIds[k % CLIENTS]!;
      const other = clientIds[(k + 1) % CLIENTS]!;
      let s: Sent;
      switch (i % 5) {
        case 0: s = { n: k, op: 'hold', method: 'POST', path: '/v1/holds', body: { clientId: client, asset: 'BTC', amount: '0.0001', reference: { load: k } }, idem: `h-${k}`, phase }; break;
        case 1: s = { n: k, op: 'transfer', method: 'POST', path: '/v1/transfers', body: { fromClientId: client, toClientId: other, asset: 'BTC', amount: '0.00001', reference: { load: k } }, idem: `t-${k}`, phase }; break;
        case 2: s = { n: k, op: 'client', method: 'POST', path: '/v1/clients', body: { externalRef: `load-${process.pid}-n${k}`, classification: 'retail', kzResident: true }, idem: `n-${k}`, phase }; break;
        case 3: {
          const hold = placedHolds.shift();
          s = hold ? { n: k, op: 'void', method: 'POST', path: `/v1/holds/${hold}/void`, idem: `v-${k}`, phase }
            : { n: k, op: 'balances', method: 'GET', path: `/v1/clients/${client}/balances`, idem: '', phase };
          break;
        }
        default: s = { n: k, op: 'balances', method: 'GET', path: `/v1/clients/${client}/balances`, idem: '', phase };
      }
      const entry: { sent: Sent; answer?: Answer; error?: unknown } = { sent: s };
      log.push(entry);
      try {
        entry.answer = await send(s);
        if (s.op === 'hold' && entry.answer.status === 201) placedHolds.push(entry.answer.body.id);
        counts[s.phase][entry.answer.status < 400 ? 'ok' : 'failed']++;
      } catch (error) {
        entry.error = error; // the HTTP server itself must always answer
        counts[s.phase].failed++;
      }
      // A steady load, not a flood: a client backs off a little after a failure.
      await sleep(entry.answer && entry.answer.status < 400 ? 2 : 25 + w);
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  const answered = (p: Phase, ok = true) => counts[p].ok + (ok ? 0 : counts[p].failed);
  try {
    await pollUntil('load before the restart', async () => answered('before') >= 60);

    // A transaction held open across the restart, waiting on something else (as the pipeline
    // waits on the signer): its connection is terminated while no query runs on it.
    const idle = await pool.connect();
    await idle.query('begin');
    await idle.query('select 1');

    phase = 'down';
    await server.stop();
    await pollUntil('readyz reports Postgres down', async () => {
      const r = await readyz(url);
      return r.status === 503 && r.body.checks.postgres === 'down' && r.body.down?.includes('postgres');
    });
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'liveness does not depend on Postgres');
    await pollUntil('requests answered while Postgres is down', async () => answered('down', false) >= 40);
    // The held transaction's connection is gone: its next query fails cleanly, and release() drops it.
    await assert.rejects(idle.query('select 1'));
    idle.release();

    await server.start();
    phase = 'after';
    await pollUntil('readyz ready again', async () => (await readyz(url)).status === 200);
    await pollUntil('load after the restart', async () => answered('after') >= 60, {
      describe: async () => log.filter((e) => e.sent.phase === 'after').slice(-5).map((e) => ({ op: e.sent.op, status: e.answer?.status, code: e.answer?.code, error: String(e.error ?? '') })) });
  } finally {
    running = false;
    await Promise.all(workers);
  }

  // Every request was answered by the HTTP server, never with a 500 or another 5xx than 503.
  const errors = log.filter((e) => e.error);
  assert.equal(errors.length, 0, `requests without an answer: ${show(errors.slice(0, 3).map((e) => String(e.error)))}`);
  const bad = log.filter((e) => e.answer!.status >= 500 && !(e.answer!.status === 503 && e.answer!.code === 'DATABASE_UNAVAILABLE'));
  assert.deepEqual(bad.slice(0, 5).map((e) => ({ op: e.sent.op, phase: e.sent.phase, status: e.answer!.status, body: e.answer!.body })), [], 'no 500, no other 5xx');
  const unavailable = log.filter((e) => e.answer!.status === 503);
  assert.ok(unavailable.length >= 20, `requests answered 503 during the outage: ${unavailable.length}`);
  for (const e of unavailable) {
    assert.match(e.answer!.contentType, /^application\/problem\+json/, 'a 503 is problem+json');
    assert.equal(e.answer!.body.status, 503);
    assert.equal(e.answer!.retryAfter, '1', 'a 503 says when to come back');
  }
  const other4xx = log.filter((e) => e.answer!.status >= 400 && e.answer!.status < 500);
  assert.deepEqual(other4xx.slice(0, 5).map((e) => ({ op: e.sent.op, status: e.answer!.status, body: e.answer!.body })), [], 'no request was refused for another reason');
  for (const op of ['hold', 'transfer', 'client', 'balances'] as const) {
    assert.ok(log.some((e) => e.sent.op === op && e.sent.phase === 'after' && e.answer!.status < 400), `${op} works again after the restart, on the same pool`);
  }

  // Sent again with the same Idempotency-Key, each request answered 503 takes effect exactly once:
  // either it had committed whole (its answer is replayed) or not at all (it runs now).
  let replayed = 0;
  for (const e of unavailable.filter((x) => x.sent.method === 'POST')) {
    const again = await send(e.sent);
    assert.ok(again.status === 200 || again.status === 201, `retry of ${e.sent.op} ${e.sent.idem}: ${show(again)}`);
    if (again.replayed) replayed++;
    if (e.sent.op === 'hold' && !again.replayed) placedHolds.push(again.body.id);
  }
  t.diagnostic(`${log.length} requests, ${unavailable.length} answered 503 (${unavailable.filter((e) => e.sent.method === 'POST').length} writes; ${replayed} of them had committed before the connection died)`);

  // Exactly once: one hold per hold request, one transfer entry per transfer request, one client per client request.
  const holdRequests = new Set(log.filter((e) => e.sent.op === 'hold').map((e) => String(e.sent.n)));
  const { rows: holds } = await owner.query<{ load: string; n: number }>(
    `select reference->>'load' as load, count(*)::int as n from holds where reference ? 'load' group by 1`);
  assert.deepEqual(holds.filter((h) => h.n !== 1), [], 'no hold was placed twice');
  assert.deepEqual(new Set(holds.map((h) => h.load)), holdRequests, 'every hold request placed exactly one hold');
  const transferRequests = new Set(log.filter((e) => e.sent.op === 'transfer').map((e) => String(e.sent.n)));
  const { rows: transfers } = await owner.query<{ load: string; n: number }>(
    `select cause->>'load' as load, count(*)::int as n from journal_entries where type = 'transfer' and cause ? 'load' group by 1`);
  assert.deepEqual(transfers.filter((x) => x.n !== 1), [], 'no transfer was booked twice');
  assert.deepEqual(new Set(transfers.map((x) => x.load)), transferRequests, 'every transfer request booked exactly one entry');
  const clientRequests = log.filter((e) => e.sent.op === 'client').length;
  const { rows: [opened] } = await owner.query<{ n: number }>(`select count(*)::int as n from clients where external_ref like $1`, [`load-${process.pid}-n%`]);
  assert.equal(opened!.n, clientRequests, 'every client request opened exactly one client');

  // Nothing half-written: every hold, transfer and client made through the API has its idempotency
  // record and its audit row, all from the one commit.
  const { rows: orphans } = await owner.query(
    `select h.id::text from holds h where h.reference ? 'load'
       and not exists (select 1 from idempotency_keys k where 'api:' || k.api_key_id || ':' || k.key = h.idempotency_id)
     union all
     select e.id::text from journal_entries e where e.type = 'transfer' and e.cause ? 'load'
       and not exists (select 1 from idempotency_keys k where 'api:' || k.api_key_id || ':' || k.key = e.idempotency_id)
     union all
     select k.key from idempotency_keys k where k.status_code < 300
       and not exists (select 1 from audit_log a where a.details->>'idempotencyKey' = k.key and a.outcome = 'ok')`);
  assert.deepEqual(orphans, [], 'every write has its idempotency record and audit row');
  const voidedOrPending = await owner.query(`select state, count(*)::int as n from holds where reference ? 'load' group by 1`);
  assert.ok(voidedOrPending.rows.every((r) => ['pending', 'voided'].includes(r.state)), show(voidedOrPending.rows));

  // The ledger's invariants: control totals zero, balances = postings, held = pending holds.
  assert.deepEqual(await ledgerInvariantProblems(owner), []);
  const totals = await send({ method: 'GET', path: '/v1/ledger/control-totals', idem: '' }, treasury);
  assert.equal(totals.status, 200, show(totals));
  assert.ok(totals.body.totals.length > 0 && totals.body.totals.every((x: { balanced: boolean }) => x.balanced), show(totals.body));
  // Money only moved between clients: the sum of their entitlements is what was funded.
  const { rows: [sum] } = await owner.query<{ total: bigint; held: bigint }>(
    `select sum(balance) as total, sum(held) as held from accounts where kind = 'client_entitlement' and asset = 'BTC'`);
  assert.equal(sum!.total, BigInt(CLIENTS) * 10n ** 9n);
  const { rows: [pendingHolds] } = await owner.query<{ s: bigint | null }>(`select sum(amount) as s from holds where state = 'pending'`);
  assert.equal(sum!.held, pendingHolds!.s ?? 0n, 'what is held is exactly the pending holds');
});

test('R8 Postgres restart mid-flow: withdrawals being signed and sent and deposits being scanned pause and resume; none fails, each completes exactly once; no deposit credited twice; the ledger equals the chain', async (t) => {
  const server = await startDedicatedPostgres('outage-pg-flow');
  // The server is stopped even when the rig fails to start (the rig stops its own children then).
  const started: OutageRig[] = [];
  t.after(async () => { for (const rig of started) await rig.close(); await server.close(); });
  const r = await startOutageRig({ maxAttempts: 4, retryDelayMs: 100 }, { database: server.database() });
  started.push(r);
  const ETHER = 10n ** 18n;

  const payer = await r.kycClient();
  for (let i = 0; i < 12; i++) await r.btc.faucet(await r.depositAddress(payer, 'bitcoin'), 2_000_000n, { confirmations: 0 });
  const payerEth = await r.depositAddress(payer, 'ethereum');
  await r.eth.faucetEth(payerEth, ETHER);
  await r.mine(CONFIRMATIONS);
  await r.scanners.bitcoin.tick();
  await r.scanners.ethereum.tick();
  const receiver = await r.kycClient();
  const receiverBtc: string[] = [];
  for (let i = 0; i < 6; i++) receiverBtc.push(await r.depositAddress(receiver, 'bitcoin'));
  const startHeight = await r.btc.rpc.getBlockCount();
  const ids: string[] = [];
  const destinations = new Map<string, { chain: 'bitcoin' | 'ethereum'; address: string; amount: bigint }>();
  for (let i = 0; i < 15; i++) {
    const chain = i % 3 === 2 ? 'ethereum' : 'bitcoin';
    const address = r.externalAddress(chain);
    const w = await r.request({ clientId: payer, asset: chain === 'bitcoin' ? 'BTC' : 'ETH', amount: chain === 'bitcoin' ? '0.001' : '0.01', destination: address });
    ids.push(w.id);
    destinations.set(w.id, { chain, address, amount: chain === 'bitcoin' ? 100_000n : ETHER / 100n });
  }

  const loops: Loop[] = [];
  t.after(() => Promise.all(loops.map((l) => l.stop())));
  const worker = startLoop('withdrawals', 50, () => r.pipeline.drain(50));
  loops.push(worker, startLoop('scanners', 150, () => Promise.allSettled([r.scanners.bitcoin.tick(), r.scanners.ethereum.tick()])),
    startLoop('miner', 250, () => r.mine(1)));
  await pollUntil('the first withdrawals signed', async () =>
    (await r.db.app.query<{ n: number }>('select count(*)::int as n from withdrawals where id = any($1) and signed_tx is not null', [ids])).rows[0]!.n >= 3, { everyMs: 20, polls: 3000 });

  await server.stop();
  // Down: the API says so, /readyz names Postgres, the loops fail and go on; the chains go on too.
  await pollUntil('readyz names Postgres', async () => {
    const s = await readyz(r.url);
    return s.status === 503 && show(s.body.down) === show(['postgres']);
  });
  const answer = await r.call('GET', `/v1/withdrawals/${ids[0]}`);
  assert.equal(answer.status, 503, show(answer));
  assert.equal(answer.body.code, 'DATABASE_UNAVAILABLE');
  const deposits: string[] = [];
  for (const address of receiverBtc) {
    const sent = await r.btc.faucet(address, 400_000n, { confirmations: 1 });
    deposits.push(`${sent.txid}:${sent.vout}`);
  }
  const errorsAtStop = worker.errors.length;
  await pollUntil('the worker kept failing against the dead database', async () => worker.errors.length >= errorsAtStop + 10, { everyMs: 50 });

  await server.start();
  await pollUntil('/readyz ready again', async () => (await readyz(r.url)).status === 200);
  await pollUntil('every withdrawal completed and every deposit credited', async () => {
    await assertNoneEnded(r.db.app, ids);
    const { rows: [done] } = await r.db.app.query<{ n: number }>(`select count(*)::int as n from withdrawals where id = any($1) and state = 'completed'`, [ids]);
    const { rows: [credited] } = await r.db.app.query<{ n: number }>(`select count(*)::int as n from deposits where client_id = $1 and status = 'credited'`, [receiver]);
    return done!.n === ids.length && credited!.n === deposits.length;
  }, { polls: 1200, describe: async () => (await r.db.app.query('select state, failure_code, count(*)::int from withdrawals where id = any($1) group by 1, 2', [ids])).rows });
  await loops.find((l) => l.name === 'miner')!.stop();
  await r.mine(CONFIRMATIONS);
  await pollUntil('scanners caught up', async () => {
    const [b, e] = await Promise.all([r.btc.rpc.getBlockCount(), r.eth.rpc.getBlockNumber()]);
    const { rows } = await r.db.app.query<{ chain: string; height: number }>('select chain, height from scanner_cursors');
    return rows.find((x) => x.chain === 'bitcoin')?.height === b && rows.find((x) => x.chain === 'ethereum')?.height === e;
  });
  await Promise.all(loops.splice(0).map((l) => l.stop()));
  t.diagnostic(`the worker failed ${worker.errors.length} times while Postgres was away; first: ${String(worker.errors[0]).slice(0, 160)}`);

  const { rows: txs } = await r.db.app.query<{ withdrawal_id: string; n: number }>(
    'select withdrawal_id, count(*)::int as n from withdrawal_transactions where withdrawal_id = any($1) group by 1', [ids]);
  assert.equal(txs.length, ids.length);
  assert.ok(txs.every((x) => x.n === 1), show(txs));
  const btcIds = ids.filter((id) => destinations.get(id)!.chain === 'bitcoin');
  const payments = await bitcoinPaymentsTo(r.btc, startHeight + 1, btcIds.map((id) => destinations.get(id)!.address));
  for (const id of btcIds) {
    const d = destinations.get(id)!;
    assert.deepEqual({ outputs: payments.get(d.address)!.outputs, value: payments.get(d.address)!.value }, { outputs: 1, value: d.amount }, `${d.address}: paid once`);
  }
  for (const id of ids.filter((x) => destinations.get(x)!.chain === 'ethereum')) {
    assert.equal(await r.eth.rpc.getBalance(destinations.get(id)!.address, 'latest'), ETHER / 100n);
  }
  assert.equal(await r.eth.rpc.getNonce(payerEth, 'latest'), ids.length - btcIds.length);
  for (const [key, b] of await depositBookings(r.db.owner, 'bitcoin', deposits)) assert.deepEqual(b, { rows: 1, status: ['credited'], credits: 1 }, `deposit ${key}`);
  const balances = async (client: string, asset: string) => (await r.ledger.clientBalances(r.db.app, client)).find((b) => b.asset === asset)!;
  const { rows: utxos } = await r.db.app.query<{ txid: string; vout: number; value: bigint }>(
    `select u.txid, u.vout, u.value from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 and u.status = 'unspent'`, [payer]);
  let unspent = 0n;
  for (const u of utxos) {
    assert.ok(await r.btc.isUnspent(u.txid, u.vout), `${u.txid}:${u.vout} unspent on-chain`);
    unspent += u.value;
  }
  assert.equal((await balances(payer, 'BTC')).holdings.hot, unspent, 'BTC hot holdings = the chain');
  assert.equal((await balances(payer, 'ETH')).holdings.hot, await r.eth.rpc.getBalance(payerEth, 'latest'), 'ETH hot holdings = the chain');
  assert.equal((await balances(payer, 'BTC')).entitlement.held + (await balances(payer, 'ETH')).entitlement.held, 0n);
  assert.equal((await balances(receiver, 'BTC')).entitlement.total, 6n * 400_000n);
  assert.deepEqual(await ledgerInvariantProblems(r.db.owner), []);
});
