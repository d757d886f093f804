// The daily reconciliation on the real bcoin regtest node, the real signer (report key) and Postgres:
// a clean system matches every line; coins sent to a client's wallet behind the service's back and a
// holdings row altered by hand each give exactly one break of the right class for that client and
// asset; the PDF carries the totals (pdftotext); a run killed half-way gives one report; an old
// unexplained break and a missed day open incidents.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startWithdrawals, show, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadStaticPrices } from '../../src/pricing/index.ts';
import { ProofService, ReportService, verifyInclusion } from '../../src/reports/index.ts';
import { createIncidentService } from '../../src/incidents/index.ts';
import { createRebalancing } from '../../src/rebalancing/index.ts';
import { BitcoinChainReader, ReconciliationService, type ReconciliationReportContent, type SegregationReportContent } from '../../src/reconciliation/index.ts';
import { tempDir } from '../../signer/test/helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');
let f: WithdrawalFixture;
let reports: ReportService;
let proofs: ProofService;
let alice: string;
let bob: string;
let day = 0;
/** Each run its own report date (runs are one per date). */
const nextDate = () => `2026-10-${String(++day).padStart(2, '0')}`;

function service(env: Record<string, string> = {}, now?: () => Date): ReconciliationService {
  const config = loadConfig({ AMANAT_ENV: 'test', ...env });
  return new ReconciliationService({
    pool: f.db.app, ledger: f.ledger, assets: f.assets, incidents: createIncidentService(config), reports, proofs,
    bitcoin: new BitcoinChainReader(f.btc!.rpc, { restUrl: f.btc!.rpcUrl, apiKey: f.btc!.apiKey }),
    prices: loadStaticPrices(path.join(root, 'policies/prices.json')), config: config.reconciliation, log: createLogger('silent'), now,
  });
}

async function runFor(date: string, env: Record<string, string> = {}): Promise<{ content: ReconciliationReportContent; segregation: SegregationReportContent; reportId: string }> {
  const run = await service(env).run({ reportDate: date });
  assert.equal(run.state, 'done', show(run));
  const stored = await reports.findByKey('reconciliation', date);
  assert.ok(stored, 'the reconciliation report is published');
  const content = JSON.parse((await reports.file(stored.id, 'json')).bytes.toString('utf8')) as { content?: ReconciliationReportContent } & ReconciliationReportContent;
  const seg = await reports.findByKey('segregation', date);
  assert.ok(seg, 'the segregation report is published');
  const segregation = JSON.parse((await reports.file(seg.id, 'json')).bytes.toString('utf8')) as { content?: SegregationReportContent } & SegregationReportContent;
  return { content: content.content ?? content, segregation: segregation.content ?? segregation, reportId: stored.id };
}

before(async () => {
  f = await startWithdrawals('bitcoin');
  reports = new ReportService(f.db.app, f.signerClient);
  proofs = new ProofService({ secret: Buffer.alloc(32, 7), reports, ledger: f.ledger, assets: f.assets });
  alice = await f.fundedClient('BTC', 5_000_000n, 'hot');
  bob = await f.fundedClient('BTC', 3_000_000n, 'cold');
  // A completed hot withdrawal of Alice's, so outflows are matched too.
  const destination = f.externalKeyAddress();
  await f.bookAddress(alice, destination.address);
  let w = await f.request({ clientId: alice, asset: 'BTC', amount: '0.001', destination: destination.address, proveWith: destination.privateKey });
  w = await f.settle(w.id);
  if (w.state === 'approvals') {
    await f.approveAs(f.approvers[0]!, w);
    await f.approveAs(f.approvers[1]!, w);
    w = await f.settle(w.id);
  }
  assert.equal(w.state, 'completed', show(w));
  await f.btc!.mine(CONFIRMATIONS);
  await f.tick();
});

after(async () => { await f?.close(); });

