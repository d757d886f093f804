// Regulatory incidents over HTTP against a real Postgres (REG-06, REG-07, HOT-06, CLI-13, REC-05):
// the AFSA deadline on the business calendar, SEV-1 cyber events with an immediate notification
// task, closing only with a reference or a not-a-breach decision, one notice per affected client
// with its delivery acknowledged, the notice draft, and every auditor read in the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import type { IncidentService } from '../../src/incidents/index.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runCli } from '../helpers/treasury.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let app: TestApp;
let incidents: IncidentService;
before(async () => { app = await startTestApp(); incidents = app.amanat.services.incidents; });
after(async () => { await app.close(); });

const astana = (local: string) => new Date(`${local}+05:00`);
const newClient = async (ref: string) => (await app.call('POST', '/v1/clients', { body: { externalRef: ref, classification: 'retail', kzResident: true } })).body.id as string;
const eventsOf = async (subject: string) => (await app.db.owner.query<{ type: string; client_id: string | null; payload: Record<string, unknown> }>(
  'select type, client_id, payload from events where subject = $1 order by id', [subject])).rows;

test('HOT-06 REG-06 a hot-cap breach on the Friday before a Monday holiday is due Tuesday 17:00 Astana time; a second detection finds the same incident', async () => {
  const opened = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'hot_cap_breach', dedupeKey: 'BTC', summary: 'BTC retail hot share 30.01 % > 30 %', awareAt: astana('2026-07-03T17:00:00'), detail: { asset: 'BTC', shareBp: 3001 } }));
  assert.equal(opened.deadlineAt.toISOString(), astana('2026-07-07T17:00:00').toISOString(), 'Capital Day (Monday 6 July) is skipped');
  assert.equal(opened.notification, 'one_business_day');
  assert.equal(opened.regulatoryBreach, true);
  const again = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'hot_cap_breach', dedupeKey: 'BTC', summary: 'still above', awareAt: astana('2026-07-04T09:00:00') }));
  assert.equal(again.id, opened.id, 'idempotent per (type, dedupe key) while open');
  assert.equal(again.awareAt.toISOString(), opened.awareAt.toISOString(), 'the clock runs from the first awareness');
  const http = await app.call('GET', `/v1/incidents/${opened.id}`, { key: app.keys.auditor });
  assert.equal(http.status, 200, JSON.stringify(http.body));
  assert.equal(http.body.incident.deadlineAt, astana('2026-07-07T17:00:00').toISOString());
  assert.equal(http.body.incident.calendar.version, incidents.calendar.version);
  assert.deepEqual((await eventsOf(opened.id)).map((e) => e.type), ['incident.opened'], 'one opening on the feed, not two');
  await inTransaction(app.db.app, (q) => incidents.close(q, opened.id, { reference: 'AFSA-2026-0001', actor: 'test' }));
});

test('REG-06 a reconciliation break injected Friday 17:00 Astana time is due Monday 17:00; one on a Monday is due Tuesday', async () => {
  const friday = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_break', dedupeKey: 'friday', summary: 'unknown inflow', awareAt: astana('2026-12-04T17:00:00') }));
  assert.equal(friday.deadlineAt.toISOString(), astana('2026-12-07T17:00:00').toISOString());
  const monday = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_break', dedupeKey: 'monday', summary: 'missing outflow', awareAt: astana('2026-12-07T11:15:00') }));
  assert.equal(monday.deadlineAt.toISOString(), astana('2026-12-08T11:15:00').toISOString());
  for (const i of [friday, monday]) await inTransaction(app.db.app, (q) => incidents.close(q, i.id, { notABreachDecision: { reason: 'test', decidedBy: 'compliance' }, actor: 'test' }));
});

