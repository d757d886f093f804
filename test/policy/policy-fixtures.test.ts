// Decision tables: every policies/*-policy.json of kind withdrawal-policy must have a
// *-policy.fixtures.json next to it, and each row of that table runs as its own test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { evaluate, loadPolicy, type LoadedPolicy, type PolicyInput } from '../../src/policy/index.ts';
import { usdToCents } from '../../src/pricing/index.ts';
import { parseBaseUnits } from '../../src/platform/money.ts';

const policiesDir = path.resolve(import.meta.dirname, '../../policies');

const fixtureFileSchema = z.strictObject({
  policy: z.string(),
  description: z.string().optional(),
  base: z.record(z.string(), z.unknown()),
  rows: z.array(z.strictObject({
    name: z.string().min(1),
    requirement: z.string().regex(/^[A-Z]{2,5}-[0-9]{2}$/),
    input: z.record(z.string(), z.unknown()),
    expect: z.strictObject({
      outcome: z.enum(['allow', 'require_approvals', 'deny']),
      approvals: z.number().int(),
      reasons: z.array(z.string()).optional(),
      matchedRules: z.array(z.string()).optional(),
    }).refine((e) => e.reasons !== undefined || e.matchedRules !== undefined, 'expect needs reasons or matchedRules'),
  })).min(1),
});

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; null deletes a key; everything else replaces. */
function merge(base: Json, patch: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = merge(out[key], value);
    else out[key] = value;
  }
  return out;
}

function toPolicyInput(row: Json): PolicyInput {
  const { amount, usd, velocity24hUsd, ...rest } = row;
  return {
    ...(rest as Omit<PolicyInput, 'amount' | 'usdCents' | 'velocity24hUsdCents'>),
    amount: parseBaseUnits(String(amount)),
    usdCents: usdToCents(String(usd)),
    velocity24hUsdCents: usdToCents(String(velocity24hUsd)),
  };
}

const policyFiles = readdirSync(policiesDir).filter((f) => f.endsWith('-policy.json')).sort();
const withdrawalPolicies = policyFiles.filter((f) => {
  const kind = (JSON.parse(readFileSync(path.join(policiesDir, f), 'utf8')) as Json).kind;
  // signer-policy.json has its own format and tests in signer/.
  return kind === 'withdrawal-policy';
});

test('the policies folder holds at least the default withdrawal policy', () => {
  assert.ok(withdrawalPolicies.includes('withdrawal-policy.json'), `found ${withdrawalPolicies.join(', ')}`);
});

for (const file of withdrawalPolicies) {
  const fixturesFile = file.replace(/\.json$/, '.fixtures.json');
  const fixturesPath = path.join(policiesDir, fixturesFile);
  const loaded: LoadedPolicy = loadPolicy(path.join(policiesDir, file));

  test(`${file} has a decision table ${fixturesFile}`, () => {
    assert.ok(existsSync(fixturesPath), `${fixturesFile} is missing`);
  });
  if (!existsSync(fixturesPath)) continue;
  const table = fixtureFileSchema.parse(JSON.parse(readFileSync(fixturesPath, 'utf8')));
  assert.equal(table.policy, file, `${fixturesFile} names ${table.policy}, not ${file}`);

  const matchedAnywhere = new Set<string>();
  const seenNames = new Set<string>();
  for (const row of table.rows) {
    const name = `${row.requirement} ${row.name}`;
    test(`${file}: ${name}`, () => {
      assert.ok(!seenNames.has(name), `duplicate row name ${name}`);
      seenNames.add(name);
      const decision = evaluate(loaded, toPolicyInput(merge(table.base, row.input)));
      for (const id of decision.matchedRules) matchedAnywhere.add(id);
      const explain = `trace: ${JSON.stringify(decision.trace.filter((t) => t.matched).map((t) => t.ruleId))}`;
      assert.equal(decision.outcome, row.expect.outcome, explain);
      assert.equal(decision.approvals, row.expect.approvals, explain);
      if (row.expect.reasons) assert.deepEqual(decision.reasons, row.expect.reasons, explain);
      if (row.expect.matchedRules) assert.deepEqual(decision.matchedRules, row.expect.matchedRules, explain);
      assert.equal(decision.policyHash, loaded.contentHash);
      assert.equal(decision.policyVersion, loaded.version);
      assert.equal(decision.trace.length, loaded.policy.rules.length, 'the trace explains every rule');
    });
  }

  test(`${file}: the decision table makes every rule match at least once`, () => {
    const neverMatched = loaded.policy.rules.map((r) => r.id).filter((id) => !matchedAnywhere.has(id));
    assert.deepEqual(neverMatched, [], `rules without a matching row in ${fixturesFile}`);
  });
}
