// A real bcoin regtest full node as a child process (COMPONENTS.md §3): free loopback port, data
// under the given directory, tx and address indexes, segwit activated by mining 432 blocks to a
// miner key held here. Includes a faucet and block helpers for tests and `npm start` in dev.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Psbt } from 'bitcoinjs-lib';
import { ECPairFactory, type ECPairInterface } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { bcoinRegtest } from '../bitcoin/networks.ts';
import { decodeAddress, p2wpkhFromPublicKey } from '../bitcoin/address.ts';
import { buildPsbt, compareUtxosLargestFirst, type Utxo } from '../bitcoin/psbt.ts';
import { parseBlock } from '../bitcoin/block-scan.ts';
import { BitcoinRpcClient, type MempoolCheck } from '../bitcoin/rpc-client.ts';
import { freeLoopbackPort, resolveInstalled, spawnNodeScript, waitUntilReady, type DevProcess } from './child-process.ts';

/** BIP9 segwit activation on bcoin regtest needs this many blocks (COMPONENTS §3). */
export const SEGWIT_ACTIVATION_BLOCKS = 432;
export const COINBASE_MATURITY = 100;
/** Faucet fee rate: regtest has no fee market. */
export const FAUCET_FEE_RATE_SAT_PER_VBYTE = 2n;
const FAUCET_FEE_MAX_SAT = 5_000_000n;
const BCOIN_INSTALL = 'npm install bcoin@1.0.2 (with "overrides": { "leveldown": "5.6.0" } in package.json)';

export interface BitcoinRegtestOptions {
  /** Chain data and the log go here; created if missing. */
  readonly dataDir: string;
  /** Blocks mined at start (default 432, which activates segwit and matures 332 coinbases). */
  readonly initialBlocks?: number;
  /** Keep the chain in memory instead of on disk. */
  readonly memory?: boolean;
}

export interface FaucetResult {
  readonly txid: string;
  readonly vout: number;
  readonly state: MempoolCheck['state'];
  /** Hash of the block that confirmed it, when `confirmations` > 0. */
  readonly blockHash?: string;
}

