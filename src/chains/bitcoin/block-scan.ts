// Finds outputs paying watched scripts in a block. The watch set is a Map from output-script hex
// to owner, so a block costs one hash lookup per output whatever the number of watched addresses
// (bench/scan.ts: 100,000 addresses, 2,000+ outputs). Pure.
import { Block } from 'bitcoinjs-lib';
import { ChainError } from '../errors.ts';
import type { DepositCandidate, NormalizedBlock } from '../block-source.ts';
import { decodeAddress, scriptToAddress } from './address.ts';
import type { BitcoinNetworkName } from './networks.ts';
import { outpointTxid } from './parse.ts';

/** Largest watch set one scanner holds in memory. */
export const MAX_WATCHED_SCRIPTS = 5_000_000;

export interface BitcoinWatchSet {
  readonly network: BitcoinNetworkName;
  /** Output-script hex → owner (wallet id or any string the caller chooses). */
  readonly byScript: ReadonlyMap<string, string>;
  /** Script lengths present in byScript: outputs of other lengths are skipped without hex encoding. */
  readonly scriptLengths: ReadonlySet<number>;
}

export function createBitcoinWatchSet(
  network: BitcoinNetworkName,
  entries: Iterable<{ address: string; owner: string }>,
): BitcoinWatchSet {
  const byScript = new Map<string, string>();
  const scriptLengths = new Set<number>();
  for (const { address, owner } of entries) {
    const decoded = decodeAddress(address, network);
    const existing = byScript.get(decoded.scriptHex);
    if (existing !== undefined && existing !== owner) {
      // SEG-02: one address, one owner. Two owners for one script is a data error upstream.
      throw new ChainError('ADDRESS_INVALID', 'address is watched for two owners', { address: decoded.address });
    }
    byScript.set(decoded.scriptHex, owner);
    scriptLengths.add(decoded.script.length);
    if (byScript.size > MAX_WATCHED_SCRIPTS) throw new RangeError(`at most ${MAX_WATCHED_SCRIPTS} watched scripts`);
  }
  return { network, byScript, scriptLengths };
}

export function parseBlock(raw: string | Uint8Array): Block {
  try {
    return typeof raw === 'string' ? Block.fromHex(raw) : Block.fromBuffer(raw);
  } catch (cause) {
    throw new ChainError('TX_INVALID', 'bytes are not a bitcoin block', {}, { cause });
  }
}

/** Every output of `block` that pays a watched script, in block order. Coinbase outputs included. */
export function scanBlockOutputs(block: Block, watch: BitcoinWatchSet, asset = 'BTC'): DepositCandidate[] {
  const deposits: DepositCandidate[] = [];
  const txs = block.transactions ?? [];
  for (const tx of txs) {
    let txid: string | undefined;
    const outs = tx.outs;
    for (let vout = 0; vout < outs.length; vout++) {
      const out = outs[vout]!;
      const script = out.script;
      if (!watch.scriptLengths.has(script.length)) continue;
      const owner = watch.byScript.get(Buffer.from(script.buffer, script.byteOffset, script.byteLength).toString('hex'));
      if (owner === undefined) continue;
      txid ??= tx.getId();
      deposits.push({
        chain: 'bitcoin', kind: 'utxo-output', txid, vout, owner, asset, amount: out.value,
        address: scriptToAddress(script, watch.network) ?? '',
      });
    }
  }
  return deposits;
}

/** Block hash (display hex) of a parsed block's parent. */
export function parentHashOf(block: Block): string {
  if (!block.prevHash) throw new ChainError('TX_INVALID', 'block has no parent hash');
  return outpointTxid(block.prevHash);
}

/** A raw block and its height → the normalized block of block-source.ts. */
export function normalizeBitcoinBlock(raw: string | Uint8Array, height: number, watch: BitcoinWatchSet, asset = 'BTC'): NormalizedBlock {
  const block = parseBlock(raw);
  return {
    chain: 'bitcoin', height, hash: block.getId(), parentHash: parentHashOf(block), timestamp: block.timestamp,
    deposits: scanBlockOutputs(block, watch, asset),
  };
}
