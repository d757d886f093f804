// Times in intents and approvals: a real UTC instant in exactly the form Date.prototype.toISOString
// writes (YYYY-MM-DDTHH:mm:ss.sssZ), so that it round-trips. Date.parse alone accepts 24:00,
// 31 November and offsets, and answers NaN (which compares false, so "never expires") for
// 2026-99-99T99:99:99Z; none of these is ever written by the service, the console or the CLI.

const FORM = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Milliseconds since the epoch, or undefined when `value` is not a round-tripping UTC instant. */
export function utcInstant(value: string): number | undefined {
  if (!FORM.test(value)) return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms) || new Date(ms).toISOString() !== value) return undefined;
  return ms;
}
