// Astana time for the daily cut-off (firm policy: the business calendar's UTC+5, no daylight saving).
// Node's Intl agrees on this machine: Asia/Almaty is GMT+5 since tzdata 2024a (Kazakhstan moved from
// UTC+6 to UTC+5 on 2024-03-01); older tzdata says +6, so the offset is fixed here, not looked up.
export const ASTANA_OFFSET_MINUTES = 300;
export const ASTANA_TIMEZONE = 'Asia/Almaty (UTC+05:00)';
const OFFSET_MS = ASTANA_OFFSET_MINUTES * 60_000;
const DAY_MS = 86_400_000;

/** The calendar date in Astana at `instant`, YYYY-MM-DD. */
export function astanaDate(instant: Date): string {
  return new Date(instant.getTime() + OFFSET_MS).toISOString().slice(0, 10);
}

/** The instant of `HH:MM` Astana time on `date`. */
export function cutoffInstant(date: string, cutoffTime: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = cutoffTime.split(':').map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1, d, hh, mm) - OFFSET_MS);
}

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/** The latest report date whose cut-off is at or before `now`. */
export function latestDueDate(now: Date, cutoffTime: string): string {
  const today = astanaDate(now);
  return cutoffInstant(today, cutoffTime).getTime() <= now.getTime() ? today : addDays(today, -1);
}

export const isReportDate = (value: string): boolean => /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))
  && new Date(Date.parse(`${value}T00:00:00Z`)).toISOString().slice(0, 10) === value;
