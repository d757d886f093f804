// The comparison alone (pure): each break class from a small, hand-made picture of chain and book,
// for the classes the chain tests do not reach (an outflow behind the service's back, an entry
// booking another amount than moved) and the rule that a line's residual is one balance_mismatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile, type ReconLine } from '../../src/reconciliation/reconcile.ts';
import type { ChainMovement } from '../../src/reconciliation/chain-readers.ts';

const cutoff = new Date('2026-12-04T18:00:00Z');
const line = (account: string, address: string, book: bigint, clientId = 'c1'): ReconLine =>
  ({ account, owner: 'client', clientId, asset: 'BTC', chain: 'bitcoin', tier: 'hot', addresses: [address], book });
const move = (txid: string, address: string, amount: bigint): ChainMovement => ({ chain: 'bitcoin', asset: 'BTC', txid, address, amount, height: 10 });
const entry = (account: string, txid: string, amount: bigint, ageHours = 48) =>
  ({ account, key: txid, txid, amount, bookedAt: new Date(cutoff.getTime() - ageHours * 3_600_000), entryIds: [1] });
const run = (input: { lines: ReconLine[]; balances: [string, bigint][]; movements: ChainMovement[]; journal: ReturnType<typeof entry>[]; inFlight?: [string, string][] }) =>
  reconcile({ lines: input.lines, balances: new Map(input.balances.map(([a, v]) => [`BTC:${a}`, v])), movements: input.movements, journal: input.journal,
    inFlight: new Map(input.inFlight ?? []), cutoff, missingMovementGraceMs: 6 * 3_600_000 });

test('REC-02 every movement matched to its entry and back: no break', () => {
  const r = run({ lines: [line('A', 'a1', 700n)], balances: [['a1', 700n]], movements: [move('t1', 'a1', 1000n), move('t2', 'a1', -300n)],
    journal: [entry('A', 't1', 1000n), entry('A', 't2', -300n)] });
  assert.deepEqual(r.breaks, []);
  assert.equal(r.counts.matched, 2);
  assert.equal(r.lines[0]!.matched, true);
});

test('REC-02 coins that left a client address with no journal entry: one unknown_outflow, no balance_mismatch on top', () => {
  const r = run({ lines: [line('A', 'a1', 1000n)], balances: [['a1', 400n]], movements: [move('t1', 'a1', 1000n), move('t9', 'a1', -600n)], journal: [entry('A', 't1', 1000n)] });
  assert.deepEqual(r.breaks.map((b) => [b.class, b.txid, b.difference, b.explained]), [['unknown_outflow', 't9', -600n, false]]);
});

test('REC-02 an entry that booked another amount than moved on-chain: one amount_mismatch', () => {
  const r = run({ lines: [line('A', 'a1', 1100n)], balances: [['a1', 1000n]], movements: [move('t1', 'a1', 1000n)], journal: [entry('A', 't1', 1100n)] });
  assert.deepEqual(r.breaks.map((b) => [b.class, b.expected, b.actual, b.difference]), [['amount_mismatch', 1100n, 1000n, -100n]]);
  assert.equal(r.counts.amountMismatches, 1);
});

test('REC-01 an in-flight deposit is timing (explained); the same movement without it is unknown_inflow', () => {
  const input = { lines: [line('A', 'a1', 0n)], balances: [['a1', 500n]] as [string, bigint][], movements: [move('t1', 'a1', 500n)], journal: [] };
  assert.deepEqual(run({ ...input, inFlight: [['t1', 'deposit seen']] }).breaks.map((b) => [b.class, b.explained]), [['timing', true]]);
  assert.deepEqual(run(input).breaks.map((b) => [b.class, b.explained]), [['unknown_inflow', false]]);
});

test('REC-01 a balance off without any movement to explain it is one balance_mismatch on that line only', () => {
  const r = run({ lines: [line('A', 'a1', 1005n), line('B', 'b1', 50n, 'c2')], balances: [['a1', 1000n], ['b1', 50n]], movements: [move('t1', 'a1', 1000n), move('t2', 'b1', 50n)],
    journal: [entry('A', 't1', 1000n), entry('B', 't2', 50n)] });
  assert.deepEqual(r.breaks.map((b) => [b.class, b.account, b.clientId, b.difference]), [['balance_mismatch', 'A', 'c1', -5n]]);
  assert.deepEqual(r.lines.map((l) => l.matched), [false, true]);
});
