// R8: the signer goes away mid-flow. The signer process is stopped while withdrawals are being
// signed (some already broadcast, others not yet signed), stays down for longer than the
// pipeline's whole retry budget, and is started again on the same tokens, socket and replay log.
// Meanwhile deposits keep arriving. Nothing is lost: every withdrawal completes exactly once (none
// fails), the alarm is raised once per paused withdrawal, deposits are credited while the signer is
// down, /readyz names the signer while it is down, and the ledger equals both chains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONFIRMATIONS, assertNoneEnded, bitcoinPaymentsTo, depositBookings, ledgerInvariantProblems, pollUntil, readyz, show, startLoop, startOutageRig, type Loop, type OutageRig,
} from '../helpers/outage.ts';

const ETHER = 10n ** 18n;
const BTC_WITHDRAWALS = 12;
const ETH_WITHDRAWALS = 6;
/** Requested while the signer is down: they pass the checks that need no signer and wait for it to build their transaction. */
const LATE_WITHDRAWALS = 3;
const BTC_DEPOSITS = 10;
const ETH_DEPOSITS = 4;
// Short enough for a test, and the outage below outlasts it many times over: 0.1 + 0.2 + 0.4 + 0.8 s.
const TUNING = { maxAttempts: 4, retryDelayMs: 100 };

let r: OutageRig;
before(async () => { r = await startOutageRig(TUNING); });
after(async () => { await r?.close(); });

