// Ethereum chain adapter: pure core (address, tx, deposits) and I/O (rpc-client, block-source).
export { ethereumAddressFromPublicKey, parseEthereumAddress, isValidEthereumAddress, type ParseAddressOptions } from './address.ts';
export {
  ERC20_TRANSFER_SELECTOR, ETH_TRANSFER_GAS, GAS_LIMIT_MAX, MAX_FEE_PER_GAS_MAX, buildEthTransfer, buildErc20Transfer,
  encodeErc20Transfer, decodeErc20Transfer, parseEip1559, attachSignature, nextBaseFee, effectiveGasPrice, suggestFees, replacementFees,
  type Eip1559Fees, type EthTransferIntent, type Erc20TransferIntent, type UnsignedEip1559, type ParsedEip1559,
  type ExternalSignature, type Erc20Transfer,
} from './tx.ts';
export {
  ERC20_TRANSFER_TOPIC, createEthereumWatchSet, extractNativeDeposits, extractTokenDeposits, nativeTransferCandidates,
  normalizeEthereumBlock, type EthereumWatchSet, type RpcBlock, type RpcLog, type RpcTransaction,
} from './deposits.ts';
export { EthereumRpcClient, type EthereumRpcOptions, type RpcReceipt } from './rpc-client.ts';
export { EthereumBlockSource, MAX_RECEIPTS_PER_BLOCK } from './block-source.ts';
