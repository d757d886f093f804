// Policy loading (refusal of malformed files, content hash) and engine properties that the
// decision table alone does not pin down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { evaluate, loadPolicy, parsePolicy, type PolicyInput } from '../../src/policy/index.ts';
import { isDomainError } from '../../src/platform/errors.ts';

const defaultPath = path.resolve(import.meta.dirname, '../../policies/withdrawal-policy.json');
const defaultText = readFileSync(defaultPath, 'utf8');
const dir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'amanat-policy-'));

function writePolicy(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function mutate(change: (policy: any) => void): string {
  const policy = JSON.parse(defaultText);
  change(policy);
  return JSON.stringify(policy, null, 2);
}

function assertRefused(file: string, pattern: RegExp): void {
  assert.throws(() => loadPolicy(file), (error: unknown) => {
    assert.ok(isDomainError(error), 'a DomainError');
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.ok(error.message.includes(file), `message names the path: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  });
}

const baseInput: PolicyInput = {
  asset: 'USDT', assetDecimals: 6, assetState: 'admitted', amount: 500_000_000n, usdCents: 50_000n, velocity24hUsdCents: 50_000n,
  client: { id: 'client-1', classification: 'professional', kzResident: false },
  destination: { address: '0x52908400098527886E0F7030069857D2E4169EE7', type: 'vasp', addressBook: { present: true, addedAt: '2025-12-01T00:00:00Z' } },
  sourceTier: 'hot', now: '2026-01-15T12:00:00Z',
};

test('WAL-03 the default policy loads with its version and the sha256 of its bytes', () => {
  const loaded = loadPolicy(defaultPath);
  assert.equal(loaded.version, JSON.parse(defaultText).version);
  assert.match(loaded.contentHash, /^[0-9a-f]{64}$/);
  assert.equal(loaded.path, defaultPath);
  assert.ok(Object.isFrozen(loaded.policy.rules[0]), 'the loaded policy is frozen');
});

test('WAL-03 the content hash changes when the file changes, even by whitespace, and not otherwise', () => {
  const a = loadPolicy(writePolicy('a.json', defaultText));
  const b = loadPolicy(writePolicy('b.json', defaultText));
  const c = loadPolicy(writePolicy('c.json', `${defaultText}\n`));
  const d = loadPolicy(writePolicy('d.json', mutate((p) => { p.rules[5].when[0].usdGte = '10000.01'; })));
  assert.equal(a.contentHash, b.contentHash);
  assert.notEqual(a.contentHash, c.contentHash);
  assert.notEqual(a.contentHash, d.contentHash);
  assert.equal(evaluate(d, baseInput).policyHash, d.contentHash);
});

test('a policy file that is not JSON is refused with an error naming the path', () => {
  assertRefused(writePolicy('broken.json', '{ "kind": "withdrawal-policy", '), /not valid JSON/);
});

test('a missing policy file is refused with an error naming the path', () => {
  assertRefused(path.join(dir, 'does-not-exist.json'), /cannot be read/);
});

test('an unknown operator is refused (closed operator set)', () => {
  assertRefused(writePolicy('op.json', mutate((p) => { p.rules[0].when = [{ expression: 'amount > 5' }]; })), /expression/);
});

test('a condition with two operators is refused', () => {
  assertRefused(writePolicy('two.json', mutate((p) => { p.rules[0].when = [{ usdGte: '1.00', usdLt: '2.00' }]; })), /exactly one operator/);
});

test('require_approvals without approvals, and approvals on a deny, are refused', () => {
  assertRefused(writePolicy('n.json', mutate((p) => { delete p.rules[4].then.approvals; })), /require_approvals needs approvals/);
  assertRefused(writePolicy('d.json', mutate((p) => { p.rules[0].then.approvals = 2; })), /only allowed with require_approvals/);
});

test('a float-looking or over-precise amount is refused', () => {
  assertRefused(writePolicy('f.json', mutate((p) => { p.rules[5].when[0].usdGte = 10000; })), /rules/);
  assertRefused(writePolicy('c.json', mutate((p) => { p.rules[5].when[0].usdGte = '10000.001'; })), /at most 2 decimals/);
  assertRefused(writePolicy('s.json', mutate((p) => { p.rules[7].when[0].amountGte.amount = '0.000000001'; })), /more than 8 decimals for BTC/);
  assertRefused(writePolicy('e.json', mutate((p) => { p.rules[7].when[0].amountGte.amount = '1e3'; })), /decimal string/);
});

test('duplicate rule ids, an undeclared asset and an unknown asset state are refused', () => {
  assertRefused(writePolicy('dup.json', mutate((p) => { p.rules[1].id = p.rules[0].id; })), /duplicate rule id/);
  assertRefused(writePolicy('asset.json', mutate((p) => { p.rules[7].when[0].amountGte.asset = 'DOGE'; })), /DOGE is not listed in assetDecimals/);
  assertRefused(writePolicy('state.json', mutate((p) => { p.rules[0].when[0].assetStateIn = ['frozen']; })), /assetStateIn/);
});

test('WAL-03 a review date more than 12 months after the effective date is refused', () => {
  assertRefused(writePolicy('review.json', mutate((p) => { p.review.nextReviewDate = '2027-06-01'; })), /at most 12 months/);
});

test('parsePolicy gives the same hash as loadPolicy for the same bytes', () => {
  assert.equal(parsePolicy(Buffer.from(defaultText), 'inline').contentHash, loadPolicy(defaultPath).contentHash);
});

test('evaluate asserts its input at the edge (fail closed, never a silent non-match)', () => {
  const loaded = loadPolicy(defaultPath);
  const bad: [string, Partial<PolicyInput> | Record<string, unknown>][] = [
    ['velocity24hUsdCents', { velocity24hUsdCents: 10_000n }],
    ['assetDecimals', { assetDecimals: 8 }],
    ['amount', { amount: 500 as unknown as bigint }],
    ['amount', { amount: 0n }],
    ['usdCents', { usdCents: -1n }],
    ['assetState', { assetState: 'frozen' }],
    ['now', { now: '15/01/2026' }],
    ['now', { now: '2026-01-15T12:00:00' }],
    ['sourceTier', { sourceTier: 'warm' }],
    ['destination.type', { destination: { ...baseInput.destination, type: 'exchange' } }],
    ['destination.addressBook.addedAt', { destination: { ...baseInput.destination, addressBook: { present: true, addedAt: 'yesterday' } } }],
    ['client.classification', { client: { ...baseInput.client, classification: 'vip' } }],
  ];
  for (const [field, patch] of bad) {
    assert.throws(() => evaluate(loaded, { ...baseInput, ...patch } as PolicyInput), (error: unknown) => {
      assert.ok(isDomainError(error) && error.code === 'BAD_ARGUMENT', `${field}: ${String(error)}`);
      assert.equal(error.data.field, field);
      return true;
    });
  }
});

test('the trace explains each condition with expected and actual values', () => {
  const loaded = loadPolicy(defaultPath);
  const decision = evaluate(loaded, { ...baseInput, usdCents: 1_000_000n, velocity24hUsdCents: 1_000_000n, amount: 10_000_000_000n });
  const large = decision.trace.find((t) => t.ruleId === 'large-single-withdrawal');
  assert.deepEqual(large, { ruleId: 'large-single-withdrawal', matched: true, conditions: [{ op: 'usdGte', expected: '10000.00', actual: '10000.00', result: true }] });
  const btc = decision.trace.find((t) => t.ruleId === 'btc-unit-cap');
  assert.deepEqual(btc?.conditions[0], {
    op: 'amountGte', expected: { asset: 'BTC', amount: '0.25', baseUnits: '25000000' }, actual: { asset: 'USDT', baseUnits: '10000000000' }, result: false,
  });
  // The decision is JSON-serialisable as it is stored (no bigint inside).
  assert.doesNotThrow(() => JSON.stringify(decision));
});

test('WDR-06 property: the decision is the most restrictive of the matching rules, and evaluate is pure', () => {
  const loaded = loadPolicy(defaultPath);
  const byId = new Map(loaded.policy.rules.map((r) => [r.id, r.then]));
  const arbitraryInput = fc.record({
    assetState: fc.constantFrom('admitted', 'suspended', 'custody_only', 'delisted' as const),
    usdCents: fc.bigInt({ min: 0n, max: 200_000_000n }),
    extraVelocity: fc.bigInt({ min: 0n, max: 5_000_000n }),
    amount: fc.bigInt({ min: 1n, max: 100_000_000_000n }),
    classification: fc.constantFrom('retail', 'professional', 'market_counterparty' as const),
    kzResident: fc.boolean(),
    type: fc.constantFrom('vasp', 'self_hosted', 'unknown' as const),
    present: fc.boolean(),
    ageMinutes: fc.option(fc.integer({ min: -60, max: 60 * 72 })),
    sourceTier: fc.constantFrom('hot', 'cold' as const),
  });
  fc.assert(fc.property(arbitraryInput, (a) => {
    const nowMs = Date.parse(baseInput.now);
    const input: PolicyInput = {
      ...baseInput, assetState: a.assetState, amount: a.amount, usdCents: a.usdCents, velocity24hUsdCents: a.usdCents + a.extraVelocity,
      client: { id: 'c', classification: a.classification, kzResident: a.kzResident },
      destination: {
        address: 'x', type: a.type,
        addressBook: a.ageMinutes === null ? { present: a.present } : { present: a.present, addedAt: new Date(nowMs - a.ageMinutes * 60_000).toISOString() },
      },
      sourceTier: a.sourceTier,
    };
    const frozen = structuredClone(input);
    const first = evaluate(loaded, input);
    assert.deepEqual(evaluate(loaded, input), first, 'same input, same decision');
    assert.deepEqual(input, frozen, 'input is not mutated');
    const outcomes = first.matchedRules.map((id) => byId.get(id)!);
    assert.deepEqual(first.matchedRules, first.trace.filter((t) => t.matched).map((t) => t.ruleId));
    if (outcomes.some((o) => o.outcome === 'deny')) {
      assert.equal(first.outcome, 'deny');
      assert.equal(first.approvals, 0);
    } else if (outcomes.some((o) => o.outcome === 'require_approvals')) {
      assert.equal(first.outcome, 'require_approvals');
      assert.equal(first.approvals, Math.max(...outcomes.map((o) => o.approvals ?? 0)));
    } else {
      assert.equal(first.outcome, 'allow');
      assert.equal(first.approvals, 0);
    }
    for (const t of first.trace) assert.equal(t.matched, t.conditions.every((c) => c.result));
  }), { numRuns: 500 });
});
