// The signer policy: approvers (N), quorum (M), hard caps. Loaded once at start, hashed, logged,
// frozen. A change of policy means a restart, which shows up in the log with the new hash.
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/** 48 h: the service's 24 h intents with a day of margin for clock skew and retries. */
export const DEFAULT_MAX_INTENT_LIFETIME_SECONDS = 48 * 3600;

const decimal = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'decimal string of base units');

const approverSchema = z.object({
  id: z.string().min(1).max(128),
  /** The user id of the officer (the person): one per approver entry, counted once in a quorum, never the intent's initiator. */
  userId: z.string().min(1).max(128),
  algorithm: z.enum(['ed25519', 'p256']),
  /** SPKI public key, PEM. */
  publicKeyPem: z.string().min(1).max(4096),
}).strict();

const assetSchema = z.object({
  chain: z.enum(['bitcoin', 'ethereum']),
  /** Hard cap on the sum of non-change outputs of one transaction, in base units. */
  maxAmountPerTx: decimal,
  /** ERC-20 only: chain id (decimal) -> the one contract allowed for this symbol. */
  contracts: z.record(z.string(), z.string()).optional(),
}).strict();

const policySchema = z.object({
  version: z.string().min(1).max(64),
  approvals: z.object({
    quorum: z.number().int().min(1).max(64),
    maxLifetimeSeconds: z.number().int().min(1).max(30 * 24 * 3600),
    clockSkewSeconds: z.number().int().min(0).max(600),
  }).strict(),
  approvers: z.array(approverSchema).min(1).max(64),
  /** An intent is signed only while it expires within this many seconds from now (the service's intents live 24 h). */
  intents: z.object({
    maxLifetimeSeconds: z.number().int().min(60).max(30 * 24 * 3600),
  }).strict().default({ maxLifetimeSeconds: DEFAULT_MAX_INTENT_LIFETIME_SECONDS }),
  assets: z.record(z.string(), assetSchema),
  bitcoin: z.object({
    networks: z.array(z.enum(['mainnet', 'testnet', 'regtest', 'bcoin-regtest'])).min(1),
    maxFeeRateSatPerVbyte: decimal,
    maxInputs: z.number().int().min(1).max(1000),
    maxOutputs: z.number().int().min(1).max(1000),
  }).strict(),
  ethereum: z.object({
    chainIds: z.array(decimal).min(1),
    maxFeePerGasWei: decimal,
    maxGasLimit: decimal,
  }).strict(),
}).strict();

export type PolicyDocument = z.infer<typeof policySchema>;

/** The person behind an approver entry: user ids compare without case or surrounding blanks. */
export function personOf(userId: string): string {
  return userId.trim().normalize('NFKC').toLowerCase();
}

export interface Approver {
  id: string;
  userId: string;
  algorithm: 'ed25519' | 'p256';
  publicKey: KeyObject;
  /** SHA-256 of the SPKI DER: the approver's identity is the key, not the id. */
  fingerprint: string;
}

export interface Policy {
  document: PolicyDocument;
  /** SHA-256 of the policy file bytes, hex. */
  hash: string;
  approvers: ReadonlyMap<string, Approver>;
  quorum: number;
}

export function parsePolicy(bytes: Buffer): Policy {
  const document = policySchema.parse(JSON.parse(bytes.toString('utf8')));
  const approvers = new Map<string, Approver>();
  const fingerprints = new Set<string>();
  const idOfPerson = new Map<string, string>();
  for (const entry of document.approvers) {
    // A quorum counts people: one officer under two ids (two keys) would meet a quorum of 2 alone.
    const person = personOf(entry.userId);
    const other = idOfPerson.get(person);
    if (other !== undefined) {
      throw new Error(`policy: user ${entry.userId.trim()} is registered under two approver ids (${other}, ${entry.id}); a quorum counts people, so each person has exactly one approver entry`);
    }
    idOfPerson.set(person, entry.id);
    const publicKey = createPublicKey(entry.publicKeyPem);
    const expectedType = entry.algorithm === 'ed25519' ? 'ed25519' : 'ec';
    if (publicKey.asymmetricKeyType !== expectedType) throw new Error(`policy: approver ${entry.id} key is not ${entry.algorithm}`);
    if (entry.algorithm === 'p256' && publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error(`policy: approver ${entry.id} key is not on P-256`);
    }
    const fingerprint = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    if (approvers.has(entry.id)) throw new Error(`policy: duplicate approver id ${entry.id}`);
    if (fingerprints.has(fingerprint)) throw new Error(`policy: approver ${entry.id} reuses another approver's key`);
    fingerprints.add(fingerprint);
    approvers.set(entry.id, { id: entry.id, userId: entry.userId, algorithm: entry.algorithm, publicKey, fingerprint });
  }
  if (document.approvals.quorum > approvers.size) {
    throw new Error(`policy: quorum ${document.approvals.quorum} exceeds the ${approvers.size} approvers`);
  }
  for (const [symbol, asset] of Object.entries(document.assets)) {
    if (asset.contracts && asset.chain !== 'ethereum') throw new Error(`policy: asset ${symbol} has contracts but is not on ethereum`);
  }
  return Object.freeze({
    document,
    hash: createHash('sha256').update(bytes).digest('hex'),
    approvers,
    quorum: document.approvals.quorum,
  });
}

export function loadPolicy(path: string): Policy {
  return parsePolicy(readFileSync(path));
}
