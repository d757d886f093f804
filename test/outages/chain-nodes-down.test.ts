// R8: the Bitcoin node and the Ethereum node go away mid-scan and mid-broadcast. The service reaches
// each node through a TCP proxy that refuses and resets every connection while the node is "down"
// (the network keeps mining). Twice per chain:
// - mid-scan: the cut comes while the scanners read a run of blocks full of deposits (the node
//   answers a block read, the answer never arrives);
// - mid-broadcast: the cut comes right after the node accepted a withdrawal's transaction, before
//   the service hears back, while other withdrawals are signed, sent and confirmed; behind that cut
//   the bcoin node is restarted with its chain data and loses its mempool (Hardhat keeps its chain
//   in memory only, so for Ethereum the cut is the outage).
// While a node is away, deposits keep arriving and blocks keep coming. When it is back, the scanners
// resume from their cursors: no deposit is missed or credited twice (per txid/outpoint), no
// withdrawal pays its destination twice (outputs counted on-chain), and the ledger equals the chains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONFIRMATIONS, assertNoneEnded, bitcoinPaymentsTo, depositBookings, ledgerInvariantProblems, pollUntil, readyz, show, startLoop, startOutageRig, type Loop, type OutageRig,
} from '../helpers/outage.ts';

const ETHER = 10n ** 18n;
const BTC_WITHDRAWALS = 12;
const ETH_WITHDRAWALS = 8;
const TUNING = { maxAttempts: 4, retryDelayMs: 100 };

let r: OutageRig;
before(async () => { r = await startOutageRig(TUNING); });
after(async () => { await r?.close(); });