test('REG-06 an incident cannot be closed with no AFSA submission reference or not-a-breach decision; with one it closes, and a closed one can be reopened by a new detection', async () => {
  const i = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_missed', dedupeKey: '2026-12-03', summary: 'daily reconciliation missed' }));
  const refused = await app.call('POST', `/v1/incidents/${i.id}/close`, { key: app.keys.admin, body: { note: 'done' } });
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'INCIDENT_REFERENCE_REQUIRED');
  assert.equal((await incidents.get(app.db.app, i.id)).state, 'open', 'nothing changed');
  assert.equal((await app.call('POST', `/v1/incidents/${i.id}/close`, { key: app.keys.auditor, body: { afsaReference: 'AFSA-1' } })).status, 403, 'the auditor reads only');
  const notified = await app.call('POST', `/v1/incidents/${i.id}/afsa-notice`, { key: app.keys.admin, body: { reference: 'AFSA-2026-0042' } });
  assert.equal(notified.status, 200, JSON.stringify(notified.body));
  assert.equal(notified.body.incident.state, 'notified');
  const closed = await app.call('POST', `/v1/incidents/${i.id}/close`, { key: app.keys.admin, body: { note: 'filed and remedied' } });
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  assert.equal(closed.body.incident.state, 'closed');
  assert.deepEqual(closed.body.incident.closure, { basis: 'afsa_notified', afsaReference: 'AFSA-2026-0042', note: 'filed and remedied' });
  const other = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_missed', dedupeKey: '2026-12-03', summary: 'missed again' }));
  assert.notEqual(other.id, i.id, 'a closed incident is not reused');
  const decided = await app.call('POST', `/v1/incidents/${other.id}/close`, { key: app.keys.admin, body: { notABreach: { reason: 'the run finished 4 minutes late; data complete', decidedBy: 'Head of Compliance' } } });
  assert.equal(decided.status, 200, JSON.stringify(decided.body));
  assert.equal(decided.body.incident.closure.basis, 'not_a_breach');
  assert.equal(decided.body.incident.afsa.reference, null);
});

test('REG-07 a simulated HSM tamper event opens a SEV-1 incident with an immediate AFSA notification task; signer refusals map to severities', async () => {
  const awareAt = new Date();
  const tamper = await inTransaction(app.db.app, (q) => incidents.reportSecurityEvent(q, { kind: 'hsm_tamper', dedupeKey: 'token-hot', summary: 'HSM hot token reported a tamper event', awareAt }));
  assert.equal(tamper.severity, 'sev1');
  assert.equal(tamper.notification, 'immediate');
  assert.equal(tamper.deadlineAt.toISOString(), awareAt.toISOString(), 'the AFSA task is due at once');
  assert.equal(tamper.latestDeadlineAt.toISOString(), incidents.calendar.addBusinessDays(awareAt, 1).toISOString(), 'and in writing within one business day at the latest');
  const { escalated } = await inTransaction(app.db.app, (q) => incidents.escalate(q, new Date(awareAt.getTime() + 1000)));
  assert.ok(escalated.some((i) => i.id === tamper.id), 'the SEV-1 pages at once');
  assert.ok((await eventsOf(tamper.id)).some((e) => e.type === 'incident.escalated'));
  const mapping = [['CROSS_CLIENT_TRANSFER', 'sev1'], ['INTENT_HASH_MISMATCH', 'sev1'], ['TIER_MISMATCH', 'sev2'], ['AMOUNT_LIMIT', 'sev3']] as const;
  for (const [code, severity] of mapping) {
    const i = await inTransaction(app.db.app, (q) => incidents.reportSecurityEvent(q, { kind: 'signer_policy_bypass', code, dedupeKey: `req-${code}`, summary: `signer refused: ${code}` }));
    assert.equal(i.severity, severity, code);
    assert.equal(i.regulatoryBreach, severity !== 'sev3', code);
  }
  const admin = await inTransaction(app.db.app, (q) => incidents.reportSecurityEvent(q, { kind: 'unauthorised_admin_access', dedupeKey: 'key-x', summary: 'admin key used from an unknown network' }));
  assert.equal(admin.severity, 'sev1');
  // Monitoring reports over HTTP: the same event twice is one incident.
  const body = { kind: 'hsm_tamper', reference: 'cold-token-7', summary: 'cold HSM token tamper switch' };
  const reported = await app.call('POST', '/v1/security-events', { key: app.keys.admin, body });
  assert.equal(reported.status, 201, JSON.stringify(reported.body));
  assert.equal(reported.body.incident.severity, 'sev1');
  assert.equal(reported.body.incident.notification, 'immediate');
  assert.equal(reported.body.incident.deadlineAt, reported.body.incident.awareAt);
  assert.ok(Math.abs(Date.parse(reported.body.incident.awareAt) - Date.now()) < 60_000, 'the task exists within minutes of the event');
  assert.equal((await app.call('POST', '/v1/security-events', { key: app.keys.admin, body })).body.incident.id, reported.body.incident.id);
});

