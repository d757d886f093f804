// REG-06 / HOT-06: the AFSA notification deadline is one business day on the versioned business
// calendar (Astana time, weekends, AIFC/KZ holidays). Pure: no database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadBusinessCalendar } from '../../src/incidents/index.ts';

const calendar = loadBusinessCalendar(path.resolve(import.meta.dirname, '../../policies/business-calendar.json'));
/** An Astana wall-clock time (UTC+5) as an instant. */
const astana = (local: string) => new Date(`${local}+05:00`);

test('REG-06 a break at Friday 17:00 Astana time is due Monday 17:00', () => {
  assert.equal(calendar.addBusinessDays(astana('2026-12-04T17:00:00'), 1).toISOString(), astana('2026-12-07T17:00:00').toISOString());
});

test('REG-06 a break on the Friday before a Monday holiday (Capital Day, 6 July 2026) is due Tuesday 17:00', () => {
  assert.equal(calendar.holidayName('2026-07-06'), 'Capital Day');
  assert.equal(calendar.addBusinessDays(astana('2026-07-03T17:00:00'), 1).toISOString(), astana('2026-07-07T17:00:00').toISOString());
});

test('REG-06 a break on a Monday is due Tuesday at the same time; a holiday Wednesday is skipped', () => {
  assert.equal(calendar.addBusinessDays(astana('2026-12-07T09:30:00'), 1).toISOString(), astana('2026-12-08T09:30:00').toISOString());
  // Independence Day, Wednesday 16 December 2026: a Tuesday break is due Thursday.
  assert.equal(calendar.addBusinessDays(astana('2026-12-15T10:00:00'), 1).toISOString(), astana('2026-12-17T10:00:00').toISOString());
});

test('REG-06 the day is counted in Astana time, not UTC: Friday 23:30 Astana (18:30 UTC) is Friday, Saturday 01:00 Astana (Friday 20:00 UTC) is the weekend', () => {
  assert.equal(calendar.addBusinessDays(astana('2026-12-04T23:30:00'), 1).toISOString(), astana('2026-12-07T23:30:00').toISOString());
  assert.equal(calendar.addBusinessDays(astana('2026-12-05T01:00:00'), 1).toISOString(), astana('2026-12-07T01:00:00').toISOString());
  assert.equal(calendar.isBusinessDay(astana('2026-12-05T01:00:00')), false);
});

test('REG-06 the calendar is versioned with a content hash', () => {
  assert.match(calendar.hash, /^[0-9a-f]{64}$/);
  assert.ok(calendar.version.length > 0);
  assert.equal(calendar.policy.utcOffsetMinutes, 300);
});
