// Parse the unsigned EIP-1559 transaction ourselves and diff it against the intent: native ETH
// transfers, or ERC-20 transfer(address,uint256) calls to the intent's token contract.
import { Transaction, getAddress, isAddress } from 'ethers';
import { refuse } from './errors.ts';
import type { Intent } from './intent.ts';
import type { KeyLookup, SignerKey } from './keys.ts';
import type { Policy } from './policy.ts';

const TRANSFER_SELECTOR = 'a9059cbb';

function address(value: string, what: string): string {
  if (!isAddress(value)) refuse('INVALID_ADDRESS', `${what} ${value} is not an Ethereum address`);
  return getAddress(value);
}

export interface EthereumPlan {
  tx: Transaction;
  chainId: bigint;
  nonce: number;
  maxFeeWei: bigint;
}

export function checkEthereum(options: { txHex: string; intent: Intent; source: SignerKey; keys: KeyLookup; policy: Policy }): EthereumPlan {
  const { intent, policy, keys } = options;
  let tx: Transaction;
  try {
    tx = Transaction.from(options.txHex);
  } catch (error) {
    return refuse('MALFORMED_TRANSACTION', `the transaction does not parse: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (tx.type !== 2) refuse('TX_TYPE_NOT_ALLOWED', `only EIP-1559 (type 2) transactions are signed, got type ${tx.type ?? 'legacy'}`);
  if (tx.signature !== null) refuse('MALFORMED_TRANSACTION', 'the transaction is already signed');
  if (!/^(0|[1-9][0-9]{0,30})$/.test(intent.network)) refuse('NETWORK_NOT_ALLOWED', `ethereum network must be a chain id, got ${intent.network}`);
  const chainId = BigInt(intent.network);
  if (!policy.document.ethereum.chainIds.includes(intent.network)) refuse('NETWORK_NOT_ALLOWED', `chain id ${intent.network} is not allowed by the signer policy`);
  if (tx.chainId !== chainId) refuse('CHAIN_ID_MISMATCH', `transaction chain id ${tx.chainId} differs from the intent's ${chainId}`);
  if (intent.change !== undefined) refuse('INVALID_INTENT', 'an ethereum intent has no change');
  if (intent.outputs.length !== 1) refuse('INVALID_INTENT', 'an ethereum intent has exactly one output');
  const [output] = intent.outputs;
  if (!output) refuse('INVALID_INTENT', 'missing output');
  if (tx.accessList && tx.accessList.length > 0) refuse('UNEXPECTED_ACCESS_LIST', 'access lists are not signed');
  if (tx.to === null) refuse('DESTINATION_MISMATCH', 'contract creation is never signed');

  const asset = policy.document.assets[intent.asset];
  if (!asset || asset.chain !== 'ethereum') refuse('ASSET_NOT_ALLOWED', `asset ${intent.asset} is not an ethereum asset in the signer policy`);
  const wantAmount = BigInt(output.amount);
  // The service never builds a transfer of nothing; it would only spend gas (and a nonce).
  if (wantAmount === 0n) refuse('INVALID_INTENT', 'an ethereum transfer of 0 is never signed');
  const wantTo = address(output.address, 'destination');
  let paidTo: string;
  let paid: bigint;
  if (intent.tokenContract !== undefined) {
    if (intent.asset === 'ETH') refuse('ASSET_MISMATCH', 'ETH has no token contract');
    const contract = address(intent.tokenContract, 'token contract');
    const pinned = asset.contracts?.[intent.network];
    if (pinned === undefined || getAddress(pinned) !== contract) refuse('TOKEN_CONTRACT_NOT_ALLOWED', `${contract} is not the policy's ${intent.asset} contract on chain ${intent.network}`);
    if (getAddress(tx.to) !== contract) refuse('TOKEN_CONTRACT_MISMATCH', `the transaction calls ${tx.to}, the intent's token contract is ${contract}`);
    if (tx.value !== 0n) refuse('UNEXPECTED_VALUE', 'an ERC-20 transfer carries no ETH value');
    const data = tx.data.toLowerCase().replace(/^0x/, '');
    if (data.length !== 8 + 128 || !data.startsWith(TRANSFER_SELECTOR) || !/^0{24}$/.test(data.slice(8, 32))) {
      refuse('UNEXPECTED_CALLDATA', 'the calldata is not exactly transfer(address,uint256)');
    }
    paidTo = getAddress(`0x${data.slice(32, 72)}`);
    paid = BigInt(`0x${data.slice(72, 136)}`);
  } else {
    if (intent.asset !== 'ETH') refuse('ASSET_MISMATCH', `asset ${intent.asset} needs a token contract`);
    if (tx.data !== '0x') refuse('UNEXPECTED_CALLDATA', 'a native ETH transfer carries no calldata');
    paidTo = getAddress(tx.to);
    paid = tx.value;
  }
  if (paidTo !== wantTo) refuse('DESTINATION_MISMATCH', `the transaction pays ${paidTo}, the intent says ${wantTo}`);
  if (paid !== wantAmount) refuse('AMOUNT_MISMATCH', `the transaction pays ${paid}, the intent says ${wantAmount}`, { actual: paid.toString(), expected: wantAmount.toString() });
  if (paid > BigInt(asset.maxAmountPerTx)) refuse('AMOUNT_ABOVE_POLICY_CAP', `${paid} exceeds the per-transaction cap ${asset.maxAmountPerTx}`);

  const purpose = intent.purpose ?? 'withdrawal';
  if (purpose !== 'withdrawal') {
    const target = output.keyId === undefined ? undefined : keys(output.keyId);
    if (!target || target.clientId !== intent.clientId || target.ethereumAddress !== wantTo) {
      refuse('CROSS_CLIENT_TRANSFER', `${purpose} destination is not a wallet of client ${intent.clientId}`);
    }
    const wantTier = purpose === 'sweep' ? 'cold' : 'hot';
    if (target.tier !== wantTier) refuse('TIER_MISMATCH', `${purpose} must go to a ${wantTier} key`);
  }

  const maxFeePerGas = tx.maxFeePerGas ?? 0n;
  const maxPriority = tx.maxPriorityFeePerGas ?? 0n;
  if (maxPriority > maxFeePerGas) refuse('MALFORMED_TRANSACTION', 'maxPriorityFeePerGas exceeds maxFeePerGas');
  if (tx.gasLimit > BigInt(policy.document.ethereum.maxGasLimit)) refuse('FEE_ABOVE_CAP', `gas limit ${tx.gasLimit} exceeds the policy's ${policy.document.ethereum.maxGasLimit}`);
  const maxFeeWei = tx.gasLimit * maxFeePerGas;
  if (maxFeeWei > BigInt(intent.feeCap)) refuse('FEE_ABOVE_CAP', `gasLimit*maxFeePerGas = ${maxFeeWei} wei exceeds the intent's cap ${intent.feeCap}`);
  if (maxFeePerGas > BigInt(policy.document.ethereum.maxFeePerGasWei)) refuse('FEE_RATE_ABOVE_POLICY', `maxFeePerGas ${maxFeePerGas} exceeds ${policy.document.ethereum.maxFeePerGasWei}`);
  return { tx, chainId, nonce: tx.nonce, maxFeeWei };
}
