// LedgerService.reverseEntry (DEP-02, SEG-05): a reversal negates an entry; where the client has
// spent what was credited, only what is available is taken back and the rest goes to house
// suspense of the same book, so a client account never goes negative. Real Postgres.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import { ledgerFixture, type LedgerFixture } from '../helpers/services.ts';

let f: LedgerFixture;
before(async () => { f = await ledgerFixture(); });
after(async () => { await f.db.drop(); });

const balance = async (id: number) => (await f.db.app.query<{ balance: bigint }>('select balance from accounts where id = $1', [id])).rows[0]!.balance;

test('DEP-02 SEG-05 reversing a credit the client has spent takes what is available; the shortfall is in house suspense, never a negative client balance', async () => {
  const [client, other] = [await f.newClient(), await f.newClient()];
  const world = await f.ledger.systemAccountId(f.db.app, 'BTC', 'external_world');
  const account = await f.ledger.clientAccountId(f.db.app, client, 'BTC');
  const suspense = await f.ledger.systemAccountId(f.db.app, 'BTC', 'house_suspense');
  const credit = await f.ledger.postEntry(f.db.app, { idempotencyId: `credit-${client}`, type: 'deposit', actor: 'test',
    postings: [{ accountId: world, amount: -1000n }, { accountId: account, amount: 1000n }] });
  await f.ledger.transfer(f.db.app, { idempotencyId: `spend-${client}`, fromClientId: client, toClientId: other, asset: 'BTC', amount: 700n, actor: 'test' });
  const suspenseBefore = await balance(suspense);
  const reversed = await inTransaction(f.db.app, (q) => f.ledger.reverseEntry(q, { entryId: credit.entryId, idempotencyId: `reverse-${client}`, actor: 'test', cause: { reorg: true } }));
  assert.deepEqual(reversed.shortfall, { entitlement: 700n, holdings: 0n });
  assert.equal(await balance(account), 0n, 'the client gave back the 300 it still had, and is at zero, not below');
  assert.equal(await balance(suspense), suspenseBefore - 700n);
  const entry = await f.ledger.getEntry(f.db.app, reversed.entryId);
  assert.equal(entry!.type, 'correction');
  assert.equal(entry!.reversesEntryId, credit.entryId);
  const again = await inTransaction(f.db.app, (q) => f.ledger.reverseEntry(q, { entryId: credit.entryId, idempotencyId: `reverse-${client}`, actor: 'test', cause: { reorg: true } }));
  assert.deepEqual([again.entryId, again.replayed], [reversed.entryId, true], 'a replay returns the first reversal');
  assert.ok((await f.ledger.controlTotals(f.db.app)).every((t) => t.total === 0n));
});

test('DEP-02 reversing a credit still whole is a plain deposit_reversal with no shortfall', async () => {
  const client = await f.newClient();
  const world = await f.ledger.systemAccountId(f.db.app, 'ETH', 'external_world');
  const account = await f.ledger.clientAccountId(f.db.app, client, 'ETH');
  const credit = await f.ledger.postEntry(f.db.app, { idempotencyId: `credit-${client}`, type: 'deposit', actor: 'test',
    postings: [{ accountId: world, amount: -5n }, { accountId: account, amount: 5n }] });
  const reversed = await inTransaction(f.db.app, (q) => f.ledger.reverseEntry(q, { entryId: credit.entryId, idempotencyId: `reverse-${client}`, actor: 'test', cause: {} }));
  assert.deepEqual(reversed.shortfall, { entitlement: 0n, holdings: 0n });
  assert.equal((await f.ledger.getEntry(f.db.app, reversed.entryId))!.type, 'deposit_reversal');
  assert.equal(await balance(account), 0n);
});
