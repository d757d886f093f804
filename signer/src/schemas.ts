// One schema per request body at the HTTP edge (zod). Money is a decimal string of base units.
import { z } from 'zod';

const decimal = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'decimal string of base units');
const id = z.string().min(1).max(128);
/** Upper bound of `intent.sourceKeyIds` (one key per deposit address of a wallet). */
export const MAX_SOURCE_KEYS = 250;
const isoInstant = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, 'ISO 8601 instant');

export const intentSchema = z.object({
  intentId: id,
  chain: z.enum(['bitcoin', 'ethereum']),
  network: z.string().min(1).max(32),
  asset: z.string().min(1).max(16),
  tokenContract: z.string().min(1).max(64).optional(),
  clientId: id,
  initiator: id,
  sourceKeyId: id,
  /** Distinctness, membership of sourceKeyId, owner and tier are checked by the signer (specific codes). */
  sourceKeyIds: z.array(id).min(1).max(MAX_SOURCE_KEYS).optional(),
  purpose: z.enum(['withdrawal', 'sweep', 'refill']).optional(),
  outputs: z.array(z.object({ address: z.string().min(1).max(128), amount: decimal, keyId: id.optional() }).strict()).min(1).max(1000),
  change: z.object({ address: z.string().min(1).max(128), keyId: id.optional() }).strict().optional(),
  feeCap: decimal,
  expiresAt: isoInstant,
  /** WDR-04: the API's destination-screening hash, bound into the intent hash (not interpreted here). */
  screeningHash: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex').optional(),
}).strict();

export const approvalSchema = z.object({
  approverId: id,
  algorithm: z.enum(['ed25519', 'p256']),
  intentHash: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().min(1).max(512),
  signedAt: isoInstant,
  expiresAt: isoInstant,
}).strict();

export const signRequestSchema = z.object({
  requestId: id,
  intent: intentSchema,
  transaction: z.union([
    z.object({ psbt: z.string().min(1).max(4_000_000) }).strict(),
    z.object({ ethereumTx: z.string().regex(/^0x[0-9a-fA-F]+$/).max(200_000) }).strict(),
  ]),
  approvals: z.array(approvalSchema).max(64).default([]),
}).strict();

export const createKeySchema = z.object({
  label: z.string().min(1).max(64),
  tier: z.enum(['hot', 'cold']),
  /** Owner of the wallet; "house" for fee and gas-station wallets. */
  clientId: id.default('house'),
  /** Backup ceremony: the key may later be wrapped (it stays sensitive). */
  backup: z.boolean().default(false),
}).strict();

const kekComponent = z.string().regex(/^[0-9a-f]{64}$/, '32-byte hex');

export const wrapKeySchema = z.object({
  ceremonyId: id,
  kekComponents: z.array(kekComponent).min(2).max(16),
}).strict();

export const restoreKeySchema = z.object({
  ceremonyId: id,
  kekComponents: z.array(kekComponent).min(2).max(16),
  blob: z.string().min(1).max(4096),
  sourceKeyId: id,
  label: z.string().min(1).max(64),
  publicKey: z.string().regex(/^(02|03)[0-9a-f]{64}$|^04[0-9a-f]{128}$/),
  clientId: id.default('house'),
}).strict();

export type SignRequest = z.infer<typeof signRequestSchema>;

/** POST /reports/sign: a report manifest and nothing else (see report-manifest.ts). */
export { reportManifestSchema, reportSignRequestSchema } from './report-manifest.ts';