test('R8 bitcoin node and ethereum node down mid-scan and mid-broadcast: scanners resume from their cursors, no deposit missed or credited twice, no withdrawal paid twice, the ledger equals the chains', async (t) => {
  // The payer: 16 coins in its hot Bitcoin wallet, 2 ETH on its hot Ethereum account.
  const payer = await r.kycClient();
  for (let i = 0; i < 16; i++) await r.btc.faucet(await r.depositAddress(payer, 'bitcoin'), 2_000_000n, { confirmations: 0 });
  const payerEth = await r.depositAddress(payer, 'ethereum');
  await r.eth.faucetEth(payerEth, 2n * ETHER);
  await r.mine(CONFIRMATIONS);
  await r.scanners.bitcoin.tick();
  await r.scanners.ethereum.tick();
  const startHeight = await r.btc.rpc.getBlockCount();
  // The receiver: a deposit address per Bitcoin deposit, one Ethereum account (ETH and USDT).
  const receiver = await r.kycClient();
  const receiverBtc: string[] = [];
  for (let i = 0; i < 18; i++) receiverBtc.push(await r.depositAddress(receiver, 'bitcoin'));
  const receiverEth = await r.depositAddress(receiver, 'ethereum');
  const deposits = { bitcoin: [] as string[], ethereum: [] as string[] };
  let btcSent = 0n;
  let ethSent = 0n;
  let usdtSent = 0n;
  /** `n` Bitcoin deposits and `m` Ethereum ones (ETH and USDT in turn), each in a block of its own: the scanners have a run of blocks to read. */
  const depositBatch = async (n: number, m: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const sats = 300_000n + BigInt(deposits.bitcoin.length) * 1_000n;
      const sent = await r.btc.faucet(receiverBtc[deposits.bitcoin.length]!, sats, { confirmations: 1 });
      deposits.bitcoin.push(`${sent.txid}:${sent.vout}`);
      btcSent += sats;
    }
    for (let i = 0; i < m; i++) {
      if (deposits.ethereum.length % 2 === 0) {
        const wei = ETHER / 20n + BigInt(deposits.ethereum.length);
        deposits.ethereum.push(`${(await r.eth.faucetEth(receiverEth, wei)).toLowerCase()}:value`);
        ethSent += wei;
      } else {
        const units = 25_000_000n + BigInt(deposits.ethereum.length);
        const hash = (await r.eth.faucetUsdt(receiverEth, units)).toLowerCase();
        const receipt = await r.eth.rpc.getReceipt(hash);
        deposits.ethereum.push(`${hash}:log${Number(BigInt(receipt!.logs[0]!.logIndex))}`);
        usdtSent += units;
      }
    }
  };

  const ids: string[] = [];
  const destinations = new Map<string, { chain: 'bitcoin' | 'ethereum'; address: string; amount: bigint }>();
  for (let i = 0; i < BTC_WITHDRAWALS; i++) {
    const address = r.externalAddress('bitcoin');
    ids.push((await r.request({ clientId: payer, asset: 'BTC', amount: '0.001', destination: address })).id);
    destinations.set(ids.at(-1)!, { chain: 'bitcoin', address, amount: 100_000n });
  }
  for (let i = 0; i < ETH_WITHDRAWALS; i++) {
    const address = r.externalAddress('ethereum');
    ids.push((await r.request({ clientId: payer, asset: 'ETH', amount: '0.01', destination: address })).id);
    destinations.set(ids.at(-1)!, { chain: 'ethereum', address, amount: ETHER / 100n });
  }

  const loops: Loop[] = [];
  t.after(() => Promise.all(loops.map((l) => l.stop())));
  const cursors = async () => Object.fromEntries((await r.db.app.query<{ chain: string; height: number }>('select chain, height from scanner_cursors')).rows.map((c) => [c.chain, c.height]));
  const chainFailures = async (chain: string) => (await r.db.app.query<{ n: number }>(
    `select count(*)::int as n from withdrawals where id = any($1) and chain = $2 and failure_code in ('RPC_UNAVAILABLE', 'CHAIN_UNAVAILABLE')`, [ids, chain])).rows[0]!.n;
  /** withdrawal.delayed events (the alarm) after event id `after`, with the chain of their withdrawal. */
  const alarms = async (after: number) => (await r.db.app.query<{ id: number; chain: string; state: string }>(
    `select e.id, w.chain, e.payload->>'state' as state from events e join withdrawals w on w.id::text = e.subject
      where e.type = 'withdrawal.delayed' and e.id > $1 and w.id = any($2)`, [after, ids])).rows;
  const lastEvent = async () => (await r.db.app.query<{ id: number }>('select coalesce(max(id), 0)::int as id from events')).rows[0]!.id;
  const bothDown = async () => {
    const down = await readyz(r.url);
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, { status: 'not_ready', checks: { postgres: 'ok', signer: 'ok', bitcoin: 'down', ethereum: 'down' }, down: ['bitcoin', 'ethereum'] });
  };

  // 1. Mid-scan. A run of blocks with deposits; both nodes go away while the scanners read them.
  await depositBatch(6, 4);
  const before1 = await cursors();
  const scanCuts = Promise.all([r.btcProxy.cutAfterRequest(/"method":"getblock"/, 3), r.ethProxy.cutAfterRequest(/eth_getLogs/, 2)]);
  const scanners = startLoop('scanners', 100, () => Promise.allSettled([r.scanners.bitcoin.tick(), r.scanners.ethereum.tick()]));
  loops.push(scanners);
  await scanCuts;
  assert.equal(r.btcProxy.up || r.ethProxy.up, false);
  await bothDown();
  // The tick that was cut committed nothing: the cursors are where they were, nothing credited yet.
  await pollUntil('the scanners tried again against the dead nodes', async () => scanners.rounds >= 3, { everyMs: 50 });
  assert.deepEqual(await cursors(), before1, 'a cut tick moves no cursor');
  // The withdrawals start meanwhile: they get as far as the checks that need no node, and wait.
  loops.push(startLoop('withdrawals', 50, () => r.pipeline.drain(50)));
  // The network goes on: more deposits, more blocks.
  await depositBatch(4, 3);
  await r.mine(2);
  // Down for longer than the retry budget: every withdrawal raises its alarm, and none fails.
  await pollUntil('every withdrawal paused past its retry budget', async () => {
    await assertNoneEnded(r.db.app, ids);
    return (await alarms(0)).length === ids.length;
  }, { describe: async () => (await r.db.app.query('select chain, state, failure_code, attempts from withdrawals where id = any($1)', [ids])).rows });
  assert.ok((await chainFailures('bitcoin')) > 0 && (await chainFailures('ethereum')) > 0, 'withdrawals on both chains wait for their node');
  const { rows: [signedDuring1] } = await r.db.app.query<{ n: number }>('select count(*)::int as n from withdrawals where id = any($1) and signed_tx is not null', [ids]);
  assert.equal(signedDuring1!.n, 0, 'nothing is signed without the node (fee rate, nonce)');
  // 2. Mid-broadcast, armed before the nodes come back: the 4th Bitcoin and 3rd Ethereum
  // broadcast reach the node, and the answer never comes.
  const broadcastCuts = Promise.all([r.btcProxy.cutAfterRequest(/"method":"sendrawtransaction"/, 4), r.ethProxy.cutAfterRequest(/eth_sendRawTransaction/, 3)]);
  await Promise.all([r.btcProxy.restore(), r.ethProxy.restore()]);
  // (No Bitcoin blocks meanwhile: what the node accepts stays in its mempool.)
  await broadcastCuts;
  await bothDown();
  // The worst case happened on each chain: a transaction the node has (asked directly), while the
  // service, which never heard back, still has its withdrawal in broadcast.
  const { rows: inBroadcast } = await r.db.app.query<{ chain: string; txid: string }>(
    `select chain, txid from withdrawals where id = any($1) and state = 'broadcast'`, [ids]);
  const limbo = { bitcoin: 0, ethereum: 0 };
  for (const w of inBroadcast) {
    const known = w.chain === 'bitcoin' ? await r.btc.rpc.findTransaction(w.txid) : await r.eth.rpc.getTransaction(w.txid);
    if (known) limbo[w.chain as 'bitcoin' | 'ethereum']++;
  }
  assert.ok(limbo.bitcoin >= 1 && limbo.ethereum >= 1, `a broadcast the node took and the service did not hear of, on each chain: ${show(limbo)}`);
  // Behind the cut, the Bitcoin node is restarted with its chain data: its mempool, and with it
  // every withdrawal sent and not yet mined, is gone. They must go out again: the same bytes.
  const { rows: signedBtc } = await r.db.app.query<{ txid: string }>(`select txid from withdrawals where id = any($1) and chain = 'bitcoin' and signed_tx is not null`, [ids]);
  const pooled = [];
  for (const w of signedBtc) if ((await r.btc.rpc.findTransaction(w.txid)) === 'mempool') pooled.push(w.txid);
  await r.btc.restart();
  const lost = [];
  for (const txid of pooled) if ((await r.btc.rpc.findTransaction(txid)) === undefined) lost.push(txid);
  assert.ok(lost.length >= 2 && lost.length === pooled.length, `withdrawal transactions lost with the mempool: ${lost.length} of ${pooled.length}`);
  t.diagnostic(`the bcoin restart dropped ${lost.length} withdrawal transactions from its mempool`);
  const miner = startLoop('miner', 300, () => r.mine(1));
  loops.push(miner);
  const { rows: sent } = await r.db.app.query<{ chain: string; n: number }>(
    `select chain, count(*)::int as n from withdrawals where id = any($1) and signed_tx is not null group by 1`, [ids]);
  t.diagnostic(`cut mid-broadcast with signed withdrawals ${show(sent)}; cursors ${show(await cursors())}`);
  // The network goes on again (the miner keeps mining): more deposits while the nodes are away.
  const worker = loops.find((l) => l.name === 'withdrawals')!;
  const [w0, m0, e0] = [worker.rounds, miner.rounds, await lastEvent()];
  await depositBatch(4, 3);
  // Again past the retry budget: withdrawals sent or signed on both chains raise the alarm, none fails.
  await pollUntil('the worker and the miner went on while the nodes were away, alarms on both chains', async () => {
    await assertNoneEnded(r.db.app, ids);
    const chains = new Set((await alarms(e0)).map((a) => a.chain));
    return worker.rounds >= w0 + 20 && miner.rounds >= m0 + 3 && chains.has('bitcoin') && chains.has('ethereum');
  }, { everyMs: 50, polls: 1200 });
  assert.ok((await chainFailures('bitcoin')) > 0 && (await chainFailures('ethereum')) > 0, 'withdrawals on both chains wait for their node');
  await assertNoneEnded(r.db.app, ids);
  await Promise.all([r.btcProxy.restore(), r.ethProxy.restore()]);
  await pollUntil('/readyz ready again', async () => (await readyz(r.url)).status === 200);

  // Back: every withdrawal completes, every deposit is credited.
  await pollUntil('every withdrawal completed', async () => {
    await assertNoneEnded(r.db.app, ids);
    const { rows } = await r.db.app.query<{ n: number }>(`select count(*)::int as n from withdrawals where id = any($1) and state = 'completed'`, [ids]);
    return rows[0]!.n === ids.length;
  }, { polls: 1500, describe: async () => (await r.db.app.query('select chain, state, failure_code, count(*)::int from withdrawals where id = any($1) group by 1, 2, 3', [ids])).rows });
  await miner.stop();
  await r.mine(CONFIRMATIONS);
  await pollUntil('scanners caught up', async () => {
    const [b, e] = await Promise.all([r.btc.rpc.getBlockCount(), r.eth.rpc.getBlockNumber()]);
    const c = await cursors();
    return c.bitcoin === b && c.ethereum === e;
  });
  await Promise.all(loops.splice(0).map((l) => l.stop()));
  await Promise.all([r.scanners.bitcoin.tick(), r.scanners.ethereum.tick()]);
  assert.equal(r.btcProxy.cuts, 2);
  assert.equal(r.ethProxy.cuts, 2);

  // Withdrawals: all completed, none failed, one signed transaction each, each destination paid once on-chain.
  const { rows: states } = await r.db.app.query(`select state, count(*)::int as n from withdrawals where id = any($1) group by 1`, [ids]);
  assert.deepEqual(states.map((s) => [s.state, s.n]), [['completed', ids.length]], show(states));
  const { rows: txs } = await r.db.app.query<{ withdrawal_id: string; n: number }>(
    'select withdrawal_id, count(*)::int as n from withdrawal_transactions where withdrawal_id = any($1) group by 1', [ids]);
  assert.equal(txs.length, ids.length);
  assert.ok(txs.every((x) => x.n === 1), show(txs));
  const btcIds = ids.filter((id) => destinations.get(id)!.chain === 'bitcoin');
  const payments = await bitcoinPaymentsTo(r.btc, startHeight + 1, btcIds.map((id) => destinations.get(id)!.address));
  for (const id of btcIds) {
    const d = destinations.get(id)!;
    const p = payments.get(d.address)!;
    assert.deepEqual({ outputs: p.outputs, value: p.value }, { outputs: 1, value: d.amount }, `${d.address}: exactly one payment on-chain`);
  }
  for (const id of ids.filter((x) => destinations.get(x)!.chain === 'ethereum')) {
    const d = destinations.get(id)!;
    assert.equal(await r.eth.rpc.getBalance(d.address, 'latest'), d.amount, `${d.address}: paid exactly once`);
  }
  assert.equal(await r.eth.rpc.getNonce(payerEth, 'latest'), ETH_WITHDRAWALS, 'the payer account sent exactly its withdrawals');

  // Deposits: each sent transfer booked exactly once, credited once; nothing else booked for the receiver.
  for (const chain of ['bitcoin', 'ethereum'] as const) {
    const booked = await depositBookings(r.db.owner, chain, deposits[chain]);
    for (const [key, b] of booked) assert.deepEqual(b, { rows: 1, status: ['credited'], credits: 1 }, `${chain} deposit ${key}: credited exactly once`);
  }
  const { rows: [receiverRows] } = await r.db.owner.query<{ n: number }>('select count(*)::int as n from deposits where client_id = $1', [receiver]);
  assert.equal(receiverRows!.n, deposits.bitcoin.length + deposits.ethereum.length, 'no deposit row that was not sent');
  const { rows: credited } = await r.db.owner.query<{ subject: string; n: number }>(
    `select subject, count(*)::int as n from events where type = 'deposit.credited' and client_id = $1 group by 1`, [receiver]);
  assert.equal(credited.length, receiverRows!.n);
  assert.ok(credited.every((c) => c.n === 1), 'one deposit.credited event per deposit');
  const { rows: reorgs } = await r.db.owner.query(`select * from events where type like 'scanner.%'`);
  assert.deepEqual(reorgs, [], 'the outages were not mistaken for reorgs');

  // The ledger equals the chains.
  const balances = async (client: string, asset: string) => (await r.ledger.clientBalances(r.db.app, client)).find((b) => b.asset === asset)!;
  const unspentOf = async (client: string) => {
    const { rows } = await r.db.app.query<{ txid: string; vout: number; value: bigint }>(
      `select u.txid, u.vout, u.value from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 and u.status = 'unspent'`, [client]);
    let total = 0n;
    for (const u of rows) {
      assert.ok(await r.btc.isUnspent(u.txid, u.vout), `${u.txid}:${u.vout} is unspent on-chain`);
      total += u.value;
    }
    return total;
  };
  assert.equal((await balances(payer, 'BTC')).holdings.hot, await unspentOf(payer), 'payer BTC = its unspent coins');
  assert.equal((await balances(receiver, 'BTC')).holdings.hot, await unspentOf(receiver), 'receiver BTC = its unspent coins');
  assert.equal((await balances(receiver, 'BTC')).entitlement.total, btcSent);
  assert.equal((await balances(payer, 'ETH')).holdings.hot, await r.eth.rpc.getBalance(payerEth, 'latest'), 'payer ETH = the account, to the wei');
  assert.equal((await balances(receiver, 'ETH')).holdings.hot, await r.eth.rpc.getBalance(receiverEth, 'latest'), 'receiver ETH = the account');
  assert.equal((await balances(receiver, 'ETH')).entitlement.total, ethSent);
  assert.equal((await balances(receiver, 'USDT')).holdings.hot, await r.eth.rpc.getTokenBalance(r.eth.usdt!.address, receiverEth), 'receiver USDT = the token balance');
  assert.equal((await balances(receiver, 'USDT')).entitlement.total, usdtSent);
  const { rows: fees } = await r.db.app.query<{ asset: string; fees: bigint }>('select asset, sum(network_fee) as fees from withdrawals where id = any($1) group by 1', [ids]);
  const fee = (asset: string) => fees.find((f) => f.asset === asset)!.fees;
  assert.equal((await balances(payer, 'BTC')).entitlement.total, 32_000_000n - BigInt(BTC_WITHDRAWALS) * 100_000n - fee('BTC'));
  assert.equal((await balances(payer, 'ETH')).entitlement.total, 2n * ETHER - BigInt(ETH_WITHDRAWALS) * (ETHER / 100n) - fee('ETH'));
  assert.equal((await balances(payer, 'BTC')).entitlement.held + (await balances(payer, 'ETH')).entitlement.held, 0n);
  assert.deepEqual(await ledgerInvariantProblems(r.db.owner), []);
});