test('REC-01 REC-02 REC-05 REC-07 a clean system reports every line matched, with the USD value at the cut-off and the proof-of-reserves root; recomputed later, the same hash', async () => {
  const date = nextDate();
  const { content } = await runFor(date);
  assert.deepEqual(content.breaks, [], show(content.breaks));
  assert.equal(content.allLinesMatched, true);
  // This fixture runs bcoin only: the Ethereum assets are listed as not reconciled, never as matched.
  assert.deepEqual(content.notReconciled, ['ETH', 'USDT']);
  assert.deepEqual(content.assets.map((a) => a.asset), ['BTC']);
  const btc = content.assets.find((a) => a.asset === 'BTC')!;
  assert.equal(btc.onChain.total, btc.holdings.total);
  const entitled = (await f.entitlement(alice, 'BTC')).total + (await f.entitlement(bob, 'BTC')).total;
  assert.equal(BigInt(btc.entitlement), entitled);
  assert.equal(btc.onChain.cold, '3000000');
  assert.equal(BigInt(btc.onChain.hot), (await f.entitlement(alice, 'BTC')).hot);
  const matching = content.matching.find((m) => m.chain === 'bitcoin')!;
  // Two deposits and one withdrawal (Alice's hot wallet paid it, change back to her), all matched.
  assert.equal(matching.chainMovements, '3', show(matching));
  assert.equal(matching.matched, '3');
  assert.equal(matching.unmatchedChain, '0');
  assert.equal(matching.unmatchedJournal, '0');
  // REC-07: the value at the cut-off, with the price, its time and its source.
  assert.equal(btc.usd?.price, '65000.00');
  assert.equal(btc.usd?.priceTime, '2026-01-01T00:00:00.000Z');
  assert.equal(btc.usd?.source, 'static development prices');
  assert.equal(BigInt(btc.usd!.onChainUsdCents), (BigInt(btc.onChain.total) * 6_500_000n + 99_999_999n) / 100_000_000n);
  // The proof-of-reserves root over the entitlements; the node's balances cover them.
  assert.match(btc.proofOfReserves!.root, /^[0-9a-f]{64}$/);
  assert.equal(btc.proofOfReserves!.sum, btc.entitlement);
  assert.equal(btc.proofOfReserves!.covered, true);
  // Every client's inclusion proof is stored with the run and verifies against the root in the signed report.
  const { reportId } = await runFor(date);
  for (const [clientId, total] of [[alice, (await f.entitlement(alice, 'BTC')).total], [bob, (await f.entitlement(bob, 'BTC')).total]] as const) {
    const served = await proofs.clientProof(f.db.app, { clientId, asset: 'BTC', reportId });
    assert.equal(served.rootInSignedReport, true);
    assert.deepEqual(served.root, { hash: btc.proofOfReserves!.root, sum: btc.proofOfReserves!.sum });
    assert.equal(served.proof.balance, total.toString());
    assert.equal(verifyInclusion(served.proof, { hash: served.root.hash, sum: BigInt(served.root.sum) }).ok, true);
  }
  assert.equal(content.chains[0]!.chain, 'bitcoin');
  assert.equal(Number(content.chains[0]!.height), await f.btc!.rpc.getBlockCount());
  // REC-05: recomputed from the recorded height and snapshot, after more blocks, the same content hash.
  await f.btc!.mine(2);
  const again = await service().recompute(date);
  assert.equal(again.equal, true, show(again));
  assert.equal(again.storedContentHash, (await reports.findByKey('reconciliation', date))!.contentHash);
});

