// Bitcoin networks as bitcoinjs Network objects. bcoin's regtest uses its own address prefixes
// (COMPONENTS.md §3); scripts, txids and the genesis block are the same as Bitcoin Core's regtest.
import { networks, type Network } from 'bitcoinjs-lib';

/** bcoin regtest: bech32 `rb`, P2PKH 0x3c, P2SH 0x26, WIF 0x5a (bcoin lib/protocol/networks.js). */
export const bcoinRegtest: Network = {
  messagePrefix: '\x18Bitcoin Signed Message:\n',
  bech32: 'rb',
  bip32: { public: 0xeab4fa05, private: 0xeab404c7 },
  pubKeyHash: 0x3c,
  scriptHash: 0x26,
  wif: 0x5a,
};

export type BitcoinNetworkName = 'mainnet' | 'testnet' | 'regtest' | 'bcoin-regtest';

export const BITCOIN_NETWORKS: Readonly<Record<BitcoinNetworkName, Network>> = Object.freeze({
  mainnet: networks.bitcoin,
  testnet: networks.testnet,
  regtest: networks.regtest,
  'bcoin-regtest': bcoinRegtest,
});

export function bitcoinNetwork(name: BitcoinNetworkName): Network {
  const network = BITCOIN_NETWORKS[name];
  if (!network) throw new TypeError(`unknown bitcoin network ${String(name)}`);
  return network;
}
