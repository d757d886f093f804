// Proof of reserves (issue 12 §6): a Merkle SUM tree over the client liabilities of one asset.
// Pure functions, no I/O: the reconciliation builds the tree at its cut-off and publishes the root
// in its signed report; each client gets its inclusion proof and checks it with verifyInclusion
// (`amanat proof verify`, or by hand: docs/reports.md has the algorithm step by step).
//
// Leaf (one per client with a liability, in the order of its hash):
//   salt     = HMAC-SHA256(secret, "amanat-por-salt-v1\n" + asset + "\n" + clientId)   (per client, per report)
//   leafHash = SHA256( 0x00 || "amanat-por-leaf-v1" || salt(32) || SHA256(asset + "\n" + clientId)(32) || u256(balance) )
//   leafSum  = balance
// Node:
//   hash = SHA256( 0x01 || "amanat-por-node-v1" || leftHash(32) || u256(leftSum) || rightHash(32) || u256(rightSum) )
//   sum  = leftSum + rightSum
// where u256(x) is x as 32 bytes big-endian, every x an integer 0 <= x < 2^256 (base units).
// The tree is padded to a power of two with zero-sum padding leaves (SHA256(0x02 || "amanat-por-pad-v1"
// || HMAC(secret, "amanat-por-pad-v1\n" + asset + "\n" + i))), so the number of clients is not exact.
//
// Why both sums in the hash: a parent that committed only to the total of its children (the first
// sum-tree designs) let the custodian hand a client a sibling with a lower sum and still reach a
// root whose total is understated. Here every sum a proof names is inside a hash the root commits
// to: change one and the root does not match. Every sum is non-negative (a negative leaf cannot
// cancel a liability), the verifier checks that too, and the root's sum must equal the published total.
//
// Privacy: a sibling's proof shows this leaf's hash and sum only. The salt is secret (derived from a
// per-report secret the service keeps), so the hash reveals neither the identity nor the balance;
// leaves are ordered by their salted hash, so the position says nothing either. The sibling SUM of
// the lowest level is one (anonymous) client's balance: that amount is visible to the one client
// whose leaf sits next to it, but not whose it is. docs/reports.md says so.
import { createHash, createHmac } from 'node:crypto';

export const POR_PROOF_VERSION = 'amanat-por-proof-v1';
const LEAF_TAG = Buffer.concat([Buffer.from([0x00]), Buffer.from('amanat-por-leaf-v1', 'utf8')]);
const NODE_TAG = Buffer.concat([Buffer.from([0x01]), Buffer.from('amanat-por-node-v1', 'utf8')]);
const PAD_TAG = Buffer.concat([Buffer.from([0x02]), Buffer.from('amanat-por-pad-v1', 'utf8')]);
const MAX_SUM = (1n << 256n) - 1n;
/** 2^40 leaves is far more than any client base; a longer path is refused outright. */
export const MAX_PATH_LENGTH = 40;

export interface LiabilityLeaf { clientId: string; balance: bigint }
export interface TreeRoot { hash: string; sum: bigint }
export interface ProofStep {
  /** Where the sibling sits: 'left' means node = H(sibling, current); 'right' means node = H(current, sibling). */
  side: 'left' | 'right';
  hash: string;
  /** Decimal string of base units, never negative. */
  sum: string;
}
export interface InclusionProof {
  version: typeof POR_PROOF_VERSION;
  asset: string;
  clientId: string;
  /** The client's liability in base units (decimal string). */
  balance: string;
  /** The client's own salt for this report (hex, 32 bytes): with it the client recomputes its leaf. */
  salt: string;
  /** Siblings from the leaf up to the root. */
  path: ProofStep[];
}

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

export function u256(value: bigint): Buffer {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_SUM) throw new RangeError(`sum ${String(value)} is outside 0..2^256-1`);
  return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

export function clientSalt(secret: Uint8Array, asset: string, clientId: string): Buffer {
  return createHmac('sha256', secret).update(`amanat-por-salt-v1\n${asset}\n${clientId}`, 'utf8').digest();
}

