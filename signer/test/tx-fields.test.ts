// KEY-08, issue 10 §2.2: transaction fields the signer used to sign as given. Only what the service
// builds (src/chains/bitcoin/psbt.ts: version 2, nLockTime 0, nSequence 0xfffffffd, no dust
// outputs; src/chains/ethereum/tx.ts: type 2, no access list, no calldata on ETH) is signed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Transaction } from 'ethers';
import type { Intent } from '../src/intent.ts';
import { attackedSigner } from './attacker.ts';
import { USDT_CONTRACT, buildPsbt, erc20TransferData, randomEthAddress, randomP2wpkhAddress, randomUtxo, unsignedEthTx } from './helpers.ts';

const ctx = attackedSigner('signer-tx-fields', [['a-hot', 'hot'], ['a-eth-hot', 'hot'], ['a-eth-cold', 'cold']]);

describe('2. transaction fields the service never builds', () => {
  const destination = randomP2wpkhAddress();
  function hotPsbt(fields: { version?: number; locktime?: number; sequence?: number; change?: bigint; pay?: bigint; utxo?: bigint }): { intent: Intent; psbt: string } {
    const pay = fields.pay ?? 100_000n;
    const intent = ctx.btcIntent('a-hot', [{ address: destination, amount: pay }]);
    const outputs = [{ address: destination, value: pay }];
    const change = fields.change ?? 195_000n;
    if (change >= 0n) outputs.push({ address: ctx.own('a-hot'), value: change });
    const psbt = buildPsbt({ sourcePublicKey: ctx.key('a-hot').publicKey, utxos: [randomUtxo(fields.utxo ?? 300_000n)], outputs, version: fields.version, locktime: fields.locktime, sequence: fields.sequence });
    return { intent, psbt };
  }

  test('KEY-08 a transaction version other than 2 is refused', async () => {
    for (const version of [1, 3]) {
      const { intent, psbt } = hotPsbt({ version });
      await ctx.assertRefused({ intent, transaction: { psbt } }, 'TX_VERSION_NOT_ALLOWED');
    }
  });

  test('KEY-08 a non-zero nLockTime is refused: a height, a height far in the future, a time, the largest time', async () => {
    for (const locktime of [1, 499_999_999, 1_800_000_000, 0xfffffffe]) {
      const { intent, psbt } = hotPsbt({ locktime });
      await ctx.assertRefused({ intent, transaction: { psbt } }, 'LOCKTIME_NOT_ALLOWED');
    }
  });

  test('KEY-08 an nSequence other than the service\'s 0xfffffffd is refused: relative locks in blocks and time, final, 0xfffffffe', async () => {
    for (const sequence of [0, 144, 0x00400000 | 1000, 0xfffffffe, 0xffffffff]) {
      const { intent, psbt } = hotPsbt({ sequence });
      await ctx.assertRefused({ intent, transaction: { psbt } }, 'SEQUENCE_NOT_ALLOWED');
    }
  });

  test('KEY-08 a zero-value or dust change output is refused; change of exactly the P2WPKH dust limit (294 sat) is signed', async () => {
    for (const change of [0n, 1n, 293n]) {
      const { intent, psbt } = hotPsbt({ change, utxo: 105_000n + change });
      await ctx.assertRefused({ intent, transaction: { psbt } }, 'OUTPUT_BELOW_DUST');
    }
    const { intent, psbt } = hotPsbt({ change: 294n, utxo: 105_294n });
    assert.equal((await ctx.assertSigned({ intent, transaction: { psbt } })).feeSat, '5000');
  });

  test('KEY-08 a dust payment is refused even when the intent names it', async () => {
    const { intent, psbt } = hotPsbt({ pay: 293n, change: 290_000n, utxo: 295_293n });
    await ctx.assertRefused({ intent, transaction: { psbt } }, 'OUTPUT_BELOW_DUST');
  });

  test('KEY-08 ETH: what the service never builds is refused: an access list, calldata on an ETH transfer, ETH value on an ERC-20 call, legacy and EIP-2930 types, a zero amount', async () => {
    const to = randomEthAddress();
    const base = { type: 2, chainId: 31337n, nonce: 300, to, value: 1000n, data: '0x', gasLimit: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
    const withAccessList = Transaction.from({ ...base, accessList: [{ address: randomEthAddress(), storageKeys: [`0x${'00'.repeat(32)}`] }] }).unsignedSerialized;
    await ctx.assertRefused({ intent: ctx.ethIntent('a-eth-hot', to, 1000n), transaction: { ethereumTx: withAccessList } }, 'UNEXPECTED_ACCESS_LIST');
    await ctx.assertRefused({ intent: ctx.ethIntent('a-eth-hot', to, 1000n), transaction: { ethereumTx: unsignedEthTx({ to, value: 1000n, data: '0xdeadbeef', nonce: 301 }) } }, 'UNEXPECTED_CALLDATA');
    const legacy = Transaction.from({ type: 0, chainId: 31337n, nonce: 302, to, value: 1000n, gasLimit: 21_000n, gasPrice: 1_000_000_000n }).unsignedSerialized;
    await ctx.assertRefused({ intent: ctx.ethIntent('a-eth-hot', to, 1000n), transaction: { ethereumTx: legacy } }, 'TX_TYPE_NOT_ALLOWED');
    const eip2930 = Transaction.from({ type: 1, chainId: 31337n, nonce: 303, to, value: 1000n, gasLimit: 21_000n, gasPrice: 1_000_000_000n, accessList: [] }).unsignedSerialized;
    await ctx.assertRefused({ intent: ctx.ethIntent('a-eth-hot', to, 1000n), transaction: { ethereumTx: eip2930 } }, 'TX_TYPE_NOT_ALLOWED');
    const erc20 = ctx.ethIntent('a-eth-cold', to, 5n, { asset: 'USDT', tokenContract: USDT_CONTRACT });
    const withValue = unsignedEthTx({ to: USDT_CONTRACT, value: 1n, data: erc20TransferData(to, 5n), nonce: 304, gasLimit: 60_000n });
    await ctx.assertRefused({ intent: erc20, transaction: { ethereumTx: withValue }, approvals: ctx.quorum(erc20) }, 'UNEXPECTED_VALUE');
    await ctx.assertRefused({ intent: ctx.ethIntent('a-eth-hot', to, 0n), transaction: { ethereumTx: unsignedEthTx({ to, value: 0n, nonce: 305 }) } }, 'INVALID_INTENT');
    const zeroToken = ctx.ethIntent('a-eth-cold', to, 0n, { asset: 'USDT', tokenContract: USDT_CONTRACT });
    await ctx.assertRefused({ intent: zeroToken, transaction: { ethereumTx: unsignedEthTx({ to: USDT_CONTRACT, data: erc20TransferData(to, 0n), nonce: 306, gasLimit: 60_000n }) }, approvals: ctx.quorum(zeroToken) }, 'INVALID_INTENT');
  });
});
