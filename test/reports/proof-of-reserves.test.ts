// Proof of reserves (issue 12 §6): the Merkle sum tree over client liabilities, pure functions.
// REC-05 is the signed-report requirement these roots are published under; the attacks below are the
// issue's acceptance: a changed leaf or sum, the understatement attack, a negative sum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  buildLiabilityTree, clientSalt, leafHash, nodeHash, reserveCheck, verifyInclusion, type InclusionProof,
} from '../../src/reports/proof-of-reserves.ts';

const secret = randomBytes(32);
const leaves = Array.from({ length: 13 }, (_, i) => ({ clientId: randomUUID(), balance: BigInt(i * 1_000_003 + 7) }));
const total = leaves.reduce((sum, leaf) => sum + leaf.balance, 0n);
const tree = buildLiabilityTree('BTC', leaves, secret);

const clone = (proof: InclusionProof): InclusionProof => JSON.parse(JSON.stringify(proof)) as InclusionProof;
const someProof = (): InclusionProof => clone(tree.proofs.get(leaves[5]!.clientId)!);

test('REC-05 PoR every client\'s inclusion proof verifies against the root, whose sum is the total liability', () => {
  assert.equal(tree.root.sum, total);
  assert.equal(tree.proofs.size, leaves.length);
  for (const leaf of leaves) {
    const proof = tree.proofs.get(leaf.clientId)!;
    assert.equal(proof.balance, leaf.balance.toString());
    assert.equal(proof.path.length, 4, '13 leaves pad to 16: four levels');
    assert.deepEqual(verifyInclusion(proof, tree.root), { ok: true }, leaf.clientId);
  }
  // Deterministic for one secret (the service can rebuild it), different for another (salts are per report).
  assert.equal(buildLiabilityTree('BTC', [...leaves].reverse(), secret).root.hash, tree.root.hash);
  assert.notEqual(buildLiabilityTree('BTC', leaves, randomBytes(32)).root.hash, tree.root.hash);
  // One client, and none.
  const one = buildLiabilityTree('ETH', [{ clientId: 'c1', balance: 5n }], secret);
  assert.deepEqual(verifyInclusion(one.proofs.get('c1')!, one.root), { ok: true });
  assert.equal(buildLiabilityTree('ETH', [], secret).root.sum, 0n);
});

test('REC-05 PoR one changed leaf (balance, client, asset or salt) breaks the proof', () => {
  const cases: [string, (p: InclusionProof) => void][] = [
    ['balance lowered', (p) => { p.balance = (BigInt(p.balance) - 1n).toString(); }],
    ['balance raised', (p) => { p.balance = (BigInt(p.balance) + 1n).toString(); }],
    ['another client', (p) => { p.clientId = leaves[6]!.clientId; }],
    ['another asset', (p) => { p.asset = 'ETH'; }],
    ['another salt', (p) => { p.salt = randomBytes(32).toString('hex'); }],
    ['a sibling hash', (p) => { p.path[1]!.hash = `${p.path[1]!.hash.slice(0, 63)}${p.path[1]!.hash.endsWith('0') ? '1' : '0'}`; }],
    ['a sibling side', (p) => { p.path[0]!.side = p.path[0]!.side === 'left' ? 'right' : 'left'; }],
    ['a sibling sum raised', (p) => { p.path[2]!.sum = (BigInt(p.path[2]!.sum) + 1n).toString(); }],
    ['a step dropped', (p) => { p.path.pop(); }],
  ];
  for (const [name, change] of cases) {
    const proof = someProof();
    change(proof);
    const result = verifyInclusion(proof, tree.root);
    assert.equal(result.ok, false, name);
    assert.ok(result.reason, name);
  }
  // And a changed root.
  assert.equal(verifyInclusion(someProof(), { hash: tree.root.hash, sum: tree.root.sum - 1n }).ok, false);
  assert.equal(verifyInclusion(someProof(), { hash: randomBytes(32).toString('hex'), sum: tree.root.sum }).ok, false);
});

