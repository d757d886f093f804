// WDR-04 what the pipeline makes of a screening result: the outcome (sanctions > privacy device >
// risk score), the destination type the Travel Rule goes by, the hashed record, and the
// tipping-off rule for what the exchange is shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildScreeningRecord, effectiveDestinationType, exchangeFacingFailure, screeningHash, screeningOutcome, type ScreeningResult,
} from '../../src/screening/index.ts';

const result = (over: Partial<ScreeningResult> = {}): ScreeningResult => ({
  chain: 'bitcoin', address: 'rb1qde0rt9s8y7z5y55hkn5hqp6ute2kqpxe660h67', classification: 'unknown', sanctioned: false, privacyDevice: false,
  riskScore: 10, tags: [], source: 'test', listVersion: 't1', listHashes: { 'screening-list': 'a'.repeat(64) }, screenedAt: '2026-12-01T00:00:00.000Z', ...over,
});

test('WDR-04 outcome precedence: a sanctions hit beats a privacy device, which beats the risk score; the threshold itself is high risk', () => {
  assert.equal(screeningOutcome(result({ sanctioned: true, sanctionsList: 'L', privacyDevice: true, riskScore: 100 }), 70), 'sanctioned');
  assert.equal(screeningOutcome(result({ privacyDevice: true, riskScore: 100 }), 70), 'privacy_device');
  assert.equal(screeningOutcome(result({ privacyDevice: true, riskScore: 0 }), 70), 'privacy_device', 'a mixer is refused whatever its score');
  assert.equal(screeningOutcome(result({ riskScore: 70 }), 70), 'high_risk');
  assert.equal(screeningOutcome(result({ riskScore: 69 }), 70), 'clear');
});

test('WDR-04 TR-07 the stricter destination type wins: a directory VASP declared self-hosted is VASP-bound; a declared VASP is never downgraded', () => {
  assert.deepEqual(effectiveDestinationType('self_hosted', result({ classification: 'vasp', vasp: { id: 'v', name: 'V' } })), { destinationType: 'vasp', mismatch: true });
  assert.deepEqual(effectiveDestinationType('vasp', result({ classification: 'self_hosted' })), { destinationType: 'vasp', mismatch: true });
  assert.deepEqual(effectiveDestinationType('vasp', result({ classification: 'unknown' })), { destinationType: 'vasp', mismatch: false });
  assert.deepEqual(effectiveDestinationType('self_hosted', result({ classification: 'unknown' })), { destinationType: 'self_hosted', mismatch: false });
  assert.deepEqual(effectiveDestinationType('self_hosted', result({ classification: 'self_hosted' })), { destinationType: 'self_hosted', mismatch: false });
  assert.deepEqual(effectiveDestinationType('vasp', result({ classification: 'vasp' })), { destinationType: 'vasp', mismatch: false });
});

test('WDR-04 KEY-08 the record hash is canonical (key order does not matter, as after a jsonb round trip) and changes with any field', () => {
  const record = buildScreeningRecord(result({ riskScore: 42, tags: ['x'] }), { declaredDestinationType: 'self_hosted', highRiskScore: 70 });
  const hash = screeningHash(record);
  assert.match(hash, /^[0-9a-f]{64}$/);
  const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(record).reverse()))) as Record<string, unknown>;
  assert.equal(screeningHash(reordered), hash);
  assert.notEqual(screeningHash({ ...record, result: { ...record.result, riskScore: 41 } }), hash);
  assert.notEqual(screeningHash({ ...record, outcome: 'high_risk' }), hash);
  assert.notEqual(screeningHash({ ...record, result: { ...record.result, listHashes: { 'screening-list': 'b'.repeat(64) } } }), hash, 'the list content hash is covered');
  assert.throws(() => buildScreeningRecord(result({ riskScore: 42.5 }), { declaredDestinationType: 'vasp', highRiskScore: 70 }), RangeError);
  assert.throws(() => buildScreeningRecord(result({ riskScore: 101 }), { declaredDestinationType: 'vasp', highRiskScore: 70 }), RangeError);
  assert.throws(() => buildScreeningRecord(result(), { declaredDestinationType: 'vasp', highRiskScore: 0 }), RangeError);
});

test('WDR-04 tipping-off: the exchange never sees SANCTIONED, only the neutral COMPLIANCE_HOLD; other codes pass unchanged', () => {
  assert.deepEqual(exchangeFacingFailure('SANCTIONED', 'sanctions match: DEV list'), { code: 'COMPLIANCE_HOLD', detail: 'the withdrawal is held for compliance review' });
  assert.deepEqual(exchangeFacingFailure('PRIVACY_DEVICE', 'mixer'), { code: 'PRIVACY_DEVICE', detail: 'mixer' });
  assert.deepEqual(exchangeFacingFailure('POLICY_DENIED', null), { code: 'POLICY_DENIED', detail: null });
});
