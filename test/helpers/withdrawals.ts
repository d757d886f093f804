// Withdrawals on real components: the custody fixture (Postgres, SoftHSM signer, one dev chain)
// plus the withdrawal module wired as the service wires it.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Wallet as EthWallet } from 'ethers';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { p2wpkhFromPublicKey } from '../../src/chains/bitcoin/address.ts';
import { createWithdrawalModule, type WithdrawalModule } from '../../src/withdrawals/withdrawal-module.ts';
import type { ChainRuntime } from '../../src/deposits/chain-runtime.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';
import type { WithdrawalPipeline } from '../../src/withdrawals/withdrawal-pipeline.ts';
import type { SignerClient } from '../../src/signer-client/signer-client.ts';
import { startCustody, CONFIRMATIONS, type Custody } from './custody.ts';
import { signBip137 } from './bip137.ts';
import { approve, tempDir, type TestApprover } from '../../signer/test/helpers.ts';

export interface WithdrawalFixture extends Custody {
  module: WithdrawalModule;
  keyringFile: string;
  /** Another worker on the same database, signer and chain, with these config overrides (e.g. an impatient replacement policy). */
  pipelineWith(env: Record<string, string>): WithdrawalPipeline;
  /** Another worker that talks to the signer through `signer` (e.g. one that dies right after the signer answered). */
  pipelineWithSigner(signer: SignerClient): WithdrawalPipeline;
  /** Opens a client with verified KYC and funds its wallet of `tier` with `amount` base units (credited). */
  fundedClient(asset: 'BTC' | 'ETH' | 'USDT', amount: bigint, tier: 'hot' | 'cold'): Promise<string>;
  request(input: { clientId: string; asset: string; amount: string; destination: string; destinationType?: 'vasp' | 'self_hosted';
    initiator?: string; ownershipProof?: { message: string; signature: string };
    /** Signs the quote's ownership challenge with this key (the destination's: P2WPKH or an Ethereum account). */
    proveWith?: Uint8Array }): Promise<WithdrawalRow>;
  /** Takes single pipeline steps (at most `maxSteps`) until the withdrawal is in `state`; returns it as it is then. */
  stepUntil(id: string, state: string, maxSteps?: number): Promise<WithdrawalRow>;
  /** Runs the pipeline (mining blocks between steps) until the withdrawal leaves the active states or waits for approvals. */
  settle(id: string, options?: { untilState?: string }): Promise<WithdrawalRow>;
  approveAs(approver: TestApprover, w: WithdrawalRow): Promise<unknown>;
  externalAddress(): string;
  /** A destination whose private key the test holds (to sign ownership proofs). */
  externalKeyAddress(): { address: string; privateKey: Uint8Array };
  /** An address-book entry for the client, added `ageHours` ago (past the policy's cooling-off by default). */
  bookAddress(clientId: string, address: string, ageHours?: number): Promise<void>;
}

let seq = 0;

/** JSON for assertion messages: rows hold bigints. */
export const show = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

