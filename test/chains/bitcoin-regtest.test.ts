// Integration: a real bcoin regtest node started by the project (src/chains/dev/bitcoin-regtest.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Psbt } from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { startBitcoinRegtest, type BitcoinRegtest } from '../../src/chains/dev/bitcoin-regtest.ts';
import {
  BitcoinBlockSource, bcoinRegtest, buildPsbt, createBitcoinWatchSet, p2wpkhFromPublicKey, parseTransaction, type BitcoinWatchSet,
} from '../../src/chains/bitcoin/index.ts';
import { isChainError } from '../../src/chains/errors.ts';

const ECPair = ECPairFactory(ecc);
const root = process.env.AMANAT_TEST_TMP ?? os.tmpdir();
mkdirSync(root, { recursive: true });
const dir = mkdtempSync(path.join(root, 'btc-regtest-'));
let node: BitcoinRegtest;

const clientKey = ECPair.makeRandom({ network: bcoinRegtest });
const client = p2wpkhFromPublicKey(clientKey.publicKey, 'bcoin-regtest');
let watch: BitcoinWatchSet = createBitcoinWatchSet('bcoin-regtest', [{ address: client.address, owner: 'wallet-client-A-hot' }]);
let source: BitcoinBlockSource;
let clientUtxos: { txid: string; vout: number; value: bigint }[] = [];

before(async () => {
  node = await startBitcoinRegtest({ dataDir: path.join(dir, 'bcoin') });
  source = new BitcoinBlockSource(node.rpc, () => watch);
});

