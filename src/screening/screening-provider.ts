// The narrow interface every destination-screening source implements (WDR-04): one call, one
// address, one answer. The development provider (list-screening-provider.ts) answers from versioned
// files in policies/. A blockchain-analytics vendor (Chainalysis KYT, TRM, Elliptic, …) plugs in
// behind this same interface: map its address-screening answer onto ScreeningResult (cluster
// category → classification and privacyDevice, sanctions designation → sanctioned/sanctionsList,
// its score rescaled to 0..100), put its API and dataset version into `source`/`listVersion`, and
// throw a DomainError with `data.transient: true` when it cannot be reached, so the pipeline
// retries the step (bounded by its maxAttempts) and fails closed afterwards. None is built here.
import { address as bitcoinAddress } from 'bitcoinjs-lib';
import { ChainError } from '../chains/errors.ts';
import { parseEthereumAddress } from '../chains/ethereum/address.ts';

export type ScreeningChain = 'bitcoin' | 'ethereum';
export type DestinationClassification = 'vasp' | 'self_hosted' | 'unknown';

export interface ScreeningResult {
  chain: ScreeningChain;
  /** The address as screened, normalised (normalizeScreeningAddress). */
  address: string;
  /** vasp only through a VASP directory; self_hosted when the source positively says so; else unknown. */
  classification: DestinationClassification;
  vasp?: { id: string; name: string };
  sanctioned: boolean;
  /** The list (and designation) the address is on, when sanctioned. */
  sanctionsList?: string;
  /** Exposure to a mixer, tumbler, privacy protocol or another privacy device. */
  privacyDevice: boolean;
  /** Integer 0 (no risk seen) .. 100. */
  riskScore: number;
  tags: string[];
  /** Who answered (provider id). */
  source: string;
  /** The versions of the data the answer came from. */
  listVersion: string;
  /** SHA-256 (hex) of each data file or dataset the answer came from, by name. */
  listHashes: Record<string, string>;
  /** ISO 8601. */
  screenedAt: string;
}

export interface ScreeningProvider {
  /** Provider id, as it appears in `ScreeningResult.source`. */
  readonly source: string;
  screen(chain: ScreeningChain, address: string): Promise<ScreeningResult>;
}

const BECH32 = /^[a-z]{1,83}1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,}$/;

/**
 * The form addresses are compared in, checksum verified (a typo in a list must not silently match
 * nothing). Bitcoin bech32/bech32m is case-insensitive (one case only): lower case; Base58
 * (legacy) is case-sensitive and stays as written. Ethereum: lower-case hex; a mixed-case address
 * must carry a valid EIP-55 checksum. Any network: lists name mainnet and test addresses alike.
 */
export function normalizeScreeningAddress(chain: ScreeningChain, address: string): string {
  if (typeof address !== 'string' || address.length === 0 || address.length > 128) throw new ChainError('ADDRESS_INVALID', 'an address is 1..128 characters');
  if (chain === 'ethereum') return parseEthereumAddress(address).toLowerCase();
  const lower = address.toLowerCase();
  try {
    if (BECH32.test(lower)) {
      if (address !== lower && address !== address.toUpperCase()) throw new ChainError('ADDRESS_INVALID', 'a bech32 address is all lower or all upper case');
      bitcoinAddress.fromBech32(lower);
      return lower;
    }
    bitcoinAddress.fromBase58Check(address);
    return address;
  } catch (error) {
    if (error instanceof ChainError) throw error;
    throw new ChainError('ADDRESS_INVALID', `${address.slice(0, 100)} is not a bech32 or Base58 address: ${(error as Error).message}`);
  }
}
