// What a Bitcoin address was paid, read from the node itself (blocks and mempool), not from our
// own records: to prove that a withdrawal paid once.
import type { BitcoinRpcClient } from '../../src/chains/bitcoin/rpc-client.ts';

type VerboseTx = { txid: string; vout: { scriptPubKey: { address?: string; addresses?: string[] } }[] };

/** Every transaction paying `address` in the active chain above `fromHeight` and in the mempool (a txid once per output). */
export async function paymentsTo(rpc: BitcoinRpcClient, address: string, fromHeight: number): Promise<{ txid: string; where: 'block' | 'mempool' }[]> {
  const found: { txid: string; where: 'block' | 'mempool' }[] = [];
  const scan = (tx: VerboseTx, where: 'block' | 'mempool') => {
    for (const out of tx.vout) if (out.scriptPubKey.address === address || out.scriptPubKey.addresses?.includes(address)) found.push({ txid: tx.txid, where });
  };
  const tip = await rpc.getBlockCount();
  for (let h = fromHeight + 1; h <= tip; h++) {
    const block = await rpc.call<{ tx: VerboseTx[] }>('getblock', [await rpc.getBlockHash(h), true, true]);
    for (const tx of block.tx) scan(tx, 'block');
  }
  for (const txid of await rpc.getRawMempool()) scan(await rpc.call<VerboseTx>('getrawtransaction', [txid, true]), 'mempool');
  return found;
}