test('REG-06 escalation fires once before the deadline and once when it has passed, only for incidents not yet notified', async () => {
  const awareAt = astana('2026-12-08T10:00:00');
  const i = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_break', dedupeKey: 'escalation', summary: 'amount mismatch', awareAt }));
  const filed = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_break', dedupeKey: 'escalation-filed', summary: 'timing', awareAt }));
  await inTransaction(app.db.app, (q) => incidents.recordAfsaNotice(q, filed.id, { reference: 'AFSA-on-time', actor: 'test' }));
  const early = await inTransaction(app.db.app, (q) => incidents.escalate(q, astana('2026-12-08T12:00:00')));
  assert.ok(!early.escalated.some((x) => x.id === i.id), 'not yet: the deadline is a day away');
  const near = await inTransaction(app.db.app, (q) => incidents.escalate(q, astana('2026-12-09T07:00:00')));
  assert.ok(near.escalated.some((x) => x.id === i.id), 'within 4 hours of the deadline');
  const again = await inTransaction(app.db.app, (q) => incidents.escalate(q, astana('2026-12-09T08:00:00')));
  assert.ok(!again.escalated.some((x) => x.id === i.id), 'once');
  const late = await inTransaction(app.db.app, (q) => incidents.escalate(q, astana('2026-12-09T10:00:01')));
  assert.ok(late.overdue.some((x) => x.id === i.id), 'overdue once the deadline has passed');
  assert.ok(![...near.escalated, ...late.escalated, ...late.overdue].some((x) => x.id === filed.id), 'an incident already notified to AFSA does not escalate');
  assert.deepEqual((await eventsOf(i.id)).map((e) => e.type), ['incident.opened', 'incident.escalated', 'incident.overdue']);
  await inTransaction(app.db.app, (q) => incidents.close(q, i.id, { reference: 'AFSA-late', actor: 'test' }));
});

test('CLI-13 declaring a key compromise covering 3 clients sends 3 notices through their agreed channels and logs their delivery', async () => {
  const clients = [await newClient('cli13-a'), await newClient('cli13-b'), await newClient('cli13-c')];
  const channels = ['email', 'sms', 'post'] as const;
  const body = { type: 'key_compromise', summary: 'hot key of three clients exposed on a build server', description: 'Keys k1..k3 were copied.',
    clients: clients.map((clientId, n) => ({ clientId, channel: channels[n] })) };
  const declared = await app.call('POST', '/v1/incidents', { key: app.keys.admin, body, idem: 'declare-cli13' });
  assert.equal(declared.status, 201, JSON.stringify(declared.body));
  assert.equal(declared.body.incident.severity, 'sev1', 'a key compromise is SEV-1');
  assert.deepEqual([...declared.body.incident.clientIds].sort(), [...clients].sort(), 'the affected clients are listed on the incident');
  assert.equal(declared.body.notices.length, 3);
  const replay = await app.call('POST', '/v1/incidents', { key: app.keys.admin, body, idem: 'declare-cli13' });
  assert.equal(replay.body.incident.id, declared.body.incident.id, 'a retried declaration is the same incident');
  const id = declared.body.incident.id as string;
  const { rows: feed } = await app.db.owner.query<{ client_id: string; payload: { channel: string; noticeId: string; incidentId: string } }>(
    `select client_id, payload from events where type = 'client.notice' and payload->>'incidentId' = $1 order by id`, [id]);
  assert.equal(feed.length, 3, 'one notice per client on the feed the exchange delivers from, not more');
  assert.deepEqual(feed.map((e) => [e.client_id, e.payload.channel]).sort(), clients.map((c, n) => [c, channels[n]]).sort());
  for (const e of feed) {
    const ack = await app.call('POST', `/v1/incidents/${id}/notices/${e.payload.noticeId}/ack`, { key: app.keys.exchange, body: { deliveryReference: `msg-${e.client_id.slice(0, 8)}` } });
    assert.equal(ack.status, 200, JSON.stringify(ack.body));
    assert.equal(ack.body.delivered, true);
  }
  assert.equal((await app.call('POST', `/v1/incidents/${id}/notices/${feed[0]!.payload.noticeId}/ack`, { key: app.keys.admin, body: {} })).status, 403, 'only the exchange acknowledges');
  const shown = await app.call('GET', `/v1/incidents/${id}`, { key: app.keys.auditor });
  assert.equal(shown.body.notices.length, 3);
  assert.ok(shown.body.notices.every((n: { delivered: boolean; deliveredBy: string; deliveryReference: string }) => n.delivered && n.deliveredBy.startsWith('apikey:') && n.deliveryReference.startsWith('msg-')), JSON.stringify(shown.body.notices));
  const draft = await app.call('GET', `/v1/incidents/${id}/notice`, { key: app.keys.auditor });
  assert.equal(draft.status, 200);
  assert.equal(draft.body.type, 'amanat-afsa-notice-draft-v1');
  assert.deepEqual(draft.body.affectedClients, { count: 3, clientIds: declared.body.incident.clientIds, noticesSent: 3, noticesDelivered: 3 });
  const md = await app.call('GET', `/v1/incidents/${id}/notice?format=markdown`, { key: app.keys.auditor });
  assert.equal(md.status, 200);
  assert.match(md.headers.get('content-type') ?? '', /text\/markdown/);
  assert.match(md.body as string, /Notice to the AFSA: Private keys that control client assets are, or may be, compromised \(DRAFT\)/);
  assert.match(md.body as string, /Clients affected: 3 \(notices sent 3, delivered 3\)/);
});

