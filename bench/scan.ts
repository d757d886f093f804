// bench:scan — scans a real regtest block with 2,500 outputs against 100,000 watched addresses.
// Starts a bcoin regtest node, funds a key, pays 2,000 watched + 500 unwatched P2WPKH outputs in
// one transaction built with our PSBT builder, mines it, and times the deposit scan of that block.
// Prints figures; it is not a test. Target: ≤ 100 ms per block.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Psbt, address as bitcoinAddress } from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { startBitcoinRegtest } from '../src/chains/dev/bitcoin-regtest.ts';
import {
  BitcoinBlockSource, bcoinRegtest, buildPsbt, createBitcoinWatchSet, normalizeBitcoinBlock, p2wpkhFromPublicKey,
} from '../src/chains/bitcoin/index.ts';
import { stopOnSignal } from '../scripts/stop-on-signal.ts';

const WATCHED = 100_000;
const PAID_WATCHED = 2_000;
const PAID_UNWATCHED = 500;
const OUTPUT_SAT = 10_000n;
const RUNS = 50;

const ms = (t: number): string => t.toFixed(2);
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const dir = mkdtempSync(path.join(os.tmpdir(), 'amanat-bench-scan-'));
const node = await startBitcoinRegtest({ dataDir: dir });
// Stopped before the end (Ctrl-C, a timeout): the node goes too.
stopOnSignal(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});
try {
  let t = performance.now();
  const addresses = Array.from({ length: WATCHED }, () => bitcoinAddress.toBech32(randomBytes(20), 0, bcoinRegtest.bech32));
  const unwatched = Array.from({ length: PAID_UNWATCHED }, () => bitcoinAddress.toBech32(randomBytes(20), 0, bcoinRegtest.bech32));
  console.log(`generated ${WATCHED} watched addresses in ${ms(performance.now() - t)} ms`);

  t = performance.now();
  const watch = createBitcoinWatchSet('bcoin-regtest', addresses.map((address, i) => ({ address, owner: `wallet-${i}` })));
  console.log(`watch set (Map script hex -> owner, ${watch.byScript.size} entries) built in ${ms(performance.now() - t)} ms`);

  // Fund a key of ours and pay 2,500 outputs from it in one transaction.
  const ECPair = ECPairFactory(ecc);
  const key = ECPair.makeRandom({ network: bcoinRegtest });
  const payer = p2wpkhFromPublicKey(key.publicKey, 'bcoin-regtest');
  const funding = OUTPUT_SAT * BigInt(PAID_WATCHED + PAID_UNWATCHED) + 1_000_000n;
  const funded = await node.faucet(payer.address, funding);
  const outputs = [...addresses.slice(0, PAID_WATCHED), ...unwatched].map((address) => ({ address, value: OUTPUT_SAT }));
  const built = buildPsbt({
    network: 'bcoin-regtest', utxos: [{ txid: funded.txid, vout: funded.vout, value: funding, script: payer.script }],
    outputs, changeAddress: payer.address, feeRateSatPerVbyte: 1n, feeMaxSat: 200_000n,
  });
  const psbt = Psbt.fromBase64(built.psbtBase64, { network: bcoinRegtest });
  psbt.signAllInputs(key);
  psbt.finalizeAllInputs();
  const tx = psbt.extractTransaction();
  await node.rpc.broadcast(tx.toHex());
  const [blockHash] = await node.mine(1);
  const height = await node.rpc.getBlockCount();
  const raw = await node.rpc.getBlockRaw(blockHash!);
  const first = normalizeBitcoinBlock(raw, height, watch);
  const outputsInBlock = PAID_WATCHED + PAID_UNWATCHED + 1 /* change */ + 2 /* coinbase: reward + witness commitment */;
  console.log(`block ${height}: ${raw.length / 2} bytes, tx vsize ${tx.virtualSize()} vB, ~${outputsInBlock} outputs, ${first.deposits.length} deposits found`);
  if (first.deposits.length !== PAID_WATCHED || first.deposits.some((d) => d.amount !== OUTPUT_SAT)) {
    throw new Error(`expected ${PAID_WATCHED} deposits of ${OUTPUT_SAT} sat, got ${first.deposits.length}`);
  }

  // Pure scan: parse the raw block and match every output against the watch set.
  const pure: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    normalizeBitcoinBlock(raw, height, watch);
    pure.push(performance.now() - start);
  }
  pure.sort((a, b) => a - b);
  // End to end through the block source: getblockhash + getblock (RPC) + parse + scan.
  const source = new BitcoinBlockSource(node.rpc, () => watch);
  const e2e: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await source.getBlock(height);
    e2e.push(performance.now() - start);
  }
  e2e.sort((a, b) => a - b);
  const median = percentile(pure, 50);
  console.log(`scan (parse + match), ${RUNS} runs: median ${ms(median)} ms, p95 ${ms(percentile(pure, 95))} ms per block; ${Math.round(outputsInBlock / (median / 1000)).toLocaleString('en-US')} outputs/s`);
  console.log(`block source getBlock (RPC + parse + match), ${RUNS} runs: median ${ms(percentile(e2e, 50))} ms, p95 ${ms(percentile(e2e, 95))} ms per block`);
  console.log(`target <= 100 ms per block: ${percentile(e2e, 95) <= 100 ? 'met' : 'NOT met'} (p95, end to end)`);
} finally {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}
