// `amanat incidents list|show|notice|close` (REG-06): the incident register over the API
// (AMANAT_API_URL, AMANAT_API_KEY: an auditor, treasury or admin key; close needs an admin key).
import { createHash } from 'node:crypto';
import { regulatorNoticeMarkdown, type RegulatorNoticeDraft } from './regulator-notice.ts';

export interface IncidentCliOptions {
  json?: boolean; state?: string; reference?: string; 'not-a-breach'?: string; 'decided-by'?: string; note?: string; format?: string; 'idempotency-key'?: string;
}
interface Io { stdout(text: string): void; stderr(text: string): void }

export const INCIDENTS_USAGE = `  incidents list [--state open|notified|closed] [--json]
                                    the incident register: AFSA deadline, severity, clients covered
  incidents show ID [--json]        one incident with the notices sent to its clients and their delivery
  incidents notice ID [--format markdown|json]
                                    the draft of the written notice to AFSA (REG-06, REG-07)
  incidents close ID (--reference AFSA_REF | --not-a-breach REASON --decided-by NAME) [--note TEXT]
                                    close with the AFSA submission reference or a documented not-a-breach decision
                                    (an admin key); the same command again is the same request`;

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function api(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<{ status: number; json: Json }> {
  const base = process.env.AMANAT_API_URL ?? 'http://127.0.0.1:8080';
  const key = process.env.AMANAT_API_KEY;
  if (!key) throw new Error('set AMANAT_API_KEY to an auditor, treasury or admin API key');
  const res = await fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } });
  return { status: res.status, json: await res.json() };
}

const problem = (a: { status: number; json: Json }) => `${a.status} ${a.json?.code ?? ''}: ${a.json?.detail ?? ''}`;

function line(i: Json): string {
  return `${i.id}  ${i.severity} ${i.type} ${i.state}  aware ${i.awareAt}  notify AFSA by ${i.notification === 'immediate' ? `IMMEDIATELY (${i.deadlineAt})` : i.deadlineAt}`
    + `${i.clientIds.length ? `  clients ${i.clientIds.length}` : ''}${i.afsa.reference ? `  AFSA ${i.afsa.reference}` : ''}\n    ${i.summary}\n`;
}

export async function incidentsCommand(command: string | undefined, id: string | undefined, o: IncidentCliOptions, io: Io): Promise<number> {
  const usage = () => { io.stderr(`usage:\n${INCIDENTS_USAGE}\n`); return 2; };
  const enc = (v: string) => encodeURIComponent(v);
  if (command === 'list') {
    const a = await api('GET', `/v1/incidents${o.state ? `?state=${enc(o.state)}` : ''}`);
    if (a.status >= 400) throw new Error(problem(a));
    if (o.json) { io.stdout(`${JSON.stringify(a.json, null, 2)}\n`); return 0; }
    for (const i of a.json.incidents) io.stdout(line(i));
    if (a.json.incidents.length === 0) io.stdout('no incidents\n');
    return 0;
  }
  if (!id) return usage();
  if (command === 'show') {
    const a = await api('GET', `/v1/incidents/${enc(id)}`);
    if (a.status >= 400) throw new Error(problem(a));
    if (o.json) { io.stdout(`${JSON.stringify(a.json, null, 2)}\n`); return 0; }
    io.stdout(line(a.json.incident));
    for (const n of a.json.notices) io.stdout(`    notice ${n.id} to client ${n.clientId} by ${n.channel}: ${n.delivered ? `delivered ${n.deliveredAt} (${n.deliveryReference ?? '-'})` : 'not yet delivered'}\n`);
    if (a.json.incident.closure) io.stdout(`    closed: ${JSON.stringify(a.json.incident.closure)}\n`);
    return 0;
  }
  if (command === 'notice') {
    const a = await api('GET', `/v1/incidents/${enc(id)}/notice`);
    if (a.status >= 400) throw new Error(problem(a));
    io.stdout(o.format === 'json' ? `${JSON.stringify(a.json, null, 2)}\n` : regulatorNoticeMarkdown(a.json as RegulatorNoticeDraft));
    return 0;
  }
  if (command === 'close') {
    const notABreach = o['not-a-breach'];
    if ((o.reference === undefined) === (notABreach === undefined) || (notABreach !== undefined && !o['decided-by'])) return usage();
    const body = { ...(o.reference ? { afsaReference: o.reference } : { notABreach: { reason: notABreach!, decidedBy: o['decided-by']! } }), ...(o.note ? { note: o.note } : {}) };
    const key = o['idempotency-key'] ?? `incident-close-${createHash('sha256').update(JSON.stringify({ id, body })).digest('hex').slice(0, 40)}`;
    const a = await api('POST', `/v1/incidents/${enc(id)}/close`, body, key);
    if (a.status >= 400) throw new Error(problem(a));
    io.stdout(`closed ${id}: ${JSON.stringify(a.json.incident.closure)}\n`);
    return 0;
  }
  return usage();
}
