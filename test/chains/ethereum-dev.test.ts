// Integration: a real Hardhat 2 node started by the project (src/chains/dev/ethereum-dev.ts) with
// the 6-decimal TestUsdt deployed from the committed artifact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Wallet } from 'ethers';
import { startEthereumDev, loadTestUsdtArtifact, type EthereumDev } from '../../src/chains/dev/ethereum-dev.ts';
import {
  EthereumBlockSource, EthereumRpcClient, attachSignature, buildErc20Transfer, buildEthTransfer, createEthereumWatchSet,
  ethereumAddressFromPublicKey, parseEip1559, suggestFees, type EthereumWatchSet,
} from '../../src/chains/ethereum/index.ts';
import { isChainError } from '../../src/chains/errors.ts';

const root = process.env.AMANAT_TEST_TMP ?? os.tmpdir();
mkdirSync(root, { recursive: true });
const dir = mkdtempSync(path.join(root, 'eth-dev-'));
let dev: EthereumDev;
let source: EthereumBlockSource;
const clientA = Wallet.createRandom();
const clientB = Wallet.createRandom();
let watch: EthereumWatchSet;

before(async () => {
  dev = await startEthereumDev({ dataDir: path.join(dir, 'hardhat') });
  watch = createEthereumWatchSet(
    [{ address: clientA.address, owner: 'wallet-A-hot' }, { address: clientB.address, owner: 'wallet-B-hot' }],
    [{ contract: dev.usdt!.address, asset: 'USDT' }],
  );
  source = new EthereumBlockSource(dev.rpc, () => watch);
});