after(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('dev chain: bcoin regtest starts with segwit active (432 blocks) and bcoin-format addresses', async () => {
  assert.equal(await node.rpc.getBlockCount(), 432);
  assert.ok(node.minerAddress.startsWith('rb1q'));
  const fee = await node.rpc.estimateFeeRate(2, 3n);
  assert.deepEqual(fee, { satPerVbyte: 3n, source: 'fallback' }, 'estimatesmartfee has no data on regtest');
});

test('DEP-08 BTC faucet funds a P2WPKH address; UTXO and block-source deposit read back to the satoshi', async () => {
  const sats = 123_456_789n;
  const funded = await node.faucet(client.address, sats, { confirmations: 1 });
  assert.equal(funded.state, 'mempool');
  assert.equal(await node.isUnspent(funded.txid, funded.vout), true);

  const tip = await source.getTip();
  assert.equal(tip.hash, funded.blockHash);
  const block = await source.getBlock(tip.height);
  assert.equal(block.hash, tip.hash);
  assert.equal(block.parentHash, await source.getBlockHash(tip.height - 1));
  assert.deepEqual(block.deposits.map((d) => [d.txid, d.vout, d.address, d.owner, d.asset, d.amount]), [
    [funded.txid, funded.vout, client.address, 'wallet-client-A-hot', 'BTC', sats],
  ]);
  assert.equal(await source.getBlockHash(tip.height + 1), undefined);
  clientUtxos = block.deposits.map((d) => ({ txid: d.txid, vout: d.vout!, value: d.amount }));
});

test('WAL-05 a PSBT from our builder, signed by the client key, is accepted and mined; parse agrees', async () => {
  const utxos = clientUtxos.map((u) => ({ ...u, script: client.script }));
  assert.equal(utxos.length, 1);
  const destination = p2wpkhFromPublicKey(ECPair.makeRandom({ network: bcoinRegtest }).publicKey, 'bcoin-regtest');
  const built = buildPsbt({
    network: 'bcoin-regtest', utxos, outputs: [{ address: destination.address, value: 100_000_000n }],
    changeAddress: client.address, feeRateSatPerVbyte: 3n, feeMaxSat: 100_000n,
  });
  const psbt = Psbt.fromBase64(built.psbtBase64, { network: bcoinRegtest });
  psbt.signAllInputs(clientKey);
  psbt.finalizeAllInputs();
  const raw = psbt.extractTransaction().toHex();
  const prevouts = new Map(utxos.map((u) => [`${u.txid}:${u.vout}`, { value: u.value }]));
  const parsed = parseTransaction(raw, 'bcoin-regtest', prevouts);
  assert.equal(parsed.fee, built.fee);
  const check = await node.rpc.broadcast(raw);
  assert.equal(check.state, 'mempool');
  const [blockHash] = await node.mine(1);
  watch = createBitcoinWatchSet('bcoin-regtest', [{ address: destination.address, owner: 'wallet-client-A-cold' }]);
  const tip = await source.getTip();
  assert.equal(tip.hash, blockHash);
  const mined = await source.getBlock(tip.height);
  assert.deepEqual(mined.deposits.map((d) => [d.txid, d.owner, d.amount]), [[check.txid, 'wallet-client-A-cold', 100_000_000n]]);
  assert.equal(await node.isUnspent(utxos[0]!.txid, utxos[0]!.vout), false, 'the client coin is spent');
});

test('WDR RBF: the dev node replaces by fee as Bitcoin Core does (BIP-125): higher fee replaces, equal rate or no signal is refused', async () => {
  const funded = await node.faucet(client.address, 10_000_000n, { confirmations: 1 });
  const coin = { txid: funded.txid, vout: funded.vout, value: 10_000_000n, script: client.script };
  const spend = (rate: bigint, value: bigint, options: { final?: boolean } = {}) => {
    const built = buildPsbt({ network: 'bcoin-regtest', utxos: [coin], outputs: [{ address: p2wpkhFromPublicKey(ECPair.makeRandom({ network: bcoinRegtest }).publicKey, 'bcoin-regtest').address, value }],
      changeAddress: client.address, feeRateSatPerVbyte: rate, feeMaxSat: 1_000_000n });
    const psbt = Psbt.fromBase64(built.psbtBase64, { network: bcoinRegtest });
    if (options.final) psbt.setInputSequence(0, 0xffffffff);
    psbt.signAllInputs(clientKey);
    psbt.finalizeAllInputs();
    return psbt.extractTransaction().toHex();
  };
  const mempool = () => node.rpc.call<string[]>('getrawmempool', []);
  const first = await node.rpc.broadcast(spend(2n, 1_000_000n));
  assert.deepEqual(await mempool(), [first.txid]);
  await assert.rejects(node.rpc.broadcast(spend(2n, 2_000_000n), 1_000), (e) => isChainError(e, 'BROADCAST_NOT_ACCEPTED'), 'same fee rate: refused');
  const second = await node.rpc.broadcast(spend(9n, 1_000_000n));
  assert.deepEqual(await mempool(), [second.txid], 'the replacement evicted the original');
  const [blockHash] = await node.mine(1);
  const block = await node.rpc.call<{ tx: string[] }>('getblock', [blockHash, 1]);
  assert.ok(block.tx.includes(second.txid) && !block.tx.includes(first.txid), 'only the replacement confirms');

  const again = await node.faucet(client.address, 10_000_000n, { confirmations: 1 });
  coin.txid = again.txid;
  coin.vout = again.vout;
  const final = await node.rpc.broadcast(spend(2n, 1_000_000n, { final: true }));
  await assert.rejects(node.rpc.broadcast(spend(20n, 1_000_000n), 1_000), (e) => isChainError(e, 'BROADCAST_NOT_ACCEPTED'), 'no BIP-125 signal: not replaceable');
  assert.deepEqual(await mempool(), [final.txid]);
  await node.mine(1);
});

test('bcoin gap: sendrawtransaction returns a txid for an invalid tx; broadcast() detects it is not in the mempool', async () => {
  // A correctly signed spend of an output that does not exist.
  const psbt = new Psbt({ network: bcoinRegtest });
  psbt.addInput({ hash: 'ab'.repeat(32), index: 0, witnessUtxo: { script: client.script, value: 50_000n } });
  psbt.addOutput({ script: client.script, value: 40_000n });
  psbt.signAllInputs(clientKey);
  psbt.finalizeAllInputs();
  await assert.rejects(node.rpc.broadcast(psbt.extractTransaction().toHex(), 1_000), (e) => isChainError(e, 'BROADCAST_NOT_ACCEPTED'));
});

test('DEP-02 reorg helper: invalidating the tip block changes the hash at that height and drops its deposit', async () => {
  const other = p2wpkhFromPublicKey(ECPair.makeRandom({ network: bcoinRegtest }).publicKey, 'bcoin-regtest');
  watch = createBitcoinWatchSet('bcoin-regtest', [{ address: client.address, owner: 'wallet-client-A-hot' }, { address: other.address, owner: 'wallet-B' }]);
  const funded = await node.faucet(other.address, 5_000n, { confirmations: 1 });
  const height = (await source.getTip()).height;
  const before = await source.getBlock(height);
  assert.equal(before.hash, funded.blockHash);
  assert.equal(before.deposits.length, 1);

  const { orphaned, replacement } = await node.reorg(1);
  assert.deepEqual(orphaned, [before.hash]);
  assert.equal(replacement.length, 2);
  const after = await source.getBlock(height);
  assert.notEqual(after.hash, before.hash, 'new block at the same height');
  assert.equal(after.parentHash, before.parentHash, 'same parent: a one-block reorg');
  assert.equal((await source.getTip()).height, height + 1);
  // bcoin resets its mempool on invalidateblock, so the orphaned faucet tx is not re-mined.
  const found = [after, await source.getBlock(height + 1)].flatMap((b) => b.deposits).filter((d) => d.txid === funded.txid);
  assert.deepEqual(found, []);
});

test('DEP-02 WDR-07 the transaction-index check passes on a node that indexes transactions (the regtest node, --index-tx)', async () => {
  await node.rpc.assertTransactionIndex();
});