test('R8 signer down mid-flow: withdrawals pause past the retry budget without failing, the alarm is raised once, deposits go on, /readyz names the signer; restarted on the same tokens and replay log, every withdrawal completes exactly once and the ledger equals the chains', async (t) => {
  // A client with 16 coins in its hot Bitcoin wallet and 2 ETH on its hot Ethereum account.
  const payer = await r.kycClient();
  for (let i = 0; i < 16; i++) await r.btc.faucet(await r.depositAddress(payer, 'bitcoin'), 2_000_000n, { confirmations: 0 });
  const payerEth = await r.depositAddress(payer, 'ethereum');
  await r.eth.faucetEth(payerEth, 2n * ETHER);
  await r.mine(CONFIRMATIONS);
  await r.scanners.bitcoin.tick();
  await r.scanners.ethereum.tick();
  assert.equal((await r.ledger.clientBalances(r.db.app, payer)).find((b) => b.asset === 'BTC')!.holdings.hot, 32_000_000n);
  assert.equal((await r.ledger.clientBalances(r.db.app, payer)).find((b) => b.asset === 'ETH')!.holdings.hot, 2n * ETHER);
  // Another client's deposit addresses, made now: they come from the signer.
  const receiver = await r.kycClient();
  const receiverBtc: string[] = [];
  for (let i = 0; i < BTC_DEPOSITS; i++) receiverBtc.push(await r.depositAddress(receiver, 'bitcoin'));
  const receiverEth = await r.depositAddress(receiver, 'ethereum');
  const startHeight = await r.btc.rpc.getBlockCount();

  const ids: string[] = [];
  const destinations = new Map<string, { chain: 'bitcoin' | 'ethereum'; address: string; amount: bigint }>();
  for (let i = 0; i < BTC_WITHDRAWALS; i++) {
    const address = r.externalAddress('bitcoin');
    const w = await r.request({ clientId: payer, asset: 'BTC', amount: '0.001', destination: address });
    ids.push(w.id);
    destinations.set(w.id, { chain: 'bitcoin', address, amount: 100_000n });
  }
  for (let i = 0; i < ETH_WITHDRAWALS; i++) {
    const address = r.externalAddress('ethereum');
    const w = await r.request({ clientId: payer, asset: 'ETH', amount: '0.01', destination: address });
    ids.push(w.id);
    destinations.set(w.id, { chain: 'ethereum', address, amount: ETHER / 100n });
  }
  assert.deepEqual((await readyz(r.url)).body, { status: 'ready', checks: { postgres: 'ok', signer: 'ok', bitcoin: 'ok', ethereum: 'ok' } });

  const signedCount = async () => (await r.db.app.query<{ n: number }>('select count(*)::int as n from withdrawals where id = any($1) and signed_tx is not null', [ids])).rows[0]!.n;
  const loops: Loop[] = [];
  t.after(() => Promise.all(loops.map((l) => l.stop())));
  // The service's loops: the withdrawal worker and both scanners; and the networks keep mining.
  loops.push(startLoop('withdrawals', 50, () => r.pipeline.drain(50)));
  loops.push(startLoop('scanners', 150, () => Promise.allSettled([r.scanners.bitcoin.tick(), r.scanners.ethereum.tick()])));
  loops.push(startLoop('miner', 250, () => r.mine(1)));

  // Mid-flow: a few withdrawals are signed, most are not.
  await pollUntil('the first withdrawals signed', async () => (await signedCount()) >= 3, { everyMs: 20, polls: 3000 });
  await r.stopSigner();
  // A signature that came back just before the stop is stored by the step that asked for it.
  const worker = loops[0]!;
  const seen = worker.rounds;
  await pollUntil('the worker went round twice more', async () => worker.rounds >= seen + 2, { everyMs: 20 });
  const { rows: unsigned } = await r.db.app.query<{ id: string; state: string }>('select id, state from withdrawals where id = any($1) and signed_tx is null', [ids]);
  const signedBefore = ids.filter((id) => !unsigned.some((u) => u.id === id));
  t.diagnostic(`signer stopped with ${signedBefore.length} withdrawals signed, ${unsigned.length} not yet (${show(unsigned.map((u) => u.state))})`);
  assert.ok(unsigned.length >= 5, `most withdrawals are still to be signed: ${unsigned.length}`);
  assert.ok(signedBefore.length >= 3, `some withdrawals were signed: ${signedBefore.length}`);

  // Down: /readyz names the signer (and only it); liveness is unaffected.
  const down = await readyz(r.url);
  assert.equal(down.status, 503);
  assert.deepEqual(down.body, { status: 'not_ready', checks: { postgres: 'ok', signer: 'down', bitcoin: 'ok', ethereum: 'ok' }, down: ['signer'] });
  assert.equal((await fetch(`${r.url}/healthz`)).status, 200);

  // New withdrawals are still accepted (quote and confirm need no signer); they wait at the step that does.
  const lateIds: string[] = [];
  for (let i = 0; i < LATE_WITHDRAWALS; i++) {
    const address = r.externalAddress('bitcoin');
    const w = await r.request({ clientId: payer, asset: 'BTC', amount: '0.001', destination: address });
    ids.push(w.id);
    unsigned.push({ id: w.id, state: w.state });
    lateIds.push(w.id);
    destinations.set(w.id, { chain: 'bitcoin', address, amount: 100_000n });
  }

  // Deposits arrive while the signer is down: the scanners do not need it.
  const btcDeposits: string[] = [];
  for (const address of receiverBtc) {
    const sent = await r.btc.faucet(address, 500_000n, { confirmations: 0 });
    btcDeposits.push(`${sent.txid}:${sent.vout}`);
  }
  const ethDeposits: string[] = [];
  for (let i = 0; i < ETH_DEPOSITS; i++) ethDeposits.push(`${(await r.eth.faucetEth(receiverEth, ETHER / 10n)).toLowerCase()}:value`);

  // Past the retry budget: every unsigned withdrawal has raised its alarm, and none has failed.
  // Those signed before the outage complete meanwhile: broadcast and confirmations need no signer.
  const delayed = async () => (await r.db.app.query<{ subject: string; state: string }>(
    `select subject, payload->>'state' as state from events where type = 'withdrawal.delayed' and subject = any($1)`, [ids])).rows;
  await pollUntil('every paused withdrawal raised the alarm, the signed ones completed, the deposits were credited', async () => {
    await assertNoneEnded(r.db.app, ids);
    const alarmed = new Set((await delayed()).map((e) => e.subject));
    const { rows: [done] } = await r.db.app.query<{ n: number }>(`select count(*)::int as n from withdrawals where id = any($1) and state = 'completed'`, [signedBefore]);
    const { rows: [credited] } = await r.db.owner.query<{ n: number }>(`select count(*)::int as n from deposits where client_id = $1 and status = 'credited'`, [receiver]);
    return unsigned.every((u) => alarmed.has(u.id)) && done!.n === signedBefore.length && credited!.n === BTC_DEPOSITS + ETH_DEPOSITS;
  }, { polls: 1200, describe: async () => ({ delayed: await delayed(), states: (await r.db.app.query('select state, failure_code, attempts from withdrawals where id = any($1)', [ids])).rows }) });
  const { rows: paused } = await r.db.app.query<{ state: string; failure_code: string | null; attempts: number }>(
    'select state, failure_code, attempts from withdrawals where id = any($1)', [unsigned.map((u) => u.id)]);
  for (const p of paused) {
    assert.ok(['approvals', 'signing'].includes(p.state), `a paused withdrawal waits where it was: ${show(p)}`);
    assert.equal(p.failure_code, 'SIGNER_UNAVAILABLE', show(p));
    assert.ok(p.attempts >= TUNING.maxAttempts, `it waited past the retry budget: ${show(p)}`);
  }
  const { rows: late } = await r.db.app.query<{ state: string }>('select state from withdrawals where id = any($1)', [lateIds]);
  assert.deepEqual(late.map((l) => l.state), lateIds.map(() => 'approvals'), 'the late ones wait for the signer to build their transaction');
  assert.equal((await readyz(r.url)).status, 503, 'still down');

  // The signer comes back: same SoftHSM tokens, same socket, same replay log.
  await r.startSigner();
  await pollUntil('/readyz ready again', async () => (await readyz(r.url)).status === 200);
  await pollUntil('every withdrawal completed', async () => {
    await assertNoneEnded(r.db.app, ids);
    const { rows } = await r.db.app.query<{ n: number }>(`select count(*)::int as n from withdrawals where id = any($1) and state = 'completed'`, [ids]);
    return rows[0]!.n === ids.length;
  }, { polls: 1200, describe: async () => (await r.db.app.query('select state, failure_code, attempts, count(*)::int from withdrawals where id = any($1) group by 1, 2, 3', [ids])).rows });
  // The network stops; the last blocks are scanned; then the service's loops stop.
  await loops.find((l) => l.name === 'miner')!.stop();
  await r.mine(CONFIRMATIONS);
  await pollUntil('scanners caught up', async () => {
    const [b, e] = await Promise.all([r.btc.rpc.getBlockCount(), r.eth.rpc.getBlockNumber()]);
    const { rows } = await r.db.app.query<{ chain: string; height: number }>('select chain, height from scanner_cursors');
    return rows.find((x) => x.chain === 'bitcoin')?.height === b && rows.find((x) => x.chain === 'ethereum')?.height === e;
  });
  await Promise.all(loops.splice(0).map((l) => l.stop()));
  await Promise.all([r.scanners.bitcoin.tick(), r.scanners.ethereum.tick()]);

  // Every withdrawal completed, none failed; one signed transaction each.
  const { rows: states } = await r.db.app.query(`select state, count(*)::int as n from withdrawals where id = any($1) group by 1`, [ids]);
  assert.deepEqual(states.map((s) => [s.state, s.n]), [['completed', ids.length]], show(states));
  const { rows: txs } = await r.db.app.query<{ withdrawal_id: string; n: number }>(
    'select withdrawal_id, count(*)::int as n from withdrawal_transactions where withdrawal_id = any($1) group by 1', [ids]);
  assert.equal(txs.length, ids.length);
  assert.ok(txs.every((x) => x.n === 1), show(txs));
  // The alarm: once per paused withdrawal and step, and only for those the outage paused.
  const alarms = await delayed();
  const perStep = new Map<string, number>();
  for (const a of alarms) perStep.set(`${a.subject}/${a.state}`, (perStep.get(`${a.subject}/${a.state}`) ?? 0) + 1);
  assert.ok([...perStep.values()].every((n) => n === 1), `one alarm per withdrawal and step: ${show([...perStep])}`);
  assert.ok(alarms.every((a) => unsigned.some((u) => u.id === a.subject)), 'no alarm for a withdrawal the outage did not pause');
  const { rows: failedEvents } = await r.db.app.query(`select * from events where type = 'withdrawal.failed' and subject = any($1)`, [ids]);
  assert.deepEqual(failedEvents, []);

  // Each destination was paid exactly once, on-chain.
  const btcIds = ids.filter((id) => destinations.get(id)!.chain === 'bitcoin');
  const payments = await bitcoinPaymentsTo(r.btc, startHeight + 1, btcIds.map((id) => destinations.get(id)!.address));
  for (const id of btcIds) {
    const d = destinations.get(id)!;
    const p = payments.get(d.address)!;
    assert.deepEqual({ outputs: p.outputs, value: p.value }, { outputs: 1, value: d.amount }, `${d.address} paid once`);
    assert.equal(p.txids[0], (await r.amanat.services.withdrawals.service.get(r.db.app, id)).txid);
  }
  for (const id of ids.filter((x) => destinations.get(x)!.chain === 'ethereum')) {
    const d = destinations.get(id)!;
    assert.equal(await r.eth.rpc.getBalance(d.address, 'latest'), d.amount, `${d.address} paid once`);
  }
  const { rows: [nonce] } = await r.db.app.query<{ n: number }>(`select max((build->>'nonce')::int) + 1 as n from withdrawals where id = any($1)`, [ids]);
  assert.equal(await r.eth.rpc.getNonce(payerEth, 'latest'), nonce!.n, 'the account sent exactly its withdrawals');
  assert.equal(nonce!.n, ETH_WITHDRAWALS);

  // The ledger equals the chains: the payer's hot wallets, the receiver's deposits (each credited once).
  const { rows: utxos } = await r.db.app.query<{ txid: string; vout: number; value: bigint }>(
    `select u.txid, u.vout, u.value from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 and u.status = 'unspent'`, [payer]);
  let unspent = 0n;
  for (const u of utxos) {
    assert.ok(await r.btc.isUnspent(u.txid, u.vout), `${u.txid}:${u.vout} is unspent on-chain`);
    unspent += u.value;
  }
  const balances = async (client: string, asset: string) => (await r.ledger.clientBalances(r.db.app, client)).find((b) => b.asset === asset)!;
  const btc = await balances(payer, 'BTC');
  assert.equal(btc.holdings.hot, unspent, 'BTC hot holdings = our unspent coins on-chain');
  const eth = await balances(payer, 'ETH');
  assert.equal(eth.holdings.hot, await r.eth.rpc.getBalance(payerEth, 'latest'), 'ETH hot holdings = the account on-chain, to the wei');
  assert.equal(btc.entitlement.held, 0n);
  assert.equal(eth.entitlement.held, 0n);
  const { rows: fees } = await r.db.app.query<{ asset: string; fees: bigint }>(
    'select asset, sum(network_fee) as fees from withdrawals where id = any($1) group by 1', [ids]);
  const fee = (asset: string) => fees.find((f) => f.asset === asset)!.fees;
  assert.equal(btc.entitlement.total, 32_000_000n - BigInt(BTC_WITHDRAWALS + LATE_WITHDRAWALS) * 100_000n - fee('BTC'));
  assert.equal(eth.entitlement.total, 2n * ETHER - BigInt(ETH_WITHDRAWALS) * (ETHER / 100n) - fee('ETH'));

  for (const [chain, keys] of [['bitcoin', btcDeposits], ['ethereum', ethDeposits]] as const) {
    const booked = await depositBookings(r.db.owner, chain, keys);
    for (const [key, b] of booked) assert.deepEqual(b, { rows: 1, status: ['credited'], credits: 1 }, `${chain} deposit ${key} credited exactly once`);
  }
  assert.equal((await balances(receiver, 'BTC')).entitlement.total, BigInt(BTC_DEPOSITS) * 500_000n);
  assert.equal((await balances(receiver, 'ETH')).entitlement.total, BigInt(ETH_DEPOSITS) * (ETHER / 10n));
  assert.equal((await balances(receiver, 'ETH')).holdings.hot, await r.eth.rpc.getBalance(receiverEth, 'latest'));
  assert.deepEqual(await ledgerInvariantProblems(r.db.owner), []);
});
