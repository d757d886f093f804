// A deposit that is reorged out and mined again is credited once per generation; reversing one
// generation must take back exactly that generation's entries (DEP-01, DEP-02). The entries are
// real journal entries in a real Postgres; the lookup is the one the scanner's reversal runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ledgerFixture, type LedgerFixture } from '../helpers/services.ts';
import { creditEntriesOf } from '../../src/deposits/deposit-scanner.ts';

let f: LedgerFixture;
before(async () => { f = await ledgerFixture(); });
after(async () => { await f.db.drop(); });

test('DEP-02 reversing generation 1 of a deposit takes generation 1\'s entries only, not generation 10 and up, nor reversals', async () => {
  const client = await f.newClient();
  const world = await f.ledger.systemAccountId(f.db.app, 'BTC', 'external_world');
  const account = await f.ledger.clientAccountId(f.db.app, client, 'BTC');
  const key = `${'ab'.repeat(32)}:1`;
  const post = (idempotencyId: string) => f.ledger.postEntry(f.db.app, { idempotencyId, type: 'deposit', actor: 'test',
    postings: [{ accountId: world, amount: -1000n }, { accountId: account, amount: 1000n }] });
  const ids: Record<string, number> = {};
  for (const id of [`deposit:bitcoin:${key}:1`, `deposit:bitcoin:${key}:1:suspense`, `deposit:bitcoin:${key}:1:reversal:7`,
    `deposit:bitcoin:${key}:10`, `deposit:bitcoin:${key}:11:suspense`, `deposit:bitcoin:${key}0:1`, `deposit:bitcoin:${key}:2`]) {
    ids[id] = (await post(id)).entryId;
  }
  const found = await creditEntriesOf(f.db.app, { chain: 'bitcoin', deposit_key: key, generation: 1 });
  assert.deepEqual(found.map((e) => e.idempotency_id).sort(), [`deposit:bitcoin:${key}:1`, `deposit:bitcoin:${key}:1:suspense`].sort());
  const tenth = await creditEntriesOf(f.db.app, { chain: 'bitcoin', deposit_key: key, generation: 10 });
  assert.deepEqual(tenth.map((e) => e.id), [ids[`deposit:bitcoin:${key}:10`]]);
});
