// Shared request schemas. Amounts are decimal strings in asset units; the asset registry converts.
import { z } from 'zod';

export const uuid = z.guid();
export const assetCode = z.string().regex(/^[A-Z0-9]{2,12}$/, 'an asset code like BTC');
export const decimalAmount = z.string().regex(/^(0|[1-9][0-9]{0,59})(\.[0-9]{1,36})?$/, 'a decimal string like "1.25"');
export const reference = z.record(z.string().max(64), z.union([z.string().max(256), z.number().int(), z.boolean()]))
  .refine((r) => Object.keys(r).length <= 16, 'at most 16 reference fields');
export const limit = z.coerce.number().int().min(1).max(500).default(100);
export const isoInstant = z.iso.datetime({ offset: true });
export const bigintId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
