// A real Hardhat 2 network node as a child process (COMPONENTS.md §4) on a free loopback port,
// with the 6-decimal TestUsdt ERC-20 deployed from the committed artifact (no compiler at
// runtime), a faucet for ETH and USDT, and block helpers for reorg tests.
//
// Reorgs on Hardhat: evm_snapshot before the blocks to orphan, evm_revert to drop them, then mine
// again; the replacement block at the same height has a new hash because its timestamp is moved
// forward (evm_setNextBlockTimestamp). Hardhat snapshots are single-use: a revert consumes the id.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ContractFactory, JsonRpcProvider, Network, Wallet, type InterfaceAbi } from 'ethers';
import { ChainError } from '../errors.ts';
import { EthereumRpcClient } from '../ethereum/rpc-client.ts';
import { encodeErc20Transfer } from '../ethereum/tx.ts';
import { parseEthereumAddress } from '../ethereum/address.ts';
import { freeLoopbackPort, resolveInstalled, spawnNodeScript, waitUntilReady } from './child-process.ts';

export const HARDHAT_CHAIN_ID = 31337n;
/** Hardhat's well-known dev accounts (mnemonic "test test … junk"); public knowledge, dev only. */
export const HARDHAT_DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
] as const;
/** TestUsdt supply minted to dev account #0: 1e9 USDT in 6-decimal units. */
export const TEST_USDT_SUPPLY = 1_000_000_000n * 10n ** 6n;
export const TEST_USDT_DECIMALS = 6;
const HARDHAT_INSTALL = 'npm install -D hardhat@2';

interface Artifact { abi: InterfaceAbi; bytecode: string; sourceSha256: string }

export function loadTestUsdtArtifact(): Artifact {
  return JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'ethereum', 'artifacts', 'TestUsdt.json'), 'utf8')) as Artifact;
}

export interface EthereumDevOptions {
  readonly dataDir: string;
  /** Deploy TestUsdt at start (default true). */
  readonly deployToken?: boolean;
}

