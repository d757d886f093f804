// Pure Ethereum core against official vectors (fixtures/ cite their sources) plus ERC-20
// calldata, external signatures and deposit extraction. No node needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SigningKey, Wallet, getBytes, zeroPadValue, toBeHex } from 'ethers';
import {
  ERC20_TRANSFER_TOPIC, attachSignature, buildErc20Transfer, buildEthTransfer, createEthereumWatchSet, decodeErc20Transfer,
  effectiveGasPrice, encodeErc20Transfer, ethereumAddressFromPublicKey, extractNativeDeposits, extractTokenDeposits,
  nextBaseFee, normalizeEthereumBlock, parseEip1559, parseEthereumAddress, replacementFees, type RpcBlock, type RpcLog,
} from '../../src/chains/ethereum/index.ts';
import { isChainError } from '../../src/chains/errors.ts';
import { ASSET_CAPABILITIES } from '../../src/chains/capabilities.ts';

const fixture = (name: string): any => JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8'));

test('EIP-55 checksummed addresses validate and round-trip from lower case', () => {
  for (const address of fixture('eip55-addresses.json').checksummed as string[]) {
    assert.equal(parseEthereumAddress(address), address);
    assert.equal(parseEthereumAddress(address.toLowerCase()), address);
  }
});

test('EIP-55 a mixed-case address with one flipped letter is refused', () => {
  const good = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
  const bad = '0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
  assert.throws(() => parseEthereumAddress(bad), (e) => isChainError(e, 'ADDRESS_INVALID'));
  assert.throws(() => parseEthereumAddress(good.toLowerCase(), { requireChecksum: true }), (e) => isChainError(e, 'ADDRESS_INVALID'));
  assert.throws(() => parseEthereumAddress('0x1234'), (e) => isChainError(e, 'ADDRESS_INVALID'));
});

