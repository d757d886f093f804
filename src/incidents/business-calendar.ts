// The business calendar regulatory deadlines are counted on (REG-06: notice to AFSA within one
// business day). Firm policy (Q7), versioned like the other policies/: a fixed UTC offset (Astana
// time, UTC+5, no daylight saving), weekend days and a list of public holidays. Pure: no clock.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD');

const calendarSchema = z.object({
  version: z.string().min(1),
  timezone: z.string().min(1),
  utcOffsetMinutes: z.number().int().min(-14 * 60).max(14 * 60),
  weekend: z.array(z.enum(DAYS)).max(6),
  holidays: z.array(z.object({ date: isoDate, name: z.string().min(1) })),
}).loose();

export interface BusinessCalendarPolicy { version: string; hash: string; timezone: string; utcOffsetMinutes: number; weekend: readonly string[]; holidays: readonly { date: string; name: string }[] }

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export class BusinessCalendar {
  private readonly weekend: ReadonlySet<number>;
  private readonly holidays: ReadonlyMap<string, string>;

  constructor(readonly policy: BusinessCalendarPolicy) {
    this.weekend = new Set(policy.weekend.map((d) => DAYS.indexOf(d as (typeof DAYS)[number])));
    this.holidays = new Map(policy.holidays.map((h) => [h.date, h.name]));
  }

  get version(): string { return this.policy.version; }
  get hash(): string { return this.policy.hash; }

  /** The local calendar date (YYYY-MM-DD) of an instant. */
  localDate(at: Date): string {
    return new Date(at.getTime() + this.policy.utcOffsetMinutes * MINUTE).toISOString().slice(0, 10);
  }

  /** Whether the local date of `at` (or a YYYY-MM-DD date) is a business day. */
  isBusinessDay(at: Date | string): boolean {
    const date = typeof at === 'string' ? at : this.localDate(at);
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    return !this.weekend.has(weekday) && !this.holidays.has(date);
  }

  holidayName(date: string): string | undefined {
    return this.holidays.get(date);
  }

  /**
   * `days` business days after `at`: the same local time of day on the n-th business day after
   * `at`'s local date (Friday 17:00 + 1 -> Monday 17:00; Tuesday if that Monday is a holiday).
   * An instant on a weekend or holiday counts from its own date too: Saturday 10:00 + 1 -> Monday 10:00.
   */
  addBusinessDays(at: Date, days: number): Date {
    if (!Number.isInteger(days) || days < 0) throw new Error(`business days must be a non-negative integer, not ${days}`);
    let t = at.getTime();
    for (let left = days; left > 0;) {
      t += DAY;
      if (this.isBusinessDay(new Date(t))) left--;
      if (t - at.getTime() > 400 * DAY) throw new Error('the business calendar has no business day within 400 days');
    }
    return new Date(t);
  }
}

export function loadBusinessCalendar(file: string): BusinessCalendar {
  const bytes = readFileSync(file);
  const parsed = calendarSchema.parse(JSON.parse(bytes.toString('utf8')));
  return new BusinessCalendar({ ...parsed, hash: createHash('sha256').update(bytes).digest('hex') });
}