export function leafHash(asset: string, clientId: string, salt: Buffer, balance: bigint): Buffer {
  if (salt.length !== 32) throw new RangeError('the salt is 32 bytes');
  return sha256(LEAF_TAG, salt, sha256(Buffer.from(`${asset}\n${clientId}`, 'utf8')), u256(balance));
}

export function nodeHash(left: { hash: Buffer; sum: bigint }, right: { hash: Buffer; sum: bigint }): Buffer {
  return sha256(NODE_TAG, left.hash, u256(left.sum), right.hash, u256(right.sum));
}

function paddingHash(secret: Uint8Array, asset: string, index: number): Buffer {
  return sha256(PAD_TAG, createHmac('sha256', secret).update(`amanat-por-pad-v1\n${asset}\n${index}`, 'utf8').digest());
}

/**
 * Builds the liability tree of one asset. Every balance must be a non-negative bigint and every
 * client appear once (RangeError otherwise: a custodian's own bug must not produce a tree).
 */
export function buildLiabilityTree(asset: string, leaves: LiabilityLeaf[], secret: Uint8Array):
  { root: TreeRoot; proofs: Map<string, InclusionProof> } {
  if (!(secret instanceof Uint8Array) || secret.length < 16) throw new RangeError('the salt secret is at least 16 bytes');
  const seen = new Set<string>();
  const built = leaves.map((leaf) => {
    if (typeof leaf.balance !== 'bigint' || leaf.balance < 0n) throw new RangeError(`client ${leaf.clientId}: a liability is a non-negative bigint, got ${String(leaf.balance)}`);
    if (seen.has(leaf.clientId)) throw new RangeError(`client ${leaf.clientId} appears twice`);
    seen.add(leaf.clientId);
    const salt = clientSalt(secret, asset, leaf.clientId);
    return { clientId: leaf.clientId, balance: leaf.balance, salt, hash: leafHash(asset, leaf.clientId, salt, leaf.balance) };
  }).sort((a, b) => Buffer.compare(a.hash, b.hash));

  let width = 1;
  while (width < built.length) width *= 2;
  type Node = { hash: Buffer; sum: bigint };
  let level: Node[] = built.map((leaf) => ({ hash: leaf.hash, sum: leaf.balance }));
  for (let i = level.length; i < width; i += 1) level.push({ hash: paddingHash(secret, asset, i), sum: 0n });

  const paths: ProofStep[][] = built.map(() => []);
  const positions = built.map((_, index) => index);
  while (level.length > 1) {
    for (let leaf = 0; leaf < built.length; leaf += 1) {
      const position = positions[leaf]!;
      const siblingIndex = position ^ 1;
      const sibling = level[siblingIndex]!;
      paths[leaf]!.push({ side: siblingIndex < position ? 'left' : 'right', hash: sibling.hash.toString('hex'), sum: sibling.sum.toString() });
      positions[leaf] = position >> 1;
    }
    const next: Node[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1]!;
      next.push({ hash: nodeHash(left, right), sum: left.sum + right.sum });
    }
    level = next;
  }
  const top = level[0]!;
  const proofs = new Map<string, InclusionProof>();
  built.forEach((leaf, index) => {
    proofs.set(leaf.clientId, {
      version: POR_PROOF_VERSION, asset, clientId: leaf.clientId, balance: leaf.balance.toString(), salt: leaf.salt.toString('hex'), path: paths[index]!,
    });
  });
  return { root: { hash: top.hash.toString('hex'), sum: top.sum }, proofs };
}

const HEX32 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;

function parseSum(text: unknown, what: string): bigint | string {
  if (typeof text === 'bigint') return text < 0n ? `${what} is negative` : text > MAX_SUM ? `${what} exceeds 2^256-1` : text;
  if (typeof text !== 'string') return `${what} is not a decimal string`;
  if (text.startsWith('-')) return `${what} is negative`;
  if (!DECIMAL.test(text)) return `${what} is not a decimal string of base units`;
  const value = BigInt(text);
  return value > MAX_SUM ? `${what} exceeds 2^256-1` : value;
}