export interface EthereumDev {
  readonly rpcUrl: string;
  readonly chainId: bigint;
  readonly rpc: EthereumRpcClient;
  readonly provider: JsonRpcProvider;
  /** Dev account #0: deployer and faucet. */
  readonly faucetAccount: string;
  readonly usdt?: { readonly address: string; readonly decimals: number; readonly asset: 'USDT' };
  readonly pid: number;
  readonly logFile: string;
  /** Sends `wei` from the faucet account; resolves once mined (automine). Returns the tx hash. */
  faucetEth(address: string, wei: bigint): Promise<string>;
  /** Transfers `units` of TestUsdt (6 decimals) from the faucet account. Returns the tx hash. */
  faucetUsdt(address: string, units: bigint): Promise<string>;
  mine(count: number): Promise<void>;
  snapshot(): Promise<string>;
  revert(snapshotId: string): Promise<void>;
  /** Reverts to `snapshotId` and mines `count` blocks with a later timestamp: new hashes at the same heights. */
  reorgTo(snapshotId: string, count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEthereumDev(options: EthereumDevOptions): Promise<EthereumDev> {
  const script = resolveInstalled('hardhat', 'internal/cli/bootstrap.js', HARDHAT_INSTALL);
  mkdirSync(options.dataDir, { recursive: true });
  // Hardhat 2 needs a config file in its working directory; the network needs nothing special.
  writeFileSync(path.join(options.dataDir, 'hardhat.config.cjs'), `module.exports = { networks: { hardhat: { chainId: ${HARDHAT_CHAIN_ID} } } };\n`);
  const port = await freeLoopbackPort();
  const logFile = path.join(options.dataDir, 'hardhat.log');
  const proc = spawnNodeScript(script, ['node', '--hostname', '127.0.0.1', '--port', String(port)], {
    cwd: options.dataDir, logFile,
    env: {
      HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true',
      // The data dir is outside the repo, so the config cannot resolve hardhat from there.
      HARDHAT_EXPERIMENTAL_ALLOW_NON_LOCAL_INSTALLATION: 'true',
    },
  });
  const rpcUrl = `http://127.0.0.1:${port}/`;
  const rpc = new EthereumRpcClient({ url: rpcUrl, chainId: HARDHAT_CHAIN_ID, pollingIntervalMs: 50 });
  const provider = new JsonRpcProvider(rpcUrl, Network.from(HARDHAT_CHAIN_ID), { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
  try {
    await waitUntilReady('hardhat node', proc, () => rpc.assertChainId());
  } catch (error) {
    rpc.destroy();
    provider.destroy();
    throw error;
  }
  const dev = new Wallet(HARDHAT_DEV_KEYS[0], provider);

  // One sender, automine: sends must be sequential ("Nonce too high" otherwise, COMPONENTS §4).
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = queue.then(fn, fn);
    queue = result.catch(() => undefined);
    return result;
  };
  // ethers caches eth_getTransactionCount for a moment, so back-to-back sends reuse a nonce;
  // every send from the dev account goes through serial(), so a local counter is exact.
  let nextNonce: number | undefined;
  const sendAndWait = async (request: { to?: string; value?: bigint; data?: string }): Promise<string> => {
    nextNonce ??= await rpc.getNonce(dev.address, 'pending');
    const response = await dev.sendTransaction({ ...request, type: 2, nonce: nextNonce });
    nextNonce += 1;
    const receipt = await response.wait(1);
    if (!receipt || receipt.status !== 1) throw new ChainError('DEV_CHAIN_FAILED', 'faucet transaction failed', { hash: response.hash });
    return response.hash;
  };

  let usdt: EthereumDev['usdt'];
  try {
    if (options.deployToken ?? true) {
      const artifact = loadTestUsdtArtifact();
      const factory = new ContractFactory(artifact.abi, artifact.bytecode, dev);
      const deployTx = await factory.getDeployTransaction(TEST_USDT_SUPPLY);
      const hash = await serial(() => sendAndWait({ data: deployTx.data }));
      const receipt = await rpc.getReceipt(hash);
      const contractAddress = receipt?.contractAddress;
      if (!contractAddress) throw new ChainError('DEV_CHAIN_FAILED', 'TestUsdt deployment has no contract address', { hash });
      usdt = { address: parseEthereumAddress(contractAddress), decimals: TEST_USDT_DECIMALS, asset: 'USDT' };
    }
  } catch (error) {
    rpc.destroy();
    provider.destroy();
    await proc.stop();
    throw error;
  }

  const send = <T>(method: string, params: unknown[] = []) => rpc.send<T>(method, params);
  return {
    rpcUrl, chainId: HARDHAT_CHAIN_ID, rpc, provider, faucetAccount: dev.address, usdt, pid: proc.child.pid!, logFile,
    faucetEth: (address, wei) => serial(() => sendAndWait({ to: parseEthereumAddress(address), value: wei })),
    faucetUsdt: (address, units) => {
      if (!usdt) throw new ChainError('DEV_CHAIN_FAILED', 'TestUsdt was not deployed (deployToken: false)');
      return serial(() => sendAndWait({ to: usdt.address, data: encodeErc20Transfer(address, units) }));
    },
    mine: async (count) => {
      if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) throw new RangeError('count must be 1..10000');
      // Not hardhat_mine: its lazily created blocks report a zero parentHash, which a scanner rightly reads as a broken chain.
      for (let i = 0; i < count; i++) await send('evm_mine');
    },
    snapshot: () => send<string>('evm_snapshot'),
    revert: async (snapshotId) => {
      if (!(await send<boolean>('evm_revert', [snapshotId]))) throw new ChainError('DEV_CHAIN_FAILED', `evm_revert ${snapshotId} failed (snapshots are single-use)`);
    },
    reorgTo: async (snapshotId, count) => {
      if (!(await send<boolean>('evm_revert', [snapshotId]))) throw new ChainError('DEV_CHAIN_FAILED', `evm_revert ${snapshotId} failed (snapshots are single-use)`);
      const latest = await send<{ timestamp: string }>('eth_getBlockByNumber', ['latest', false]);
      // A timestamp the orphaned blocks cannot have had makes every replacement hash differ.
      await send('evm_setNextBlockTimestamp', [Number(BigInt(latest.timestamp)) + 1_000]);
      for (let i = 0; i < count; i++) await send('evm_mine');
    },
    stop: async () => {
      rpc.destroy();
      provider.destroy();
      await proc.stop();
    },
  };
}
