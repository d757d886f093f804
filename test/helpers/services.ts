import { AssetRegistry } from '../../src/assets/asset-registry.ts';
import { LedgerService } from '../../src/ledger/ledger-service.ts';
import { ClientService } from '../../src/clients/client-service.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface LedgerFixture {
  db: TestDatabase;
  assets: AssetRegistry;
  ledger: LedgerService;
  clients: ClientService;
  /** Credits a client's entitlement from the external world (what a confirmed deposit does). */
  fund(clientId: string, asset: string, amount: bigint): Promise<void>;
  newClient(classification?: 'retail' | 'professional' | 'market_counterparty'): Promise<string>;
}

let counter = 0;

export async function ledgerFixture(): Promise<LedgerFixture> {
  const db = await createTestDatabase();
  const assets = new AssetRegistry(db.app);
  await assets.load();
  const ledger = new LedgerService(db.app, assets);
  const clients = new ClientService(ledger);
  return {
    db, assets, ledger, clients,
    async fund(clientId, asset, amount) {
      const world = await ledger.systemAccountId(db.app, asset, 'external_world');
      const account = await ledger.clientAccountId(db.app, clientId, asset);
      await ledger.postEntry(db.app, {
        idempotencyId: `fund-${clientId}-${asset}-${++counter}-${process.hrtime.bigint()}`, type: 'deposit', actor: 'test',
        postings: [{ accountId: world, amount: -amount }, { accountId: account, amount }],
      });
    },
    async newClient(classification = 'retail') {
      const c = await inTransaction(db.app, (q) => clients.create(q, {
        externalRef: `client-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`, classification, kzResident: false }));
      return c.id;
    },
  };
}
