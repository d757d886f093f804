// SEG-05 / SEG-06 / SEG-01: the ledger's invariants, proved against the real Postgres.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ledgerFixture, type LedgerFixture } from '../helpers/services.ts';
import { CROSS_ROOT_ENTRY_TYPES } from '../../src/ledger/ledger-service.ts';
import { DomainError } from '../../src/platform/errors.ts';

let f: LedgerFixture;
before(async () => { f = await ledgerFixture(); });
after(async () => { await f.db.drop(); });

async function invariantsHold(): Promise<void> {
  const unbalanced = await f.db.owner.query(
    'select entry_id, asset, book from postings group by entry_id, asset, book having sum(amount) <> 0 limit 1');
  assert.equal(unbalanced.rowCount, 0, 'every entry sums to zero per asset and book');
  const totals = await f.ledger.controlTotals(f.db.app);
  for (const t of totals) assert.equal(t.total, 0n, `sum over all accounts of ${t.asset}/${t.book} is zero`);
  const negative = await f.db.owner.query(
    `select id from accounts where root <> 'external' and kind <> 'house_suspense' and (balance < 0 or held < 0 or balance - held < 0)`);
  assert.equal(negative.rowCount, 0, 'no client or house balance is negative or over-held');
  const drift = await f.db.owner.query(
    `select a.id from accounts a where a.balance <> coalesce((select sum(amount) from postings p where p.account_id = a.id), 0)
        or a.held <> coalesce((select sum(amount) from holds h where h.account_id = a.id and h.state in ('pending', 'frozen')), 0)`);
  assert.equal(drift.rowCount, 0, 'balances equal the sum of postings; held equals pending and frozen holds');
}

test('SEG-05 SEG-06 property: random credits, holds, posts, voids and transfers keep every invariant', async () => {
  const clients = [await f.newClient(), await f.newClient(), await f.newClient()];
  const assets = ['BTC', 'USDT'] as const;
  const pending: string[] = [];
  let seq = 0;
  const op = fc.oneof(
    fc.record({ kind: fc.constant('credit' as const), c: fc.nat(2), a: fc.nat(1), amount: fc.bigInt(1n, 1_000_000n) }),
    fc.record({ kind: fc.constant('hold' as const), c: fc.nat(2), a: fc.nat(1), amount: fc.bigInt(1n, 600_000n) }),
    fc.record({ kind: fc.constant('post' as const), i: fc.nat(20), to: fc.nat(2), fraction: fc.integer({ min: 1, max: 100 }) }),
    fc.record({ kind: fc.constant('void' as const), i: fc.nat(20) }),
    fc.record({ kind: fc.constant('transfer' as const), c: fc.nat(2), to: fc.nat(2), a: fc.nat(1), amount: fc.bigInt(1n, 800_000n) }),
  );
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
    for (const o of ops) {
      const id = `prop-${++seq}`;
      try {
        if (o.kind === 'credit') await f.fund(clients[o.c]!, assets[o.a]!, o.amount);
        if (o.kind === 'hold') {
          const { hold } = await f.ledger.placeHold(f.db.app, { owner: 'exchange', idempotencyId: id, clientId: clients[o.c]!, asset: assets[o.a]!,
            amount: o.amount, expiresAt: new Date(Date.now() + 3_600_000), actor: 'test' });
          pending.push(hold.id);
        }
        if (o.kind === 'post' && pending.length > 0) {
          const holdId = pending.splice(o.i % pending.length, 1)[0]!;
          const hold = (await f.ledger.getHold(f.db.app, holdId))!;
          const debit = (hold.amount * BigInt(o.fraction)) / 100n || 1n;
          const to = await f.ledger.clientAccountId(f.db.app, clients[o.to]!, hold.asset);
          if (to === hold.accountId) { await f.ledger.releaseHold(f.db.app, holdId, 'exchange', 'test'); continue; }
          await f.ledger.postHold(f.db.app, { owner: 'exchange', holdId, idempotencyId: id, type: 'transfer', debit, credits: [{ accountId: to, amount: debit }], actor: 'test' });
        }
        if (o.kind === 'void' && pending.length > 0) {
          await f.ledger.releaseHold(f.db.app, pending.splice(o.i % pending.length, 1)[0]!, 'exchange', 'test');
        }
        if (o.kind === 'transfer' && o.c !== o.to) {
          await f.ledger.transfer(f.db.app, { idempotencyId: id, fromClientId: clients[o.c]!, toClientId: clients[o.to]!,
            asset: assets[o.a]!, amount: o.amount, actor: 'test' });
        }
      } catch (error) {
        assert.ok(error instanceof DomainError && error.code === 'INSUFFICIENT_FUNDS', `only INSUFFICIENT_FUNDS may refuse: ${String(error)}`);
      }
      await invariantsHold();
    }
  }), { numRuns: 12 });
});