test('address from a 65-byte uncompressed public key (computeAddress)', () => {
  for (const v of fixture('eip55-addresses.json').publicKeys) {
    const pub = getBytes(`0x${v.uncompressed}`);
    assert.equal(ethereumAddressFromPublicKey(pub), v.address);
    assert.equal(ethereumAddressFromPublicKey(getBytes(SigningKey.computePublicKey(pub, true))), v.address);
  }
  // Hardhat's account #0 (COMPONENTS §4)
  const dev = new SigningKey('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
  assert.equal(ethereumAddressFromPublicKey(getBytes(dev.publicKey)), '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
  assert.throws(() => ethereumAddressFromPublicKey(new Uint8Array(64)), (e) => isChainError(e, 'PUBKEY_INVALID'));
});

test('EIP-1559 ethereumjs vectors: build, unsigned hash, external signature, exact signed bytes, parse', () => {
  const { chainId, vectors } = fixture('eip1559-ethereumjs.json');
  for (const v of vectors) {
    const expected = `0x${v.signedTransactionRLP.slice(6)}`; // drop the outer RLP string header (b8 + length)
    const unsigned = buildEthTransfer({
      chainId: BigInt(chainId), nonce: v.nonce, to: v.to, valueWei: BigInt(v.value), gasLimit: BigInt(v.gasLimit),
      maxFeePerGas: BigInt(v.maxFeePerGas), maxPriorityFeePerGas: BigInt(v.maxInclusionFeePerGas),
    });
    const key = new SigningKey(v.privateKey);
    const sig = key.sign(unsigned.unsignedHash); // RFC 6979: deterministic, so the bytes must match
    const signed = attachSignature(unsigned.unsignedSerialized, { r: sig.r, s: sig.s, yParity: sig.yParity }, new Wallet(v.privateKey).address);
    assert.equal(signed.raw, expected, `nonce ${v.nonce}`);
    const parsed = parseEip1559(signed.raw);
    assert.equal(parsed.chainId, 7822n);
    assert.equal(parsed.nonce, v.nonce);
    assert.equal(parsed.valueWei, BigInt(v.value));
    assert.equal(parsed.gasLimit, BigInt(v.gasLimit));
    assert.equal(parsed.maxFeeWei, BigInt(v.gasLimit) * BigInt(v.maxFeePerGas));
    assert.equal(parsed.from, new Wallet(v.privateKey).address);
    assert.equal(parsed.unsignedHash, unsigned.unsignedHash);
    assert.equal(parsed.hash, signed.hash);
  }
});

test('EIP-1559 base fee update matches go-ethereum TestCalcBaseFee', () => {
  for (const v of fixture('eip1559-base-fee.json').vectors) {
    assert.equal(nextBaseFee({ baseFeePerGas: BigInt(v.parentBaseFee), gasLimit: BigInt(v.parentGasLimit), gasUsed: BigInt(v.parentGasUsed) }), BigInt(v.expectedBaseFee));
  }
  assert.equal(effectiveGasPrice(100n, { maxFeePerGas: 150n, maxPriorityFeePerGas: 10n }), 110n);
  assert.equal(effectiveGasPrice(100n, { maxFeePerGas: 105n, maxPriorityFeePerGas: 10n }), 105n);
  assert.equal(effectiveGasPrice(100n, { maxFeePerGas: 99n, maxPriorityFeePerGas: 10n }), undefined);
});

const token = '0xdAC17F958D2ee523a2206206994597C13D831ec7';
const alice = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const bob = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';

test('ERC-20 transfer calldata encodes and decodes strictly', () => {
  const data = encodeErc20Transfer(alice, 1_234_567n);
  assert.equal(data.slice(0, 10), '0xa9059cbb');
  assert.deepEqual(decodeErc20Transfer(data), { to: alice, amount: 1_234_567n });
  assert.equal(decodeErc20Transfer(`${data}00`), undefined, 'trailing bytes');
  assert.equal(decodeErc20Transfer(`0xa9059cbb${'ff'.repeat(12)}${data.slice(34)}`), undefined, 'dirty address word');
  assert.equal(decodeErc20Transfer(`0x095ea7b3${data.slice(10)}`), undefined, 'approve is not transfer');
});

test('ERC-20 transfer: build, external signature with sender check, parse recovers recipient and units', () => {
  const wallet = Wallet.createRandom();
  const unsigned = buildErc20Transfer({
    chainId: 31337n, nonce: 7, tokenContract: token, to: bob, amount: 25_000_000n,
    gasLimit: 65_000n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n,
  });
  const before = parseEip1559(unsigned.unsignedSerialized);
  assert.equal(before.signed, false);
  assert.equal(before.to, token);
  assert.equal(before.valueWei, 0n);
  assert.deepEqual(before.erc20Transfer, { to: bob, amount: 25_000_000n });
  const sig = wallet.signingKey.sign(unsigned.unsignedHash);
  assert.throws(() => attachSignature(unsigned.unsignedSerialized, { r: sig.r, s: sig.s, yParity: sig.yParity }, alice), (e) => isChainError(e, 'SIGNATURE_INVALID'));
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const highS = toBeHex(n - BigInt(sig.s), 32);
  assert.throws(() => attachSignature(unsigned.unsignedSerialized, { r: sig.r, s: highS, yParity: sig.yParity === 0 ? 1 : 0 }), (e) => isChainError(e, 'SIGNATURE_INVALID'));
  const signed = attachSignature(unsigned.unsignedSerialized, { r: sig.r, s: sig.s, yParity: sig.yParity }, wallet.address);
  const parsed = parseEip1559(signed.raw);
  assert.equal(parsed.from, wallet.address);
  assert.deepEqual(parsed.erc20Transfer, { to: bob, amount: 25_000_000n });
  assert.throws(() => attachSignature(signed.raw, { r: sig.r, s: sig.s, yParity: sig.yParity }), (e) => isChainError(e, 'TX_INVALID'));
  assert.throws(() => parseEip1559('0xf86c'), (e) => isChainError(e, 'TX_INVALID'), 'legacy transactions are refused');
});

test('builders fail closed on fee caps and zero amounts', () => {
  const base = { chainId: 1n, nonce: 0, to: bob, gasLimit: 21_000n, maxPriorityFeePerGas: 1n };
  assert.throws(() => buildEthTransfer({ ...base, valueWei: 1n, maxFeePerGas: 10n ** 14n }), (e) => isChainError(e, 'AMOUNT_INVALID'));
  assert.throws(() => buildEthTransfer({ ...base, valueWei: 0n, maxFeePerGas: 10n }), (e) => isChainError(e, 'AMOUNT_INVALID'));
  assert.throws(() => buildEthTransfer({ ...base, valueWei: 1n, maxFeePerGas: 10n, maxPriorityFeePerGas: 11n }), (e) => isChainError(e, 'AMOUNT_INVALID'));
  assert.throws(() => buildEthTransfer({ ...base, valueWei: 1n, maxFeePerGas: 10n, gasLimit: 20_999n }), (e) => isChainError(e, 'AMOUNT_INVALID'));
});

const topicOf = (address: string): string => zeroPadValue(address, 32).toLowerCase();
const hash = (n: number): string => `0x${n.toString(16).padStart(64, '0')}`;

test('DEP-08 / DEP-07 deposit extraction: ETH value and ERC-20 logs to watched accounts; unlisted token is asset null', () => {
  const watch = createEthereumWatchSet(
    [{ address: alice, owner: 'wallet-A' }, { address: bob.toLowerCase(), owner: 'wallet-B' }],
    [{ contract: token, asset: 'USDT' }],
  );
  const block: RpcBlock = {
    number: '0x10', hash: hash(0xb10c), parentHash: hash(0xb10b), timestamp: '0x6553f100',
    transactions: [
      { hash: hash(1), from: bob, to: alice, value: '0xde0b6b3a7640000' }, // 1 ETH to A
      { hash: hash(2), from: alice, to: token, value: '0x0' }, // token call, no value
      { hash: hash(3), from: alice, to: '0x0000000000000000000000000000000000000001', value: '0x1' }, // unwatched
      { hash: hash(4), from: alice, to: bob, value: '0x5' }, // failed (receipt status 0)
      { hash: hash(5), from: alice, to: null, value: '0x0' }, // contract creation
    ],
  };
  const logs: RpcLog[] = [
    { address: token.toLowerCase(), topics: [ERC20_TRANSFER_TOPIC, topicOf(alice), topicOf(bob)], data: toBeHex(25_000_000n, 32), logIndex: '0x3', transactionHash: hash(2), blockHash: hash(0xb10c) },
    { address: '0x1111111111111111111111111111111111111111', topics: [ERC20_TRANSFER_TOPIC, topicOf(bob), topicOf(alice)], data: toBeHex(7n, 32), logIndex: '0x4', transactionHash: hash(6), blockHash: hash(0xb10c) },
    // ERC-721 Transfer: same topic0, token id indexed → skipped
    { address: token, topics: [ERC20_TRANSFER_TOPIC, topicOf(bob), topicOf(alice), toBeHex(1n, 32)], data: '0x', logIndex: '0x5', transactionHash: hash(7), blockHash: hash(0xb10c) },
    { address: token, topics: [ERC20_TRANSFER_TOPIC, topicOf(bob), topicOf(alice)], data: toBeHex(9n, 32), logIndex: '0x6', transactionHash: hash(8), removed: true },
  ];
  const native = extractNativeDeposits(block, watch, new Set([hash(4)]));
  assert.deepEqual(native.map((d) => [d.txid, d.address, d.owner, d.asset, d.amount, d.from]), [[hash(1), alice, 'wallet-A', 'ETH', 10n ** 18n, bob]]);
  const tokens = extractTokenDeposits(logs, watch);
  assert.deepEqual(tokens.map((d) => [d.logIndex, d.address, d.owner, d.asset, d.amount, d.tokenContract]), [
    [3, bob, 'wallet-B', 'USDT', 25_000_000n, token],
    [4, alice, 'wallet-A', null, 7n, '0x1111111111111111111111111111111111111111'],
  ]);
  const normalized = normalizeEthereumBlock(block, logs, watch, new Set([hash(4)]));
  assert.equal(normalized.height, 16);
  assert.equal(normalized.parentHash, hash(0xb10b));
  assert.equal(normalized.deposits.length, 3);
  assert.throws(() => normalizeEthereumBlock(block, [{ ...logs[0]!, blockHash: hash(99) }], watch), (e) => isChainError(e, 'RPC_ERROR'));
});

test('capabilities are data: decimals and models per asset', () => {
  assert.equal(ASSET_CAPABILITIES.USDT.decimals, 6);
  assert.equal(ASSET_CAPABILITIES.ETH.decimals, 18);
  assert.equal(ASSET_CAPABILITIES.BTC.accountModel, 'utxo');
  assert.equal(ASSET_CAPABILITIES.USDT.feeAsset, 'ETH');
  for (const c of Object.values(ASSET_CAPABILITIES)) assert.equal(c.supportsMemo, false);
});

test('WDR ETH replacement fees: both fees rise at least 12.5 % (nodes want 10 %), follow the base fee, respect the cap', () => {
  const gwei = 10n ** 9n;
  const previous = { maxFeePerGas: 20n * gwei, maxPriorityFeePerGas: 1n * gwei };
  const calm = replacementFees(previous, { baseFeePerGas: 1n * gwei, priorityFeePerGas: 1n * gwei, capPerGas: 500n * gwei })!;
  assert.equal(calm.maxPriorityFeePerGas, gwei + gwei / 8n + 1n);
  assert.equal(calm.maxFeePerGas, 20n * gwei + 20n * gwei / 8n + 1n);
  for (const [now, was] of [[calm.maxFeePerGas, previous.maxFeePerGas], [calm.maxPriorityFeePerGas, previous.maxPriorityFeePerGas]] as const) {
    assert.ok(now * 10n >= was * 11n, 'at least +10 %, as geth requires');
  }
  const busy = replacementFees(previous, { baseFeePerGas: 40n * gwei, priorityFeePerGas: 2n * gwei, capPerGas: 500n * gwei })!;
  assert.deepEqual(busy, { maxFeePerGas: 82n * gwei, maxPriorityFeePerGas: 2n * gwei }, 'a risen base fee: 2 × base + tip');
  assert.deepEqual(replacementFees(previous, { baseFeePerGas: 400n * gwei, priorityFeePerGas: gwei, capPerGas: 30n * gwei }),
    { maxFeePerGas: 30n * gwei, maxPriorityFeePerGas: gwei + gwei / 8n + 1n }, 'capped, still a valid bump');
  assert.equal(replacementFees(previous, { baseFeePerGas: gwei, priorityFeePerGas: gwei, capPerGas: 22n * gwei }), undefined, 'the cap leaves no valid bump');
});