after(async () => {
  await dev?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('dev chain: TestUsdt is deployed from the committed artifact, 6 decimals, artifact matches its source', async () => {
  const artifact = loadTestUsdtArtifact();
  const source = readFileSync(path.join(import.meta.dirname, '../../src/chains/ethereum/contracts/TestUsdt.sol'), 'utf8');
  assert.equal(artifact.sourceSha256, createHash('sha256').update(source).digest('hex'), 'recompile: npx tsx src/chains/ethereum/contracts/compile-test-usdt.ts');
  const decimals = await dev.rpc.send<string>('eth_call', [{ to: dev.usdt!.address, data: '0x313ce567' }, 'latest']);
  assert.equal(BigInt(decimals), 6n);
  assert.equal(dev.chainId, 31337n);
});

test('DEP-08 ETH faucet: balance and block-source native deposit read back to the wei', async () => {
  const wei = 1_234_567_890_123_456_789n;
  const hash = await dev.faucetEth(clientA.address, wei);
  assert.equal(await dev.rpc.getBalance(clientA.address), wei);
  const tip = await source.getTip();
  const block = await source.getBlock(tip.height);
  assert.equal(block.hash, tip.hash);
  assert.equal(block.parentHash, await source.getBlockHash(tip.height - 1));
  assert.deepEqual(block.deposits.map((d) => [d.kind, d.txid, d.address, d.owner, d.asset, d.amount, d.from]), [
    ['native-transfer', hash, clientA.address, 'wallet-A-hot', 'ETH', wei, dev.faucetAccount],
  ]);
});

test('DEP-08 USDT (6 decimals) faucet: token balance and Transfer-log deposit read back to the unit', async () => {
  const units = 1_500_000_001n; // 1,500.000001 USDT
  const hash = await dev.faucetUsdt(clientB.address, units);
  assert.equal(await dev.rpc.getTokenBalance(dev.usdt!.address, clientB.address), units);
  const block = await source.getBlock((await source.getTip()).height);
  assert.deepEqual(block.deposits.map((d) => [d.kind, d.txid, d.address, d.owner, d.asset, d.amount, d.tokenContract]), [
    ['token-transfer', hash, clientB.address, 'wallet-B-hot', 'USDT', units, dev.usdt!.address],
  ]);
  assert.equal(typeof block.deposits[0]!.logIndex, 'number');
});

test('external-signature (HSM) flow: build, sign off-node, attach (r, s, yParity), broadcast, detect', async () => {
  // clientA signs with its own key (standing in for the HSM) and pays ETH and USDT to clientB.
  await dev.faucetUsdt(clientA.address, 10_000_000n);
  const sender = ethereumAddressFromPublicKey(Buffer.from(clientA.signingKey.publicKey.slice(2), 'hex'));
  assert.equal(sender, clientA.address);
  const fees = suggestFees(await dev.rpc.getBaseFee(), 1_000_000_000n);
  let nonce = await dev.rpc.getNonce(sender);
  const sign = (unsignedHash: string) => {
    const sig = clientA.signingKey.sign(unsignedHash);
    return { r: sig.r, s: sig.s, yParity: sig.yParity };
  };
  const eth = buildEthTransfer({ chainId: dev.chainId, nonce: nonce++, to: clientB.address, valueWei: 10n ** 15n, gasLimit: 21_000n, ...fees });
  const ethSigned = attachSignature(eth.unsignedSerialized, sign(eth.unsignedHash), sender);
  const usdt = buildErc20Transfer({ chainId: dev.chainId, nonce: nonce++, tokenContract: dev.usdt!.address, to: clientB.address, amount: 2_500_000n, gasLimit: 80_000n, ...fees });
  const usdtSigned = attachSignature(usdt.unsignedSerialized, sign(usdt.unsignedHash), sender);
  assert.deepEqual(parseEip1559(usdtSigned.raw).erc20Transfer, { to: clientB.address, amount: 2_500_000n });

  assert.equal(await dev.rpc.broadcast(ethSigned.raw), ethSigned.hash);
  const ethBlock = await source.getBlock((await source.getTip()).height);
  assert.equal(await dev.rpc.broadcast(usdtSigned.raw), usdtSigned.hash);
  const usdtBlock = await source.getBlock((await source.getTip()).height);
  const toB = [...ethBlock.deposits, ...usdtBlock.deposits].filter((d) => d.owner === 'wallet-B-hot');
  assert.deepEqual(toB.map((d) => [d.txid, d.asset, d.amount, d.from]), [
    [ethSigned.hash, 'ETH', 10n ** 15n, sender],
    [usdtSigned.hash, 'USDT', 2_500_000n, sender],
  ]);
});

test('WAL-05 wrong chain id: a client configured for chain 1 refuses the node; a tx for chain 1 is not broadcast', async () => {
  const mainnetClient = new EthereumRpcClient({ url: dev.rpcUrl, chainId: 1n });
  try {
    await assert.rejects(mainnetClient.assertChainId(), (e) => isChainError(e, 'RPC_ERROR'));
  } finally {
    mainnetClient.destroy();
  }
  const tx = buildEthTransfer({ chainId: 1n, nonce: 0, to: clientB.address, valueWei: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n });
  const sig = clientA.signingKey.sign(tx.unsignedHash);
  const signed = attachSignature(tx.unsignedSerialized, { r: sig.r, s: sig.s, yParity: sig.yParity });
  await assert.rejects(dev.rpc.broadcast(signed.raw), (e) => isChainError(e, 'TX_INVALID'));
});

test('DEP-07 a Transfer from an unlisted ERC-20 contract is a candidate with asset null', async () => {
  const withoutAllowList = createEthereumWatchSet([{ address: clientB.address, owner: 'wallet-B-hot' }], []);
  const quarantineSource = new EthereumBlockSource(dev.rpc, () => withoutAllowList);
  const hash = await dev.faucetUsdt(clientB.address, 7n);
  const block = await quarantineSource.getBlock((await quarantineSource.getTip()).height);
  assert.deepEqual(block.deposits.map((d) => [d.txid, d.asset, d.amount]), [[hash, null, 7n]]);
});

test('DEP-02 reorg helper: evm_snapshot/evm_revert + mining changes the hash at that height and drops the deposit', async () => {
  const snapshot = await dev.snapshot();
  const hash = await dev.faucetEth(clientA.address, 42n);
  const height = (await source.getTip()).height;
  const before = await source.getBlock(height);
  assert.deepEqual(before.deposits.map((d) => d.txid), [hash]);
  await dev.reorgTo(snapshot, 2);
  const after = await source.getBlock(height);
  assert.notEqual(after.hash, before.hash);
  assert.equal(after.parentHash, before.parentHash);
  assert.deepEqual(after.deposits, []);
  assert.equal((await source.getTip()).height, height + 1);
  await dev.mine(3);
  const tip = await source.getTip();
  for (let h = tip.height; h > tip.height - 3; h--) {
    assert.equal((await source.getBlock(h)).parentHash, await source.getBlockHash(h - 1), `parent hash chain at ${h}`);
  }
});
