// npm run bench:withdraw — hot BTC withdrawals end to end on regtest, on the real signer (SoftHSM2)
// and Postgres: p50/p95 latency from request (confirm) to broadcast, and withdrawals completed per
// minute. Printed figures, not a timed test.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { startPostgres } from '../src/platform/postgres-server.ts';
import { inTransaction } from '../src/platform/tx.ts';
import { prepareTemplateDatabase } from '../test/helpers/template.ts';
import { stopOnSignal } from '../scripts/stop-on-signal.ts';

const COUNT = Number(process.env.BENCH_WITHDRAWALS ?? 40);
const root = path.resolve(import.meta.dirname, '..');
const tmp = path.join(root, '.tmp', `bench-withdraw-${process.pid}`);
mkdirSync(tmp, { recursive: true });
// Stopped before the end (Ctrl-C, a timeout): the signer, the chain node and Postgres go too.
const started: { fixture?: { close(): Promise<void> }; postgres?: { stop(): Promise<void> } } = {};
stopOnSignal(async () => {
  await started.fixture?.close();
  await started.postgres?.stop();
  rmSync(tmp, { recursive: true, force: true });
});
const pg = await startPostgres({ dataDir: path.join(tmp, 'pg'), persistent: false, password: randomBytes(8).toString('hex') });
started.postgres = pg;
process.env.AMANAT_TEST_PG_BASE_URL = pg.baseUrl;
process.env.AMANAT_TEST_TMP = tmp;
const template = await prepareTemplateDatabase(pg.baseUrl);
process.env.AMANAT_TEST_TEMPLATE_DB = template.name;
process.env.AMANAT_TEST_APP_PASSWORD = template.appPassword;
const { startWithdrawals } = await import('../test/helpers/withdrawals.ts');
const { CONFIRMATIONS } = await import('../test/helpers/custody.ts');
const f = await startWithdrawals('bitcoin');
started.fixture = f;
try {
  const client = await f.newClient();
  await inTransaction(f.db.app, (q) => f.module.travelRule.storeKyc(q, client, { name: { primary: 'Bench', secondary: 'Client' }, verified: true, nationalId: '1', geographicAddress: { town: 'Astana', country: 'KZ' } }));
  for (let i = 0; i < COUNT + 5; i++) {
    const a = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, client, 'bitcoin', 'hot'));
    await f.btc!.faucet(a.address, 1_000_000n, { confirmations: 1 });
  }
  await f.btc!.mine(3);
  await f.tick();
  const started = Date.now();
  const latencies: number[] = [];
  let completed = 0;
  for (let i = 0; i < COUNT; i++) {
    const t0 = process.hrtime.bigint();
    const destination = f.externalAddress();
    await f.bookAddress(client, destination); // a known destination: no approval needed under the default policy
    const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.001', destination });
    // Work this withdrawal up to its broadcast, as a dedicated worker would.
    for (let spin = 0; ; spin++) {
      if (spin > 10_000) throw new Error(`withdrawal ${w.id} never reached broadcast`);
      await f.module.pipeline!.drain(20);
      const current = await f.module.service.get(f.db.app, w.id);
      if (current.broadcast_at || !['requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast'].includes(current.state)) break;
    }
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  for (let round = 0; round < 20; round++) {
    await f.btc!.mine(1);
    await f.db.app.query(`update withdrawals set next_run_at = now() where state = 'confirming'`);
    await f.module.pipeline!.drain(1000);
    completed = (await f.db.app.query<{ n: number }>(`select count(*)::int as n from withdrawals where state = 'completed'`)).rows[0]!.n;
    if (completed === COUNT) break;
  }
  const minutes = (Date.now() - started) / 60_000;
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(0);
  console.log('');
  console.log('| measure | result | target |');
  console.log('|---|---|---|');
  console.log(`| hot BTC withdrawal, request → broadcast (${COUNT}, one at a time) | p50 ${p(0.5)} ms, p95 ${p(0.95)} ms | p50 ≤ 1 s |`);
  console.log(`| completed end to end (${CONFIRMATIONS} confirmations, blocks mined as fast as the run goes) | ${completed} in ${(minutes * 60).toFixed(1)} s = ${(completed / minutes).toFixed(0)} withdrawals/min | |`);
} finally {
  await f.close();
  await pg.stop();
  rmSync(tmp, { recursive: true, force: true });
}
