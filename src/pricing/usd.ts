// USD amounts as integer cents. Decimal strings at the edges, bigint inside; never a float.
import { DomainError } from '../platform/errors.ts';

const USD_DECIMAL = /^(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,2}))?$/;

/** "10000" | "10000.5" | "10000.50" -> 1000050n. More than 2 decimals is refused, not rounded. */
export function usdToCents(text: string, field = 'usd'): bigint {
  const match = typeof text === 'string' ? USD_DECIMAL.exec(text) : null;
  if (!match) throw new DomainError('AMOUNT_INVALID', `${field} must be a USD decimal string with at most 2 decimals`, { field });
  return BigInt(match[1]!) * 100n + BigInt((match[2] ?? '').padEnd(2, '0'));
}

/** 1000050n -> "10000.50" (always two decimals, the way people read money). */
export function formatUsdCents(cents: bigint): string {
  if (typeof cents !== 'bigint') throw new TypeError('cents must be a bigint');
  const negative = cents < 0n;
  const abs = negative ? -cents : cents;
  return `${negative ? '-' : ''}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}