test('REC-05 PoR the understatement attack: a proof whose sibling sum was lowered is refused, even when the root total is lowered to match', () => {
  // The flawed design: parent = H(leftHash || rightHash || leftSum + rightSum). There the custodian
  // could give a client a sibling with a lower sum and a root total lowered by as much. Here the sums
  // are inside the hashes: lowering one changes every hash above it.
  for (let level = 0; level < 4; level += 1) {
    const proof = someProof();
    const step = proof.path[level]!;
    if (BigInt(step.sum) === 0n) continue;
    step.sum = (BigInt(step.sum) - 1n).toString();
    const lowered = { hash: tree.root.hash, sum: tree.root.sum - 1n };
    const result = verifyInclusion(proof, lowered);
    assert.equal(result.ok, false, `level ${level}`);
    assert.match(result.reason ?? '', /root hash/);
  }
  // Moving value between two siblings keeps the total but not the hash.
  const proof = someProof();
  const [a, b] = [proof.path[0]!, proof.path[1]!];
  if (BigInt(a.sum) > 0n) {
    a.sum = (BigInt(a.sum) - 1n).toString();
    b.sum = (BigInt(b.sum) + 1n).toString();
    assert.equal(verifyInclusion(proof, tree.root).ok, false);
  }
  // The honest parent really does commit to both sums separately.
  const left = { hash: randomBytes(32), sum: 10n };
  const right = { hash: randomBytes(32), sum: 5n };
  assert.notDeepEqual(nodeHash(left, right), nodeHash({ ...left, sum: 9n }, { ...right, sum: 6n }));
});

test('REC-05 PoR a negative sum is refused by the verifier and by the builder', () => {
  const proof = someProof();
  proof.path[0]!.sum = `-${proof.path[0]!.sum}`;
  assert.match(verifyInclusion(proof, tree.root).reason ?? '', /negative/);
  // A custodian that offsets a liability with a negative leaf: the balance itself negative.
  const negative = someProof();
  negative.balance = '-1';
  assert.match(verifyInclusion(negative, tree.root).reason ?? '', /negative/);
  assert.match(verifyInclusion(someProof(), { hash: tree.root.hash, sum: -1n }).reason ?? '', /negative/);
  // A crafted sibling of "2^256 - x" (wrap-around) is refused as too large, not reduced modulo.
  const wrap = someProof();
  wrap.path[0]!.sum = ((1n << 256n) - 1n).toString();
  assert.equal(verifyInclusion(wrap, tree.root).ok, false);
  assert.throws(() => buildLiabilityTree('BTC', [{ clientId: 'x', balance: -1n }], secret), /non-negative/);
  assert.throws(() => buildLiabilityTree('BTC', [{ clientId: 'x', balance: 1n }, { clientId: 'x', balance: 2n }], secret), /twice/);
  assert.equal(verifyInclusion({ ...someProof(), path: [{ side: 'left', hash: 'zz', sum: '1' }] }, tree.root).ok, false);
});

test('REC-05 PoR a sibling sees a salted hash and an amount, never an identity: leaves are ordered by salted hash', () => {
  const proof = someProof();
  const known = new Set(leaves.map((leaf) => leafHash('BTC', leaf.clientId, Buffer.alloc(32), leaf.balance).toString('hex')));
  for (const step of proof.path) assert.ok(!known.has(step.hash), 'an unsalted leaf hash never appears');
  // Only with the client's own salt does its leaf hash come out.
  const mine = leaves[5]!;
  assert.equal(proof.salt, clientSalt(secret, 'BTC', mine.clientId).toString('hex'));
});

test('REC-05 PoR reserves >= liabilities in integers', () => {
  assert.deepEqual(reserveCheck(total, total), { covered: true, shortfall: 0n, surplus: 0n });
  assert.deepEqual(reserveCheck(total - 1n, total), { covered: false, shortfall: 1n, surplus: 0n });
  assert.deepEqual(reserveCheck(total + 5n, total), { covered: true, shortfall: 0n, surplus: 5n });
});
