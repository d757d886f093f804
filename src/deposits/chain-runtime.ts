// The chains this instance talks to: the embedded dev chains (bcoin regtest, Hardhat) when no RPC
// URL is configured, real nodes otherwise; plus one deposit scanner per chain.
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../platform/logger.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { CaseService } from '../cases/index.ts';
import { BitcoinRpcClient } from '../chains/bitcoin/rpc-client.ts';
import type { BitcoinNetworkName } from '../chains/bitcoin/networks.ts';
import { BitcoinBlockSource } from '../chains/bitcoin/block-source.ts';
import { EthereumRpcClient } from '../chains/ethereum/rpc-client.ts';
import { EthereumBlockSource } from '../chains/ethereum/block-source.ts';
import { startBitcoinRegtest, type BitcoinRegtest } from '../chains/dev/bitcoin-regtest.ts';
import { startEthereumDev, type EthereumDev } from '../chains/dev/ethereum-dev.ts';
import { DepositScanner } from './deposit-scanner.ts';
import { BitcoinWatchIndex, EthereumWatchIndex } from './watch-index.ts';
import { inTransaction } from '../platform/tx.ts';

export interface ChainSettings {
  bitcoin: { rpcUrl?: string; rpcUser?: string; rpcPassword?: string; network: BitcoinNetworkName; confirmations: number; startHeight?: number };
  ethereum: { rpcUrl?: string; chainId: bigint; usdtContract?: string; confirmations: number; startHeight?: number };
  maxBlocksPerTick: number;
  maxReorgDepth: number;
}

export interface ChainRuntime {
  bitcoin: { rpc: BitcoinRpcClient; network: BitcoinNetworkName; dev?: BitcoinRegtest };
  ethereum: { rpc: EthereumRpcClient; chainId: bigint; dev?: EthereumDev };
  scanners: DepositScanner[];
  stop(): Promise<void>;
}

export async function openChains(deps: {
  settings: ChainSettings; dataDir: string; pool: pg.Pool; assets: AssetRegistry; ledger: LedgerService; log: Logger;
  /** Where a reorg shortfall opens its case (DEP-01). */
  cases?: Pick<CaseService, 'open'>;
}): Promise<ChainRuntime> {
  const { settings, pool, assets, ledger, log } = deps;
  let btcDev: BitcoinRegtest | undefined;
  let ethDev: EthereumDev | undefined;
  let bitcoinRpc: BitcoinRpcClient;
  let network = settings.bitcoin.network;
  if (settings.bitcoin.rpcUrl) {
    bitcoinRpc = new BitcoinRpcClient({ url: settings.bitcoin.rpcUrl, username: settings.bitcoin.rpcUser, password: settings.bitcoin.rpcPassword });
    await bitcoinRpc.assertTransactionIndex();
  } else {
    btcDev = await startBitcoinRegtest({ dataDir: path.join(deps.dataDir, 'bitcoin') });
    bitcoinRpc = btcDev.rpc;
    network = btcDev.network;
    log.info({ rpcUrl: btcDev.rpcUrl }, 'embedded bcoin regtest node started');
  }
  let ethereumRpc: EthereumRpcClient;
  let chainId = settings.ethereum.chainId;
  let usdtContract = settings.ethereum.usdtContract;
  if (settings.ethereum.rpcUrl) {
    ethereumRpc = new EthereumRpcClient({ url: settings.ethereum.rpcUrl, chainId });
  } else {
    try {
      ethDev = await startEthereumDev({ dataDir: path.join(deps.dataDir, 'ethereum') });
    } catch (error) {
      await btcDev?.stop();
      throw error;
    }
    ethereumRpc = ethDev.rpc;
    chainId = ethDev.chainId;
    usdtContract = ethDev.usdt?.address ?? usdtContract;
    log.info({ rpcUrl: ethDev.rpcUrl, usdt: usdtContract }, 'embedded Hardhat dev chain started');
  }
  // The ERC-20 allow-list is the asset registry: point USDT at this deployment's contract.
  const usdt = assets.list().find((a) => a.code === 'USDT');
  if (usdtContract && usdt && usdt.contractAddress?.toLowerCase() !== usdtContract.toLowerCase()) {
    await inTransaction(pool, (q) => assets.update(q, 'USDT', { contractAddress: usdtContract }));
  }

  const btcWatch = new BitcoinWatchIndex(network);
  const ethWatch = new EthereumWatchIndex(assets);
  const embeddedEthereum = ethDev !== undefined;
  const scanners = [
    new DepositScanner(pool, ledger, new BitcoinBlockSource(bitcoinRpc, () => btcWatch.set), {
      chain: 'bitcoin', confirmations: () => settings.bitcoin.confirmations,
      startHeight: settings.bitcoin.startHeight ?? (btcDev ? 0 : await bitcoinRpc.getBlockCount()),
      maxBlocksPerTick: settings.maxBlocksPerTick, maxReorgDepth: settings.maxReorgDepth, rollbackLostChain: false,
    }, log, btcWatch, deps.cases),
    new DepositScanner(pool, ledger, new EthereumBlockSource(ethereumRpc, () => ethWatch.set), {
      chain: 'ethereum', confirmations: () => settings.ethereum.confirmations,
      startHeight: settings.ethereum.startHeight ?? (ethDev ? 0 : await ethereumRpc.getBlockNumber()),
      maxBlocksPerTick: settings.maxBlocksPerTick, maxReorgDepth: settings.maxReorgDepth,
      // The embedded Hardhat chain lives in memory: after a restart the old chain is gone, and so are its deposits.
      rollbackLostChain: embeddedEthereum,
    }, log, ethWatch, deps.cases),
  ];
  return {
    bitcoin: { rpc: bitcoinRpc, network, dev: btcDev },
    ethereum: { rpc: ethereumRpc, chainId, dev: ethDev },
    scanners,
    async stop() {
      await Promise.allSettled([btcDev?.stop(), ethDev?.stop()]);
    },
  };
}