test('REC-04 the segregation report: per client ledger balance, addresses, on-chain balance and split; totals equal the reconciliation; no address under two owners', async () => {
  const { content, segregation } = await runFor(nextDate());
  assert.equal(segregation.addressOwnersUnique, true);
  const btc = content.assets.find((a) => a.asset === 'BTC')!;
  const totals = segregation.totals.find((t) => t.asset === 'BTC')!;
  assert.equal(totals.clientOnChain, btc.onChain.total);
  assert.equal(totals.clientEntitlement, btc.entitlement);
  assert.equal(totals.clientHoldings, btc.holdings.total);
  assert.equal(totals.houseOnChain, btc.house.onChain);
  const bobs = segregation.clients.find((c) => c.clientId === bob && c.asset === 'BTC')!;
  assert.equal(bobs.onChain.cold, '3000000');
  assert.equal(bobs.onChain.hot, '0');
  assert.equal(bobs.entitlement, '3000000');
  assert.ok(bobs.coldAddresses.length >= 1);
  const all = segregation.clients.flatMap((c) => [...c.hotAddresses, ...c.coldAddresses].map((a) => `${a}|${c.clientId}`));
  const owners = new Map<string, Set<string>>();
  for (const x of all) { const [a, o] = x.split('|') as [string, string]; owners.set(a, (owners.get(a) ?? new Set()).add(o)); }
  assert.ok([...owners.values()].every((s) => s.size === 1));
});

test('REC-02 a rebalancer sweep (hot to the same client\'s cold wallet, fee from the client\'s coins) is matched on both lines', async () => {
  const config = loadConfig({ AMANAT_ENV: 'test' });
  const r = createRebalancing({ config, pool: f.db.app, assets: f.assets, withdrawals: f.module.service, wallets: f.wallets, incidents: createIncidentService(config), log: createLogger('silent') });
  const created = (await r.rebalancer.run()).created.filter((w) => w.client_id === alice && w.kind === 'sweep');
  assert.equal(created.length, 1, 'Alice holds nearly everything hot: one sweep');
  const done = await f.settle(created[0]!.id);
  assert.equal(done.state, 'completed', show(done));
  await f.btc!.mine(CONFIRMATIONS);
  await f.tick();
  const { content } = await runFor(nextDate());
  assert.deepEqual(content.breaks, [], show(content.breaks));
  const btc = content.assets.find((a) => a.asset === 'BTC')!;
  assert.ok(BigInt(btc.onChain.cold) > 3_000_000n, 'Alice now has coins in cold');
  const matching = content.matching.find((m) => m.chain === 'bitcoin')!;
  // Two deposits, the withdrawal, and the sweep on Alice's hot and on her cold line.
  assert.equal(matching.chainMovements, '5', show(matching));
  assert.equal(matching.matched, '5');
});

test('REC-01 REC-02 coins sent to a client\'s wallet behind the service\'s back (0.0001 BTC, scanner not run): exactly one unknown_inflow break, for that client and asset', async () => {
  const address = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, bob, 'bitcoin', 'hot'));
  const sent = await f.btc!.faucet(address.address, 10_000n, { confirmations: CONFIRMATIONS });
  const date = nextDate();
  const { content } = await runFor(date);
  assert.equal(content.breaks.length, 1, show(content.breaks));
  const b = content.breaks[0]!;
  assert.equal(b.class, 'unknown_inflow');
  assert.equal(b.clientId, bob);
  assert.equal(b.asset, 'BTC');
  assert.equal(b.tier, 'hot');
  assert.equal(b.txid, sent.txid);
  assert.equal(b.actual, '10000');
  assert.equal(b.explained, false);
  assert.equal(content.allLinesMatched, false);
  // The scanner credits it: the next day is clean again.
  await f.tick();
  const next = await runFor(nextDate());
  assert.deepEqual(next.content.breaks, []);
  // The credit came after that cut-off: recomputing that day still gives its break (the same hash).
  assert.equal((await service().recompute(date)).equal, true);
});