export async function startWithdrawals(chain: 'bitcoin' | 'ethereum', env: Record<string, string> = {}): Promise<WithdrawalFixture> {
  const c = await startCustody(chain);
  const dir = tempDir('withdrawals');
  const keyringFile = path.join(dir, 'pii-keyring.json');
  writeFileSync(keyringFile, JSON.stringify({ k1: randomBytes(32).toString('hex') }));
  const configWith = (overrides: Record<string, string>) => loadConfig({
    AMANAT_ENV: 'test', TREASURY_APPROVERS_FILE: path.join(c.signer.dir, 'signer-policy.json'), PII_KEYRING_FILE: keyringFile,
    BITCOIN_CONFIRMATIONS: String(CONFIRMATIONS), ETHEREUM_CONFIRMATIONS: String(CONFIRMATIONS), BITCOIN_NETWORK: 'bcoin-regtest', ...env, ...overrides,
  });
  const chains = {
    bitcoin: { rpc: c.btc?.rpc, network: 'bcoin-regtest', dev: c.btc },
    ethereum: { rpc: c.eth?.rpc, chainId: 31337n, dev: c.eth },
    scanners: [c.scanner], stop: async () => undefined,
  } as unknown as ChainRuntime;
  const moduleWith = (overrides: Record<string, string>, signer: SignerClient = c.signerClient) => createWithdrawalModule({ config: configWith(overrides), pool: c.db.app, assets: c.assets, ledger: c.ledger,
    clients: c.clients, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent'), wallets: c.wallets, signer, chains });
  const module = moduleWith({});
  const mine = async (n: number) => { if (c.btc) await c.btc.mine(n); else await c.eth!.mine(n); };
  const fixture: WithdrawalFixture = {
    ...c, module, keyringFile,
    pipelineWith: (overrides) => moduleWith(overrides).pipeline!,
    pipelineWithSigner: (signer) => moduleWith({}, signer).pipeline!,
    async fundedClient(asset, amount, tier) {
      const clientId = await c.newClient();
      await inTransaction(c.db.app, (q) => module.travelRule.storeKyc(q, clientId, {
        name: { primary: 'Aigerim', secondary: 'Nurlanovna' }, verified: true, dateOfBirth: '1990-04-01', placeOfBirth: 'Almaty',
        nationalId: '900401400123', geographicAddress: { town: 'Astana', country: 'KZ' } }));
      const address = await inTransaction(c.db.app, (q) => c.wallets.depositAddress(q, clientId, chain, tier));
      if (asset === 'BTC') await c.btc!.faucet(address.address, amount, { confirmations: CONFIRMATIONS });
      else if (asset === 'ETH') { await c.eth!.faucetEth(address.address, amount); await c.eth!.mine(CONFIRMATIONS); }
      else { await c.eth!.faucetUsdt(address.address, amount); await c.eth!.mine(CONFIRMATIONS); }
      await c.tick();
      return clientId;
    },
    async request(input) {
      const quote = await inTransaction(c.db.app, (q) => module.service.quote(q, { clientId: input.clientId, asset: input.asset, amount: input.amount,
        destination: input.destination, actor: 'test' }));
      const ownershipProof = input.proveWith
        ? { message: quote.ownershipChallenge, signature: chain === 'bitcoin' ? signBip137(input.proveWith, quote.ownershipChallenge, 'p2wpkh')
          : await new EthWallet(Buffer.from(input.proveWith).toString('hex')).signMessage(quote.ownershipChallenge) }
        : input.ownershipProof;
      return inTransaction(c.db.app, (q) => module.service.confirm(q, {
        quoteId: quote.quoteId, clientId: input.clientId, acknowledgedWarningId: quote.warning.id,
        consent: { method: 'webauthn', reference: `assertion-${++seq}`, at: new Date().toISOString() },
        destinationType: input.destinationType ?? 'self_hosted', beneficiary: { name: 'Aigerim Nurlanovna' },
        initiatorUserId: input.initiator ?? 'client-user-1',
        ownershipProof,
        idempotencyId: `w-${++seq}`, actor: 'test',
      }));
    },
    async stepUntil(id, state, maxSteps = 10) {
      for (let i = 0; i < maxSteps && (await module.service.get(c.db.app, id)).state !== state; i++) await module.pipeline!.step();
      return module.service.get(c.db.app, id);
    },
    async settle(id, options = {}) {
      for (let round = 0; round < 400; round++) {
        await module.pipeline!.drain(50);
        const w = await module.service.get(c.db.app, id);
        if (options.untilState && w.state === options.untilState) return w;
        if (['completed', 'rejected', 'failed', 'cancelled'].includes(w.state)) return w;
        if (w.state === 'approvals' && w.intent_hash && !options.untilState) return w;
        if (w.state === 'confirming' || (w.state === 'signing' && ['CHAIN_UNAVAILABLE', 'GAS_TOP_UP_PENDING'].includes(w.failure_code ?? ''))) await mine(1);
        await c.db.app.query('update withdrawals set next_run_at = now() where id = $1 and state not in ($2)', [id, 'approvals']);
      }
      throw new Error(`withdrawal ${id} did not settle: ${show(await module.service.get(c.db.app, id))}`);
    },
    approveAs(approver, w) {
      return inTransaction(c.db.app, (q) => module.service.approve(q, w.id, approve(approver, w.intent_hash!) as never));
    },
    async bookAddress(clientId, address, ageHours = 48) {
      await c.db.app.query(
        `insert into address_book (client_id, chain, address, destination_type, added_at) values ($1, $2, $3, 'self_hosted', now() - make_interval(hours => $4))`,
        [clientId, chain, address, ageHours]);
    },
    externalKeyAddress() {
      const privateKey = secp256k1.utils.randomSecretKey();
      const address = chain === 'bitcoin' ? p2wpkhFromPublicKey(secp256k1.getPublicKey(privateKey, true), 'bcoin-regtest').address
        : new EthWallet(Buffer.from(privateKey).toString('hex')).address;
      return { address, privateKey };
    },
    externalAddress() {
      const pub = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
      return chain === 'bitcoin' ? p2wpkhFromPublicKey(pub, 'bcoin-regtest').address : EthWallet.createRandom().address;
    },
  };
  return fixture;
}