test('REC-05 every auditor access is in the audit log, refused reads and refused writes included', async () => {
  const before = Number((await app.db.owner.query('select coalesce(max(id), 0) as n from audit_log')).rows[0].n);
  assert.equal((await app.call('GET', '/v1/incidents?state=open', { key: app.keys.auditor })).status, 200);
  const missing = '00000000-0000-4000-8000-000000000000';
  assert.equal((await app.call('GET', `/v1/incidents/${missing}`, { key: app.keys.auditor })).status, 404);
  assert.equal((await app.call('GET', '/v1/incidents', { key: app.keys.treasury })).status, 200);
  assert.equal((await app.call('POST', '/v1/incidents', { key: app.keys.auditor, body: {} })).status, 403);
  const { rows } = await app.db.owner.query<{ actor: string; action: string; subject: string; outcome: string; details: { status: number; query: unknown } }>(
    'select actor, action, subject, outcome, details from audit_log where id > $1 order by id', [before]);
  const auditorRows = rows.filter((r) => (r.details as { accessLog?: string }).accessLog === 'auditor');
  assert.deepEqual(auditorRows.map((r) => [r.action, r.subject, r.outcome, r.details.status]), [
    ['GET /v1/incidents', '/v1/incidents', 'ok', 200],
    ['GET /v1/incidents/:incidentId', `/v1/incidents/${missing}`, 'rejected:INCIDENT_NOT_FOUND', 404],
    ['POST /v1/incidents', '/v1/incidents', 'rejected:FORBIDDEN', 403],
  ], 'both auditor reads and the refused write, and not the treasury read');
  assert.equal(rows.length, auditorRows.length, 'nothing else was logged');
  assert.deepEqual(auditorRows[0]!.details.query, { state: 'open', limit: 100 });
  assert.ok(auditorRows.every((r) => r.actor.startsWith('apikey:')));
});

test('REG-06 amanat incidents list, show, notice and close: close refuses without a reference or decision, then closes with the AFSA reference', async () => {
  const i = await inTransaction(app.db.app, (q) => incidents.open(q, { type: 'recon_break', dedupeKey: 'cli', summary: 'unknown inflow on client wallet', awareAt: astana('2026-12-04T17:00:00') }));
  const stateDir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'inc-cli-'));
  const as = (role: 'auditor' | 'admin') => ({ apiUrl: app.url, apiKey: app.keys[role], stateDir });
  const list = await runCli(['incidents', 'list', '--state', 'open', '--json'], as('auditor'));
  assert.equal(list.code, 0, list.stderr);
  assert.ok((JSON.parse(list.stdout).incidents as { id: string }[]).some((x) => x.id === i.id));
  const show = await runCli(['incidents', 'show', i.id], as('auditor'));
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`notify AFSA by ${astana('2026-12-07T17:00:00').toISOString()}`));
  const notice = await runCli(['incidents', 'notice', i.id], as('auditor'));
  assert.equal(notice.code, 0, notice.stderr);
  assert.match(notice.stdout, /# Notice to the AFSA: An unexplained difference between the client asset records and the blockchain \(DRAFT\)/);
  const bare = await runCli(['incidents', 'close', i.id], as('admin'));
  assert.equal(bare.code, 2, 'neither a reference nor a decision: usage');
  assert.equal((await incidents.get(app.db.app, i.id)).state, 'open');
  const byAuditor = await runCli(['incidents', 'close', i.id, '--reference', 'AFSA-CLI-1'], as('auditor'));
  assert.notEqual(byAuditor.code, 0);
  assert.match(byAuditor.stderr, /403 FORBIDDEN/);
  const closed = await runCli(['incidents', 'close', i.id, '--reference', 'AFSA-CLI-1'], as('admin'));
  assert.equal(closed.code, 0, closed.stderr);
  assert.equal((await incidents.get(app.db.app, i.id)).afsaReference, 'AFSA-CLI-1');
  const again = await runCli(['incidents', 'close', i.id, '--reference', 'AFSA-CLI-1'], as('admin'));
  assert.equal(again.code, 0, `the same command again is the same request: ${again.stderr}`);
});