/**
 * Checks a client's inclusion proof against a published root: the leaf from the client's own data
 * and salt, every sibling hash and sum (each non-negative), each parent from both hashes and both
 * sums, and at the top both the root hash and the root sum. Any malformed field is a refusal.
 */
export function verifyInclusion(proof: InclusionProof, root: { hash: string; sum: bigint | string }): { ok: boolean; reason?: string } {
  const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });
  if (typeof proof !== 'object' || proof === null) return fail('the proof is not an object');
  if (proof.version !== POR_PROOF_VERSION) return fail(`unknown proof version ${String(proof.version)}`);
  if (typeof proof.asset !== 'string' || proof.asset.length === 0) return fail('the proof names no asset');
  if (typeof proof.clientId !== 'string' || proof.clientId.length === 0) return fail('the proof names no client');
  if (typeof proof.salt !== 'string' || !HEX32.test(proof.salt)) return fail('the salt is not 32 bytes of lowercase hex');
  if (typeof root !== 'object' || root === null || typeof root.hash !== 'string' || !HEX32.test(root.hash)) return fail('the root hash is not 32 bytes of lowercase hex');
  const rootSum = parseSum(root.sum, 'the root sum');
  if (typeof rootSum === 'string') return fail(rootSum);
  const balance = parseSum(proof.balance, 'the balance');
  if (typeof balance === 'string') return fail(balance);
  if (!Array.isArray(proof.path)) return fail('the path is not a list');
  if (proof.path.length > MAX_PATH_LENGTH) return fail(`the path is longer than ${MAX_PATH_LENGTH}`);
  let current = { hash: leafHash(proof.asset, proof.clientId, Buffer.from(proof.salt, 'hex'), balance), sum: balance };
  for (const [index, step] of proof.path.entries()) {
    if (typeof step !== 'object' || step === null) return fail(`step ${index} is not an object`);
    if (step.side !== 'left' && step.side !== 'right') return fail(`step ${index}: side must be left or right`);
    if (typeof step.hash !== 'string' || !HEX32.test(step.hash)) return fail(`step ${index}: the sibling hash is not 32 bytes of lowercase hex`);
    const siblingSum = parseSum(step.sum, `step ${index}: the sibling sum`);
    if (typeof siblingSum === 'string') return fail(siblingSum);
    const sibling = { hash: Buffer.from(step.hash, 'hex'), sum: siblingSum };
    const sum = current.sum + sibling.sum;
    if (sum > MAX_SUM) return fail(`step ${index}: the sum exceeds 2^256-1`);
    current = { hash: step.side === 'left' ? nodeHash(sibling, current) : nodeHash(current, sibling), sum };
  }
  if (current.hash.toString('hex') !== root.hash) return fail('the computed root hash differs from the published root: a leaf, a sibling hash or a sum was changed');
  if (current.sum !== rootSum) return fail(`the computed total ${current.sum} differs from the published root sum ${rootSum}`);
  return { ok: true };
}

/** Reserves >= liabilities, per asset, in integers: the shortfall (0 when covered). */
export function reserveCheck(reserves: bigint, liabilities: bigint): { covered: boolean; shortfall: bigint; surplus: bigint } {
  return reserves >= liabilities ? { covered: true, shortfall: 0n, surplus: reserves - liabilities } : { covered: false, shortfall: liabilities - reserves, surplus: 0n };
}

/** Whether a root hash is published in a signed report's content (anywhere in it: a string equal to the hash). */
export function rootPublishedIn(content: unknown, rootHash: string, depth = 0): boolean {
  if (depth > 64) return false;
  if (typeof content === 'string') return content === rootHash;
  if (Array.isArray(content)) return content.some((item) => rootPublishedIn(item, rootHash, depth + 1));
  if (content && typeof content === 'object') return Object.values(content).some((item) => rootPublishedIn(item, rootHash, depth + 1));
  return false;
}
