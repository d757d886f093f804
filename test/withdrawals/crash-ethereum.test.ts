// Crash safety on Ethereum: the worker is SIGKILLed at random points across 50 ETH withdrawals
// from one client's hot account, so every withdrawal competes for the same address's nonces.
// Every withdrawal ends with exactly one signed transaction; the nonces used are exactly 0..49,
// each mined once; each destination is paid exactly once; the ledger equals the chain to the wei.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseEip1559 } from '../../src/chains/ethereum/tx.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { killUntilCompleted } from '../helpers/crash.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

const WITHDRAWALS = 50;
const ETHER = 10n ** 18n;
const AMOUNT = 10n ** 16n; // 0.01 ETH
let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('ethereum'); });
after(async () => { await f.close(); });
const workerEnv = () => ({ WORKER_DB_URL: f.db.appUrl, WORKER_SIGNER_SOCKET: f.signer.socketPath, WORKER_ETH_RPC_URL: f.eth!.rpcUrl,
  WORKER_APPROVERS_FILE: path.join(f.signer.dir, 'signer-policy.json'), WORKER_KEYRING_FILE: f.keyringFile,
  WORKER_CONFIRMATIONS: String(CONFIRMATIONS) });

test('WDR crash safety ETH: SIGKILL at random points across 50 withdrawals from one address; one signed tx each, nonces 0..49 each mined once; ledger equals chain', async () => {
  const client = await f.fundedClient('ETH', 3n * ETHER, 'hot');
  const { rows: [source] } = await f.db.app.query<{ address: string }>(
    `select a.address from wallet_addresses a join wallets w on w.id = a.wallet_id where w.client_id = $1 and w.chain = 'ethereum' and w.tier = 'hot'`, [client]);
  const ids: string[] = [];
  const destinations = new Map<string, string>();
  for (let i = 0; i < WITHDRAWALS; i++) {
    const destination = f.externalAddress();
    await f.bookAddress(client, destination);
    const w = await f.request({ clientId: client, asset: 'ETH', amount: '0.01', destination });
    ids.push(w.id);
    destinations.set(w.id, destination);
  }
  const kills = await killUntilCompleted({ pool: f.db.app, ids, env: workerEnv(), between: () => f.eth!.mine(1) });
  const { rows: states } = await f.db.app.query(`select state, failure_code, count(*)::int as n from withdrawals where id = any($1) group by 1, 2`, [ids]);
  assert.deepEqual(states.map((s) => [s.state, s.n]), [['completed', WITHDRAWALS]], show(states));
  assert.ok(kills >= 3, `the worker was killed ${kills} times`);

  const { rows: txs } = await f.db.app.query<{ withdrawal_id: string; raw: string }>(
    'select withdrawal_id, raw from withdrawal_transactions where withdrawal_id = any($1)', [ids]);
  assert.equal(txs.length, WITHDRAWALS, 'exactly one signed transaction per withdrawal');
  const nonces = txs.map((t) => parseEip1559(t.raw).nonce).sort((a, b) => a - b);
  assert.deepEqual(nonces, Array.from({ length: WITHDRAWALS }, (_, i) => i), 'the nonces are exactly 0..49: none used twice, none skipped');
  assert.equal(await f.eth!.rpc.getNonce(source!.address, 'latest'), WITHDRAWALS, 'the chain saw exactly 50 transactions from the address');

  let spent = 0n;
  for (const id of ids) {
    const w = await f.module.service.get(f.db.app, id);
    const receipt = await f.eth!.rpc.getReceipt(w.txid!);
    assert.equal(receipt?.status, '0x1', `withdrawal ${id}: its transaction is mined and succeeded`);
    assert.equal(w.network_fee, BigInt(receipt!.gasUsed) * BigInt(receipt!.effectiveGasPrice!), 'the fee booked is the gas paid');
    assert.equal(await f.eth!.rpc.getBalance(destinations.get(id)!, 'latest'), AMOUNT, 'the destination was paid exactly once');
    spent += AMOUNT + w.network_fee!;
  }
  const ledger = await f.entitlement(client, 'ETH');
  assert.equal(ledger.hot, await f.eth!.rpc.getBalance(source!.address, 'latest'), 'hot wallet holdings = the chain, to the wei');
  assert.equal(ledger.total, 3n * ETHER - spent);
  assert.equal(ledger.held, 0n);
});