test('SEG-05 200 concurrent debits against an account covering 100: exactly 100 succeed, balance exactly 0', async () => {
  const from = await f.newClient();
  const to = await f.newClient();
  await f.fund(from, 'BTC', 100n * 1000n);
  const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => f.ledger.transfer(f.db.app, {
    idempotencyId: `race-${i}`, fromClientId: from, toClientId: to, asset: 'BTC', amount: 1000n, actor: 'test' })));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const refused = results.filter((r) => r.status === 'rejected' && (r.reason as DomainError).code === 'INSUFFICIENT_FUNDS').length;
  assert.equal(ok, 100);
  assert.equal(refused, 100);
  const [btc] = (await f.ledger.clientBalances(f.db.app, from)).filter((b) => b.asset === 'BTC');
  assert.equal(btc!.entitlement.total, 0n);
  await invariantsHold();
});

test('SEG-05 two concurrent holds each for 60 % of a balance: exactly one is placed', async () => {
  const c = await f.newClient();
  await f.fund(c, 'USDT', 1_000_000n);
  const results = await Promise.allSettled([0, 1].map((i) => f.ledger.placeHold(f.db.app, {
    owner: 'exchange', idempotencyId: `sixty-${c}-${i}`, clientId: c, asset: 'USDT', amount: 600_000n, expiresAt: new Date(Date.now() + 60_000), actor: 'test' })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const [usdt] = (await f.ledger.clientBalances(f.db.app, c)).filter((b) => b.asset === 'USDT');
  assert.deepEqual(usdt!.entitlement, { total: 1_000_000n, held: 600_000n, available: 400_000n });
});

test('SEG-06 the application role cannot update or delete postings or entries', async () => {
  const c = await f.newClient();
  await f.fund(c, 'ETH', 10n);
  for (const sql of [
    'update postings set amount = amount + 1',
    'delete from postings',
    'update journal_entries set memo = $$x$$',
    'delete from journal_entries',
    'insert into postings (entry_id, account_id, asset, book, amount, balance_after, created_at) select entry_id, account_id, asset, book, amount, balance_after, now() from postings limit 1',
    'truncate postings',
    'delete from audit_log',
  ]) {
    await assert.rejects(f.db.app.query(sql), /permission denied/, sql);
  }
});

test('SEG-05 raw SQL cannot drive a balance negative, even as the owner', async () => {
  const c = await f.newClient();
  await f.fund(c, 'ETH', 10n);
  await assert.rejects(f.db.app.query(`update accounts set balance = -1 where client_id = $1`, [c]), /permission denied/);
  await assert.rejects(f.db.owner.query(`update accounts set balance = -1 where client_id = $1 and kind = 'client_entitlement'`, [c]),
    /accounts_no_overdraft/);
  await assert.rejects(f.db.owner.query(`update accounts set held = balance + 1 where client_id = $1 and kind = 'client_entitlement'`, [c]),
    /accounts_no_overdraft/);
  await assert.rejects(f.db.owner.query(`update accounts set may_go_negative = true where client_id = $1`, [c]),
    /accounts_client_never_negative/);
  await assert.rejects(f.db.owner.query('update postings set amount = 5'), /IMMUTABLE/);
  await assert.rejects(f.db.owner.query('delete from journal_entries'), /IMMUTABLE/);
});

test('SEG-06 an entry that does not sum to zero is refused and writes nothing', async () => {
  const c = await f.newClient();
  const world = await f.ledger.systemAccountId(f.db.app, 'BTC', 'external_world');
  const acct = await f.ledger.clientAccountId(f.db.app, c, 'BTC');
  const before = await f.db.owner.query('select count(*)::int as n from journal_entries');
  await assert.rejects(f.ledger.postEntry(f.db.app, { idempotencyId: 'unbalanced-1', type: 'deposit', actor: 'test',
    postings: [{ accountId: world, amount: -10n }, { accountId: acct, amount: 11n }] }), (e: DomainError) => e.code === 'UNBALANCED_ENTRY');
  // Two assets in one entry that each balance is fine; mixing assets in one sum is not.
  const eth = await f.ledger.clientAccountId(f.db.app, c, 'ETH');
  await assert.rejects(f.ledger.postEntry(f.db.app, { idempotencyId: 'unbalanced-2', type: 'deposit', actor: 'test',
    postings: [{ accountId: world, amount: -10n }, { accountId: eth, amount: 10n }] }), (e: DomainError) => e.code === 'UNBALANCED_ENTRY');
  const afterCount = await f.db.owner.query('select count(*)::int as n from journal_entries');
  assert.equal(afterCount.rows[0].n, before.rows[0].n);
  // Even the owner cannot insert postings of an unbalanced entry.
  await assert.rejects(f.db.owner.query(
    `insert into postings (entry_id, account_id, asset, book, amount, balance_after, created_at)
     select id, $1, 'BTC', 'entitlement', 5, 5, now() from journal_entries limit 1`, [acct]), /UNBALANCED_ENTRY/);
});

test('SEG-01 a manual entry from client trust to house is refused; the cross-root allow-list is pinned', async () => {
  assert.deepEqual([...CROSS_ROOT_ENTRY_TYPES], ['fee', 'trade', 'correction']);
  const { rows } = await f.db.app.query('select ledger_cross_root_types() as t');
  assert.deepEqual(rows[0].t, [...CROSS_ROOT_ENTRY_TYPES], 'the database allow-list equals the code allow-list');
  const c = await f.newClient();
  await f.fund(c, 'BTC', 1000n);
  const acct = await f.ledger.clientAccountId(f.db.app, c, 'BTC');
  const house = await f.ledger.systemAccountId(f.db.app, 'BTC', 'house_treasury');
  for (const type of ['manual', 'transfer', 'withdrawal'] as const) {
    await assert.rejects(f.ledger.postEntry(f.db.app, { idempotencyId: `cross-${type}`, type, actor: 'test',
      postings: [{ accountId: acct, amount: -100n }, { accountId: house, amount: 100n }] }), (e: DomainError) => e.code === 'CROSS_ROOT_NOT_ALLOWED');
  }
});

test('SEG-06 entry idempotency: the same id and request returns the first entry; another request is refused', async () => {
  const c = await f.newClient();
  const world = await f.ledger.systemAccountId(f.db.app, 'BTC', 'external_world');
  const acct = await f.ledger.clientAccountId(f.db.app, c, 'BTC');
  const input = { idempotencyId: `idem-${c}`, type: 'deposit' as const, actor: 'test',
    postings: [{ accountId: world, amount: -7n }, { accountId: acct, amount: 7n }] };
  const first = await f.ledger.postEntry(f.db.app, input);
  const again = await f.ledger.postEntry(f.db.app, input);
  assert.equal(again.entryId, first.entryId);
  assert.equal(again.replayed, true);
  await assert.rejects(f.ledger.postEntry(f.db.app, { ...input, postings: [{ accountId: world, amount: -8n }, { accountId: acct, amount: 8n }] }),
    (e: DomainError) => e.code === 'IDEMPOTENCY_CONFLICT');
  const [btc] = (await f.ledger.clientBalances(f.db.app, c)).filter((b) => b.asset === 'BTC');
  assert.equal(btc!.entitlement.total, 7n);
});

test('SEG-05 holds: post uses part, the remainder is released; void releases; expiry releases', async () => {
  const a = await f.newClient();
  const b = await f.newClient();
  await f.fund(a, 'ETH', 1000n);
  const { hold } = await f.ledger.placeHold(f.db.app, { owner: 'exchange', idempotencyId: `h1-${a}`, clientId: a, asset: 'ETH', amount: 600n,
    expiresAt: new Date(Date.now() + 60_000), actor: 'test' });
  const toB = await f.ledger.clientAccountId(f.db.app, b, 'ETH');
  await assert.rejects(f.ledger.postHold(f.db.app, { owner: 'exchange', holdId: hold.id, idempotencyId: `p0-${a}`, type: 'transfer', debit: 601n,
    credits: [{ accountId: toB, amount: 601n }], actor: 'test' }), (e: DomainError) => e.code === 'HOLD_AMOUNT_EXCEEDED');
  const posted = await f.ledger.postHold(f.db.app, { owner: 'exchange', holdId: hold.id, idempotencyId: `p1-${a}`, type: 'transfer', debit: 450n,
    credits: [{ accountId: toB, amount: 450n }], actor: 'test' });
  assert.equal(posted.hold.state, 'posted');
  assert.equal(posted.hold.postedAmount, 450n);
  let [eth] = (await f.ledger.clientBalances(f.db.app, a)).filter((x) => x.asset === 'ETH');
  assert.deepEqual(eth!.entitlement, { total: 550n, held: 0n, available: 550n });
  await assert.rejects(f.ledger.releaseHold(f.db.app, hold.id, 'exchange', 'test'), (e: DomainError) => e.code === 'HOLD_NOT_PENDING');

  const { hold: h2 } = await f.ledger.placeHold(f.db.app, { owner: 'exchange', idempotencyId: `h2-${a}`, clientId: a, asset: 'ETH', amount: 500n,
    expiresAt: new Date(Date.now() + 60_000), actor: 'test' });
  await f.ledger.releaseHold(f.db.app, h2.id, 'exchange', 'test');
  [eth] = (await f.ledger.clientBalances(f.db.app, a)).filter((x) => x.asset === 'ETH');
  assert.deepEqual(eth!.entitlement, { total: 550n, held: 0n, available: 550n });

  const { hold: h3 } = await f.ledger.placeHold(f.db.app, { owner: 'exchange', idempotencyId: `h3-${a}`, clientId: a, asset: 'ETH', amount: 550n,
    expiresAt: new Date(Date.now() + 50), actor: 'test' });
  await new Promise((r) => setTimeout(r, 80));
  await assert.rejects(f.ledger.postHold(f.db.app, { owner: 'exchange', holdId: h3.id, idempotencyId: `p3-${a}`, type: 'transfer', debit: 1n,
    credits: [{ accountId: toB, amount: 1n }], actor: 'test' }), (e: DomainError) => e.code === 'HOLD_EXPIRED');
  assert.ok((await f.ledger.expireHolds()) >= 1);
  assert.equal((await f.ledger.getHold(f.db.app, h3.id))!.state, 'expired');
  [eth] = (await f.ledger.clientBalances(f.db.app, a)).filter((x) => x.asset === 'ETH');
  assert.deepEqual(eth!.entitlement, { total: 550n, held: 0n, available: 550n });
  await invariantsHold();
});

test('SEG-08 balances as of a past instant reproduce that instant', async () => {
  const c = await f.newClient();
  await f.fund(c, 'BTC', 100n);
  await new Promise((r) => setTimeout(r, 20));
  const t1 = new Date();
  await new Promise((r) => setTimeout(r, 20));
  await f.fund(c, 'BTC', 50n);
  const { hold } = await f.ledger.placeHold(f.db.app, { owner: 'exchange', idempotencyId: `asof-${c}`, clientId: c, asset: 'BTC', amount: 30n,
    expiresAt: new Date(Date.now() + 60_000), actor: 'test' });
  const t2 = new Date();
  await f.ledger.releaseHold(f.db.app, hold.id, 'exchange', 'test');
  const at1 = (await f.ledger.clientBalances(f.db.app, c, t1)).find((x) => x.asset === 'BTC')!;
  const at2 = (await f.ledger.clientBalances(f.db.app, c, t2)).find((x) => x.asset === 'BTC')!;
  const now = (await f.ledger.clientBalances(f.db.app, c)).find((x) => x.asset === 'BTC')!;
  assert.deepEqual(at1.entitlement, { total: 100n, held: 0n, available: 100n });
  assert.deepEqual(at2.entitlement, { total: 150n, held: 30n, available: 120n });
  assert.deepEqual(now.entitlement, { total: 150n, held: 0n, available: 150n });
});