test('REC-01 a holdings row altered by hand (as the database owner): exactly one balance_mismatch break for that client, asset and tier', async () => {
  const code = `client_trust/${alice}/BTC/client_wallet_hot`;
  await f.db.owner.query('update accounts set balance = balance + 7000 where code = $1', [code]);
  const date = nextDate();
  try {
    const { content, reportId } = await runFor(date);
    assert.equal(content.breaks.length, 1, show(content.breaks));
    const b = content.breaks[0]!;
    assert.equal(b.class, 'balance_mismatch');
    assert.equal(b.clientId, alice);
    assert.equal(b.asset, 'BTC');
    assert.equal(b.tier, 'hot');
    assert.equal(b.difference, '-7000');
    // The break drill-down of that report.
    const drill = await service().breaks(f.db.app, { reportId });
    assert.equal(drill?.breaks.length, 1);
    assert.equal(drill?.breaks[0]!.clientId, alice);
  } finally {
    await f.db.owner.query('update accounts set balance = balance - 7000 where code = $1', [code]);
  }
  // REC-05: the book as of that day has changed since (the row put back): the recomputation says so.
  assert.equal((await service().recompute(date)).equal, false);
});

test('REC-01 the PDF is a real PDF whose text (pdftotext) carries the totals per asset, the breaks and how to verify the signature', async () => {
  const probe = spawnSync('pdftotext', ['-v'], { encoding: 'utf8' });
  if (probe.error) throw new Error('pdftotext is missing: apt-get install -y poppler-utils');
  const date = nextDate();
  const { content, reportId } = await runFor(date);
  const pdf = await reports.file(reportId, 'pdf');
  assert.equal(pdf.bytes.subarray(0, 5).toString('latin1'), '%PDF-');
  const file = path.join(tempDir('recon-pdf'), 'report.pdf');
  writeFileSync(file, pdf.bytes);
  const text = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  assert.equal(text.status, 0, text.stderr);
  const btc = content.assets.find((a) => a.asset === 'BTC')!;
  const whole = (v: string) => `${BigInt(v) / 100_000_000n}.${(BigInt(v) % 100_000_000n).toString().padStart(8, '0')} BTC`;
  assert.ok(text.stdout.includes(`daily reconciliation ${date}`), text.stdout);
  assert.ok(text.stdout.includes(whole(btc.onChain.total)), `on-chain total ${whole(btc.onChain.total)} in:\n${text.stdout}`);
  assert.ok(text.stdout.includes(whole(btc.entitlement)));
  assert.ok(text.stdout.includes('every line matched'));
  assert.ok(text.stdout.includes('65000.00'));
  const stored = (await reports.findByKey('reconciliation', date))!;
  assert.ok(text.stdout.replace(/\s+/g, '').includes(stored.contentHash), 'the content hash is printed');
  assert.ok(text.stdout.includes('amanat report verify'));
  // The CSV carries the same totals.
  const csv = (await reports.file(reportId, 'csv')).bytes.toString('utf8');
  assert.ok(csv.includes(`asset,BTC,${btc.onChain.total},${btc.onChain.hot},${btc.onChain.cold},${btc.holdings.total}`), csv);
});

test('REG-06 an unexplained break older than the configured age opens one recon_break incident for that client; a younger one does not', async () => {
  const address = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, alice, 'bitcoin', 'cold'));
  await f.btc!.faucet(address.address, 20_000n, { confirmations: CONFIRMATIONS });
  const first = await runFor(nextDate(), { RECON_BREAK_MAX_AGE_HOURS: '0' });
  assert.equal(first.content.breaks.length, 1);
  const count = async () => (await f.db.app.query<{ n: number }>(`select count(*)::int as n from incidents where type = 'recon_break' and $1 = any(client_ids)`, [alice])).rows[0]!.n;
  assert.equal(await count(), 0, 'first seen now: not older than the age yet');
  // The default age (24 h): seen again, still young.
  await runFor(nextDate());
  assert.equal(await count(), 0);
  // Age 0: the break seen by an earlier run is older than that: one incident, and a later run finds the same one.
  await runFor(nextDate(), { RECON_BREAK_MAX_AGE_HOURS: '0' });
  assert.equal(await count(), 1);
  await runFor(nextDate(), { RECON_BREAK_MAX_AGE_HOURS: '0' });
  assert.equal(await count(), 1);
  const { rows } = await f.db.app.query<{ summary: string; detail: { class: string } }>(`select summary, detail from incidents where type = 'recon_break' and $1 = any(client_ids)`, [alice]);
  assert.equal(rows[0]!.detail.class, 'unknown_inflow');
  await f.tick();
});

