// The one asset-aware codec between decimal strings (JSON) and bigint base units. Never a float.
import { DomainError } from './errors.ts';

/** Largest amount we accept anywhere: fits numeric(78,0) with room (2^255). */
export const AMOUNT_MAX = (1n << 255n) - 1n;

const BASE_UNITS = /^(0|[1-9][0-9]{0,77})$/;

/** Parses a base-unit integer string ("150000000"). */
export function parseBaseUnits(text: string, field = 'amount'): bigint {
  if (typeof text !== 'string' || !BASE_UNITS.test(text)) {
    throw new DomainError('AMOUNT_INVALID', `${field} must be a non-negative integer in base units, as a string`, { field });
  }
  const value = BigInt(text);
  if (value > AMOUNT_MAX) throw new DomainError('AMOUNT_INVALID', `${field} is too large`, { field });
  return value;
}

/** "1.5" BTC (8 decimals) -> 150000000n. Rejects more precision than the asset has. */
export function decimalToBaseUnits(text: string, decimals: number, field = 'amount'): bigint {
  const match = /^(0|[1-9][0-9]{0,59})(?:\.([0-9]{1,36}))?$/.exec(text);
  if (!match) throw new DomainError('AMOUNT_INVALID', `${field} must be a decimal string like "1.25"`, { field });
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) {
    throw new DomainError('AMOUNT_INVALID', `${field} has more than ${decimals} decimal places`, { field, decimals });
  }
  const value = BigInt(match[1]! + fraction.padEnd(decimals, '0'));
  if (value > AMOUNT_MAX) throw new DomainError('AMOUNT_INVALID', `${field} is too large`, { field });
  return value;
}

/** 150000000n, 8 -> "1.5" */
export function baseUnitsToDecimal(value: bigint, decimals: number): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}
