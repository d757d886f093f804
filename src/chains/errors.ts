// Typed errors of the chain layer. They carry a stable code and data and know nothing of HTTP;
// the service maps them where it maps its own DomainErrors.
export type ChainErrorCode =
  | 'ADDRESS_INVALID' // not an address of any supported form
  | 'ADDRESS_WRONG_NETWORK' // a valid address, but of another network (mainnet vs regtest …)
  | 'ADDRESS_UNSUPPORTED' // valid for the network, but a kind we do not pay to or watch
  | 'PUBKEY_INVALID'
  | 'AMOUNT_INVALID'
  | 'INSUFFICIENT_FUNDS' // coin selection could not cover amount + fee within the limits
  | 'TOO_MANY_INPUTS'
  | 'FEE_RATE_INVALID'
  | 'FEE_TOO_HIGH'
  | 'TX_INVALID' // bytes that do not parse, or a transaction we refuse to build
  | 'SIGNATURE_INVALID'
  | 'RPC_ERROR' // the node answered with an error
  | 'RPC_UNAVAILABLE' // the node could not be reached or answered garbage
  | 'BROADCAST_NOT_ACCEPTED' // the node took the transaction but it is not in its mempool
  | 'BLOCK_NOT_FOUND'
  | 'NODE_MISCONFIGURED' // the node lacks a setting we depend on (e.g. Bitcoin Core without -txindex)
  | 'DEV_CHAIN_MISSING' // a dev chain component is not installed
  | 'DEV_CHAIN_FAILED'; // a dev chain did not start or stopped unexpectedly

export class ChainError extends Error {
  readonly code: ChainErrorCode;
  readonly data: Record<string, unknown>;
  constructor(code: ChainErrorCode, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChainError';
    this.code = code;
    this.data = data;
  }
}

export function isChainError(error: unknown, code?: ChainErrorCode): error is ChainError {
  return error instanceof ChainError && (code === undefined || error.code === code);
}