test('REG-06 REC-01 a missed daily run opens a recon_missed incident and the runs list shows the gap', async () => {
  // Runs exist for 2026-10-01 .. 2026-10-<day>; the clock says three days later, past the cut-off and the grace.
  const last = `2026-10-${String(day).padStart(2, '0')}`;
  const now = new Date(Date.parse(`${last}T23:59:00+05:00`) + 3 * 86_400_000 + 3 * 3_600_000);
  const s = service({}, () => now);
  const listed = await s.list(f.db.app, {});
  assert.deepEqual(listed.gaps.map((g) => g.reportDate), [1, 2, 3].map((n) => new Date(Date.parse(`${last}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10)));
  assert.ok(listed.runs.every((r) => r.state === 'done'));
  await s.checkMissed();
  await s.checkMissed();
  const { rows } = await f.db.app.query<{ dedupe_key: string }>(`select dedupe_key from incidents where type = 'recon_missed' order by dedupe_key`);
  assert.deepEqual(rows.map((r) => r.dedupe_key), listed.gaps.map((g) => `recon_missed:${g.reportDate}`));
});

test('REC-02 a journal entry with no on-chain transaction: timing within the grace period, one missing_movement break after it', async () => {
  const txid = 'ab'.repeat(32);
  const account = (kind?: 'client_wallet_cold') => f.ledger.clientAccountId(f.db.app, bob, 'BTC', kind);
  const entry = await f.ledger.postEntry(f.db.app, { idempotencyId: 'recon-test-phantom', type: 'deposit', actor: 'test', cause: { chain: 'bitcoin', txid },
    postings: [
      { accountId: await f.ledger.systemAccountId(f.db.app, 'BTC', 'external_world'), amount: -1234n }, { accountId: await account(), amount: 1234n },
      { accountId: await f.ledger.systemAccountId(f.db.app, 'BTC', 'external_chain'), amount: -1234n }, { accountId: await account('client_wallet_cold'), amount: 1234n },
    ] });
  try {
    const young = await runFor(nextDate());
    assert.equal(young.content.breaks.length, 1, show(young.content.breaks));
    assert.equal(young.content.breaks[0]!.class, 'timing');
    assert.equal(young.content.breaks[0]!.explained, true);
    const old = await runFor(nextDate(), { RECON_MISSING_MOVEMENT_GRACE_HOURS: '0' });
    assert.equal(old.content.breaks.length, 1, show(old.content.breaks));
    const b = old.content.breaks[0]!;
    assert.equal(b.class, 'missing_movement');
    assert.equal(b.clientId, bob);
    assert.equal(b.tier, 'cold');
    assert.equal(b.txid, txid);
    assert.equal(b.expected, '1234');
    assert.equal(b.actual, '0');
    assert.equal(b.explained, false);
  } finally {
    await inTransaction(f.db.app, (q) => f.ledger.reverseEntry(q, { entryId: entry.entryId, idempotencyId: 'recon-test-phantom-reversal', actor: 'test', cause: { chain: 'bitcoin', txid } }));
  }
  const after = await runFor(nextDate(), { RECON_MISSING_MOVEMENT_GRACE_HOURS: '0' });
  assert.deepEqual(after.content.breaks, []);
});

/** Runs the worker process; resolves with its output and how it ended. */
function worker(date: string, env: Record<string, string>, killAtMs?: number): Promise<{ out: string; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/reconciliation/recon-worker.ts')], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RECON_DB_URL: f.db.appUrl, RECON_BTC_RPC_URL: f.btc!.rpcUrl, RECON_BTC_API_KEY: f.btc!.apiKey,
      RECON_SIGNER_SOCKET: f.signer.socketPath, RECON_DATE: date, RECON_LEASE_SECONDS: '1', ...env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (killAtMs !== undefined && out.includes('worker ready')) setTimeout(() => child.kill('SIGKILL'), killAtMs);
  });
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve({ out, signal })));
}

test('REC-01 a run killed half-way (SIGKILL after each step, and at a random moment) resumes and publishes one report, not two', async () => {
  const date = nextDate();
  const states: string[] = [];
  for (const killAfter of ['snapshotted', 'computed', 'published']) {
    const r = await worker(date, { RECON_KILL_AFTER: killAfter });
    assert.equal(r.signal, 'SIGKILL', r.out);
    const { rows } = await f.db.app.query<{ state: string }>('select state from recon_runs where report_date = $1', [date]);
    states.push(rows[0]!.state);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the dead process's lease lapses
  }
  assert.deepEqual(states, ['snapshotted', 'computed', 'published']);
  const done = await worker(date, {});
  assert.equal(done.signal, null, done.out);
  assert.ok(done.out.includes('finished done'), done.out);
  const { rows: reportRows } = await f.db.owner.query<{ kind: string; n: number }>(
    `select kind, count(*)::int as n from reports where report_key = $1 group by kind order by kind`, [date]);
  assert.deepEqual(reportRows, [{ kind: 'reconciliation', n: 1 }, { kind: 'segregation', n: 1 }]);
  const { rows: runs } = await f.db.app.query<{ state: string; report_id: string; content_hash: string; attempts: number }>(
    'select state, report_id, content_hash, attempts from recon_runs where report_date = $1', [date]);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.state, 'done');
  assert.equal(runs[0]!.attempts, 4);
  assert.equal((await reports.get(runs[0]!.report_id)).contentHash, runs[0]!.content_hash);

  // Killed at a random moment (while reading the node, signing, storing...), then run again.
  const other = nextDate();
  for (let i = 0; i < 3; i++) {
    await worker(other, {}, Math.floor(Math.random() * 1500));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  }
  const finished = await worker(other, {});
  assert.ok(finished.out.includes('finished done') || (await f.db.app.query(`select 1 from recon_runs where report_date = $1 and state = 'done'`, [other])).rowCount === 1, finished.out);
  const { rows: n } = await f.db.owner.query<{ n: number }>(`select count(*)::int as n from reports where report_key = $1 and kind = 'reconciliation'`, [other]);
  assert.equal(n[0]!.n, 1);
});

test('REC-01 the scheduler\'s tick runs the day whose cut-off has passed (Astana time) once, and resumes nothing else', async () => {
  // 2026-11-15 23:30 in Astana (UTC+5) is 18:30 UTC: past the 23:00 cut-off of the 15th.
  const now = new Date('2026-11-15T18:30:00Z');
  const s = service({}, () => now);
  await s.tick();
  await s.tick();
  const { rows } = await f.db.app.query<{ d: string; state: string; trigger: string; cutoff: Date }>(
    `select to_char(report_date, 'YYYY-MM-DD') as d, state, trigger, cutoff_at as cutoff from recon_runs where report_date >= '2026-11-01' order by report_date`);
  assert.deepEqual(rows.map((r) => [r.d, r.state, r.trigger]), [['2026-11-15', 'done', 'schedule']]);
  assert.equal(rows[0]!.cutoff.toISOString(), '2026-11-15T18:00:00.000Z');
  // A day later but before its cut-off (22:59 Astana on the 16th) the due day is still the 15th, which has its run: nothing new.
  const early = service({}, () => new Date('2026-11-16T17:59:00Z'));
  await early.tick();
  const { rows: again } = await f.db.app.query<{ n: number }>(`select count(*)::int as n from recon_runs where report_date >= '2026-11-01'`);
  assert.equal(again[0]!.n, 1);
});