export interface BitcoinRegtest {
  readonly network: 'bcoin-regtest';
  readonly rpcUrl: string;
  readonly apiKey: string;
  readonly rpc: BitcoinRpcClient;
  readonly minerAddress: string;
  readonly pid: number;
  readonly logFile: string;
  /** Sends `sats` from mined coins to `address`, then mines `confirmations` blocks (default 1). */
  faucet(address: string, sats: bigint, options?: { confirmations?: number }): Promise<FaucetResult>;
  /** Mines `count` blocks (to the miner unless `address` is given); returns their hashes. */
  mine(count: number, address?: string): Promise<string[]>;
  /**
   * Orphans the top `depth` blocks (invalidateblock on the lowest) and mines `depth + 1` blocks to
   * a fresh address, so each height gets a new hash. Returns the orphaned and the new hashes.
   */
  reorg(depth: number): Promise<{ orphaned: string[]; replacement: string[] }>;
  invalidateBlock(hash: string): Promise<void>;
  /**
   * Stops the node and starts it again on the same data directory, port and API key, as an
   * operator restarting it would: an on-disk chain survives (not with `memory`), the mempool does not.
   */
  restart(): Promise<void>;
  reconsiderBlock(hash: string): Promise<void>;
  /** Whether an output is unspent (confirmed or in the mempool), via gettxout. */
  isUnspent(txid: string, vout: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Coins the faucet may spend: coinbases (with height, for maturity) and its own change. */
interface MinerCoin extends Utxo {
  readonly height: number;
  readonly coinbase: boolean;
}
/** Coinbases read back at start: 100 × 50 BTC is plenty for tests. */
const FAUCET_INITIAL_COINBASES = 100;

export async function startBitcoinRegtest(options: BitcoinRegtestOptions): Promise<BitcoinRegtest> {
  // bcoin's bin/node plus BIP-125 replacement in the mempool (bcoin-node.cjs says why).
  const bcoinRoot = path.dirname(path.dirname(resolveInstalled('bcoin', 'bin/node', BCOIN_INSTALL)));
  const script = path.join(import.meta.dirname, 'bcoin-node.cjs');
  mkdirSync(options.dataDir, { recursive: true });
  const apiKey = randomBytes(16).toString('hex');
  const httpPort = await freeLoopbackPort();
  const logFile = path.join(options.dataDir, 'bcoin.log');
  const spawnNode = (): DevProcess => spawnNodeScript(script, [
    '--network=regtest', `--prefix=${options.dataDir}`, `--memory=${options.memory ? 'true' : 'false'}`,
    '--http-host=127.0.0.1', `--http-port=${httpPort}`, `--api-key=${apiKey}`,
    '--listen=false', '--workers=false', '--log-level=warning', '--log-console=true',
    '--index-tx=true', '--index-address=true', '--no-wallet=true',
    // Lets bcoin accept version-1 transactions that signal BIP-125 (it never counts version 2 as
    // signalling); the replacement itself is bcoin-node.cjs's patch.
    '--replace-by-fee=true',
  ], {
    cwd: options.dataDir, logFile,
    // The native addons bcoin can use (mrmr, bcrypto's) are not built: package.json allowScripts
    // blocks their install scripts. NODE_BACKEND=js selects their pure-JS fallbacks, which are
    // fast enough for regtest; without it bcoin dies with "Cannot find module 'mrmr.node'".
    env: { NODE_BACKEND: 'js', BCOIN_ROOT: bcoinRoot },
  });
  let proc = spawnNode();
  const rpcUrl = `http://127.0.0.1:${httpPort}/`;
  const rpc = new BitcoinRpcClient({ url: rpcUrl, username: 'x', password: apiKey });
  await waitUntilReady('bcoin regtest', proc, () => rpc.getBlockCount());

  const ECPair = ECPairFactory(ecc);
  const miner: ECPairInterface = ECPair.makeRandom({ network: bcoinRegtest });
  const minerWallet = p2wpkhFromPublicKey(miner.publicKey, 'bcoin-regtest');
  const initialBlocks = options.initialBlocks ?? SEGWIT_ACTIVATION_BLOCKS;
  try {
    if (initialBlocks > 0) await rpc.generateToAddress(initialBlocks, minerWallet.address);
  } catch (error) {
    await proc.stop();
    throw error;
  }

  // The faucet tracks its own coins rather than asking bcoin's address index: on this setup
  // (on-disk chain, --index-address) REST /coin/address answered [] for every address.
  const coins: MinerCoin[] = [];
  const recordCoinbases = async (fromHeight: number, toHeight: number) => {
    for (let height = fromHeight; height <= toHeight; height++) {
      const hash = await rpc.getBlockHash(height);
      if (!hash) break;
      const coinbase = parseBlock(await rpc.getBlockRaw(hash)).transactions?.[0];
      const out = coinbase?.outs[0];
      if (!coinbase || !out || !Buffer.from(out.script).equals(Buffer.from(minerWallet.script))) continue;
      coins.push({ txid: coinbase.getId(), vout: 0, value: out.value, script: minerWallet.script, height, coinbase: true });
    }
  };
  await recordCoinbases(1, Math.min(initialBlocks - COINBASE_MATURITY, FAUCET_INITIAL_COINBASES));
  const isUnspent = async (txid: string, vout: number): Promise<boolean> => (await rpc.call<unknown>('gettxout', [txid, vout, true])) !== null;
  const mine = async (count: number, address = minerWallet.address): Promise<string[]> => {
    if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) throw new RangeError('count must be 1..10000');
    const hashes = await rpc.generateToAddress(count, address);
    if (address === minerWallet.address) {
      const tip = await rpc.getBlockCount();
      await recordCoinbases(tip - hashes.length + 1, tip);
    }
    return hashes;
  };

  // Faucet calls are serialised so two callers never pick the same coin.
  let queue: Promise<unknown> = Promise.resolve();
  const faucet = (address: string, sats: bigint, faucetOptions: { confirmations?: number } = {}): Promise<FaucetResult> => {
    const run = async (): Promise<FaucetResult> => {
      const target = decodeAddress(address, 'bcoin-regtest');
      const tip = await rpc.getBlockCount();
      // Largest first, each checked with gettxout (a reorg may have dropped it), until enough.
      const candidates = coins.filter((c) => !c.coinbase || tip - c.height + 1 > COINBASE_MATURITY).sort(compareUtxosLargestFirst);
      const spendable: Utxo[] = [];
      let total = 0n;
      for (const coin of candidates) {
        if (total > sats + FAUCET_FEE_MAX_SAT) break;
        if (!(await isUnspent(coin.txid, coin.vout))) {
          coins.splice(coins.indexOf(coin), 1);
          continue;
        }
        spendable.push(coin);
        total += coin.value;
      }
      const built = buildPsbt({
        network: 'bcoin-regtest', utxos: spendable, outputs: [{ address: target.address, value: sats }],
        changeAddress: minerWallet.address, feeRateSatPerVbyte: FAUCET_FEE_RATE_SAT_PER_VBYTE, feeMaxSat: FAUCET_FEE_MAX_SAT,
      });
      const psbt = Psbt.fromBase64(built.psbtBase64, { network: bcoinRegtest });
      psbt.signAllInputs(miner);
      psbt.finalizeAllInputs();
      const tx = psbt.extractTransaction();
      const check = await rpc.broadcast(tx.toHex());
      for (const used of built.inputs) coins.splice(coins.findIndex((c) => c.txid === used.txid && c.vout === used.vout), 1);
      if (built.changeIndex >= 0) {
        coins.push({ txid: check.txid, vout: built.changeIndex, value: built.change, script: minerWallet.script, height: tip + 1, coinbase: false });
      }
      const vout = tx.outs.findIndex((o) => Buffer.from(o.script).equals(Buffer.from(target.script)) && o.value === sats);
      const confirmations = faucetOptions.confirmations ?? 1;
      let blockHash: string | undefined;
      if (confirmations > 0) blockHash = (await mine(confirmations))[0];
      return { txid: check.txid, vout, state: check.state, blockHash };
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };

  const reorg = async (depth: number) => {
    if (!Number.isSafeInteger(depth) || depth < 1 || depth > 100) throw new RangeError('depth must be 1..100');
    const tip = await rpc.getBlockCount();
    const orphaned: string[] = [];
    for (let h = tip - depth + 1; h <= tip; h++) orphaned.push((await rpc.getBlockHash(h))!);
    await rpc.invalidateBlock(orphaned[0]!);
    const elsewhere = p2wpkhFromPublicKey(ECPair.makeRandom({ network: bcoinRegtest }).publicKey, 'bcoin-regtest').address;
    const replacement = await mine(depth + 1, elsewhere);
    return { orphaned, replacement };
  };

  return {
    network: 'bcoin-regtest', rpcUrl, apiKey, rpc, minerAddress: minerWallet.address, get pid() { return proc.child.pid!; }, logFile,
    faucet, mine, reorg, isUnspent,
    invalidateBlock: async (hash) => { await rpc.invalidateBlock(hash); },
    reconsiderBlock: async (hash) => { await rpc.reconsiderBlock(hash); },
    restart: async () => {
      await proc.stop();
      proc = spawnNode();
      await waitUntilReady('bcoin regtest', proc, () => rpc.getBlockCount());
    },
    stop: () => proc.stop(),
  };
}
