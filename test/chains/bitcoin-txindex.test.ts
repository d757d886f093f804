// Pure unit test of the start-up check for Bitcoin Core's transaction index (the pipeline finds
// its confirmed transactions with getrawtransaction). The node is a fake JSON-RPC endpoint that
// answers as Bitcoin Core does without -txindex; the real regtest node's pass is in bitcoin-regtest.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitcoinRpcClient } from '../../src/chains/bitcoin/rpc-client.ts';
import { isChainError } from '../../src/chains/errors.ts';

function coreWithout(answers: Record<string, unknown>): typeof fetch {
  return (async (_url: unknown, init?: { body?: unknown }) => {
    const { id, method } = JSON.parse(String(init?.body)) as { id: number; method: string };
    const answer = answers[method];
    const body = answer instanceof Error
      ? { result: null, error: { code: answer.message.startsWith('Method') ? -32601 : -5, message: answer.message }, id }
      : { result: answer, error: null, id };
    return new Response(JSON.stringify(body), { status: answer instanceof Error && answer.message.startsWith('Method') ? 404 : 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

const refuses = (e: unknown) => isChainError(e, 'NODE_MISCONFIGURED') && /-txindex=1/.test(e.message) && /BITCOIN_RPC_URL/.test(e.message);

test('WDR-07 start-up refuses a Bitcoin Core node without -txindex (getindexinfo lists none), naming the setting', async () => {
  const rpc = new BitcoinRpcClient({ url: 'http://127.0.0.1:1/', fetch: coreWithout({ getindexinfo: {} }) });
  await assert.rejects(rpc.assertTransactionIndex(), refuses);
});

test('WDR-07 start-up refuses a node whose txindex is still building', async () => {
  const rpc = new BitcoinRpcClient({ url: 'http://127.0.0.1:1/', fetch: coreWithout({ getindexinfo: { txindex: { synced: false, best_block_height: 10 } } }) });
  await assert.rejects(rpc.assertTransactionIndex(), refuses);
});

test('WDR-07 without getindexinfo, a node that cannot return a confirmed coinbase is refused; one that can is accepted', async () => {
  const base = { getindexinfo: new Error('Method not found'), getblockcount: 120, getblockhash: 'aa'.repeat(32), getblock: { tx: ['bb'.repeat(32)] } };
  const without = new BitcoinRpcClient({ url: 'http://127.0.0.1:1/', fetch: coreWithout({ ...base,
    getrawtransaction: new Error('No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries.') }) });
  await assert.rejects(without.assertTransactionIndex(), refuses);
  const indexing = new BitcoinRpcClient({ url: 'http://127.0.0.1:1/', fetch: coreWithout({ ...base, getrawtransaction: '02000000' }) });
  await indexing.assertTransactionIndex();
});
