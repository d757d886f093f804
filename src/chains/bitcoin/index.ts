// Bitcoin chain adapter: pure core (networks, address, fees, psbt, parse, block-scan) and I/O
// (rpc-client, block-source). Other contexts import from here.
export { bcoinRegtest, BITCOIN_NETWORKS, bitcoinNetwork, type BitcoinNetworkName } from './networks.ts';
export { p2wpkhFromPublicKey, decodeAddress, scriptToAddress, outputKind, type DecodedAddress, type OutputKind } from './address.ts';
export {
  DUST_RELAY_FEE_SAT_PER_KVB, FEE_RATE_MAX_SAT_PER_VBYTE, FEE_RATE_MIN_SAT_PER_VBYTE, dustThreshold, feeForVsize,
  p2wpkhSpendVsize, p2wpkhSpendWeight, vsizeFromWeight, btcPerKvbToSatPerVbyte, btcDecimalToSats, replacementFeeRate, INCREMENTAL_RELAY_SAT_PER_VBYTE,
} from './fees.ts';
export {
  MAX_INPUTS_PER_TX, MAX_OUTPUTS_PER_TX, SEQUENCE_RBF, buildPsbt, selectCoins, compareUtxosLargestFirst,
  type Utxo, type PaymentOutput, type BuildPsbtRequest, type BuiltPsbt, type CoinSelection,
} from './psbt.ts';
export { parseTransaction, parsePsbt, outpointTxid, type ParsedTransaction, type ParsedInput, type ParsedOutput } from './parse.ts';
export { createBitcoinWatchSet, scanBlockOutputs, parseBlock, normalizeBitcoinBlock, parentHashOf, type BitcoinWatchSet } from './block-scan.ts';
export { BitcoinRpcClient, BITCOIN_RPC_TIMEOUT_MS, type BitcoinRpcOptions, type BlockHeaderInfo, type MempoolCheck } from './rpc-client.ts';
export { BitcoinBlockSource } from './block-source.ts';
