// The dev regtest node: bcoin's own bin/node, plus BIP-125 replace-by-fee in the mempool.
//
// bcoin 1.0.2 accepts transactions that signal RBF (--replace-by-fee) but then refuses every
// replacement as a double spend ("bad-txns-inputs-spent"). Bitcoin Core, which production runs,
// replaces. Without this patch a stuck-transaction replacement could never be proven on regtest.
// The rules applied are Bitcoin Core's (doc/policy/mempool-replacements.md):
//   1. every transaction replaced signals replaceability (an input with nSequence < 0xfffffffe);
//   3. the replacement pays at least the absolute fees of everything it evicts (with descendants);
//   4. it also pays for its own relay: that surplus is at least minRelay × its size;
//   5. it evicts at most 100 transactions;
//   6. its fee rate is higher than that of each transaction it directly replaces.
// Rule 2 (no new unconfirmed inputs) is not enforced: our replacements spend the same coins.
// Usage: node bcoin-node.cjs <bcoin's bin/node arguments>. Development and tests only.
'use strict';

const path = require('node:path');

const bcoinRoot = process.env.BCOIN_ROOT;
if (!bcoinRoot) {
  console.error('BCOIN_ROOT (the installed bcoin package directory) is required');
  process.exit(2);
}
const FullNode = require(path.join(bcoinRoot, 'lib/node/fullnode'));
const { VerifyError } = require(path.join(bcoinRoot, 'lib/protocol/errors'));

process.title = 'bcoin';

const MAX_REPLACEMENT_EVICTIONS = 100;

// BIP-125 signal. Not bcoin's tx.isRBF(): that answers false for every version-2 transaction.
const signalsReplaceability = (tx) => tx.inputs.some((input) => input.sequence < 0xfffffffe);

function installReplaceByFee(mempool) {
  const insertTX = mempool.insertTX;
  mempool.insertTX = async function insertWithReplacement(tx, id) {
    const conflicts = [];
    for (const { prevout } of tx.inputs) {
      const spender = this.getSpent(prevout.hash, prevout.index);
      if (spender && !conflicts.includes(spender)) conflicts.push(spender);
    }
    if (conflicts.length === 0) return insertTX.call(this, tx, id);

    for (const entry of conflicts) {
      if (!signalsReplaceability(entry.tx)) throw new VerifyError(tx, 'duplicate', 'txn-mempool-conflict', 0);
    }
    const view = await this.getCoinView(tx);
    if (!tx.hasCoins(view)) throw new VerifyError(tx, 'duplicate', 'bad-txns-inputs-missingorspent', 0);
    const fee = tx.getFee(view);
    const size = tx.getVirtualSize();
    let evicted = 0;
    let evictedFees = 0;
    for (const entry of conflicts) {
      evicted += 1 + this.countDescendants(entry);
      evictedFees += entry.descFee;
      if (fee * entry.size <= entry.fee * size) {
        throw new VerifyError(tx, 'insufficientfee', 'insufficient fee: replacement fee rate not above the original', 0);
      }
    }
    if (evicted > MAX_REPLACEMENT_EVICTIONS) throw new VerifyError(tx, 'nonstandard', 'too many potential replacements', 0);
    if (fee < evictedFees) throw new VerifyError(tx, 'insufficientfee', 'insufficient fee: less than the fees replaced', 0);
    const relayFee = Math.ceil((this.options.minRelay * size) / 1000);
    if (fee - evictedFees < relayFee) throw new VerifyError(tx, 'insufficientfee', 'insufficient fee: does not pay for its own relay', 0);

    const restore = conflicts.map((entry) => entry.tx);
    for (const entry of conflicts) this.evictEntry(entry);
    try {
      return await insertTX.call(this, tx, id);
    } catch (error) {
      // The replacement failed a later check: put back what it would have replaced.
      for (const old of restore) await insertTX.call(this, old, -1).catch(() => undefined);
      throw error;
    }
  };
}

const node = new FullNode({
  config: true, argv: true, env: true, logFile: true, logConsole: true, logLevel: 'debug',
  memory: false, workers: true, listen: true, loader: require,
});
installReplaceByFee(node.mempool);

process.on('unhandledRejection', (err) => { throw err; });

(async () => {
  await node.ensure();
  await node.open();
  await node.connect();
  node.startSync();
})().catch((err) => {
  console.error(err.stack);
  process.exit(1);
});
