// The draft of the written notice to AFSA for an incident (REG-06, REG-07): the same content as
// JSON and as Markdown text for the compliance officer to complete and file. A draft: it names what
// the firm knows and what is left to fill in; it is never sent from here.
import type { Incident, IncidentClientNotice } from './incident-service.ts';

const RULES: Record<Incident['type'], { rule: string; nature: string }> = {
  hot_cap_breach: { rule: 'AIFC DAA 2.13.9 (hot wallet limit) and 2.13.12 (notification of breach)', nature: 'Client assets held in hot wallets exceeded the 30 % limit' },
  recon_break: { rule: 'AIFC DAA 2.13.7 (client asset records and reconciliation) and 2.13.12', nature: 'An unexplained difference between the client asset records and the blockchain' },
  recon_missed: { rule: 'AIFC DAA 2.13.7 (daily reconciliation) and 2.13.12', nature: 'The daily reconciliation of client assets did not run' },
  key_compromise: { rule: 'AIFC DAA 2.4.4(3) (cyber-security breach), 2.11.4(h),(i) and 2.13.12', nature: 'Private keys that control client assets are, or may be, compromised' },
  security_event: { rule: 'AIFC DAA 2.4.4(3) (significant cyber-security breach) and 2.13.12', nature: 'A breach, or attempted breach, of the cyber-security policy' },
};

export interface RegulatorNoticeDraft {
  type: 'amanat-afsa-notice-draft-v1';
  to: 'Astana Financial Services Authority';
  incidentId: string;
  status: 'draft';
  incident: { type: Incident['type']; severity: Incident['severity']; summary: string; state: Incident['state']; regulatoryBreach: boolean };
  rules: string;
  nature: string;
  awareAt: string;
  notification: Incident['notification'];
  deadlineAt: string;
  latestDeadlineAt: string;
  calendar: { version: string; hash: string };
  affectedClients: { count: number; clientIds: string[]; noticesSent: number; noticesDelivered: number };
  detail: Record<string, unknown>;
  afsaReference: string | null;
  toComplete: string[];
}

export function regulatorNoticeDraft(incident: Incident, notices: IncidentClientNotice[]): RegulatorNoticeDraft {
  const r = RULES[incident.type];
  return {
    type: 'amanat-afsa-notice-draft-v1', to: 'Astana Financial Services Authority', incidentId: incident.id, status: 'draft',
    incident: { type: incident.type, severity: incident.severity, summary: incident.summary, state: incident.state, regulatoryBreach: incident.regulatoryBreach },
    rules: r.rule, nature: r.nature,
    awareAt: incident.awareAt.toISOString(), notification: incident.notification, deadlineAt: incident.deadlineAt.toISOString(),
    latestDeadlineAt: incident.latestDeadlineAt.toISOString(), calendar: incident.calendar,
    affectedClients: { count: incident.clientIds.length, clientIds: incident.clientIds, noticesSent: notices.length, noticesDelivered: notices.filter((n) => n.deliveredAt).length },
    detail: incident.detail, afsaReference: incident.afsaReference,
    toComplete: ['cause as far as known', 'steps taken and planned to remedy the breach', 'name and contact of the responsible officer'],
  };
}

export function regulatorNoticeMarkdown(d: RegulatorNoticeDraft): string {
  const lines = [
    `# Notice to the AFSA: ${d.nature} (DRAFT)`,
    '',
    `- Incident: ${d.incidentId} (${d.incident.type}, ${d.incident.severity}, ${d.incident.state})`,
    `- Summary: ${d.incident.summary}`,
    `- Rules: ${d.rules}`,
    `- The firm became aware: ${d.awareAt}`,
    `- Notify by: ${d.notification === 'immediate' ? `immediately (${d.deadlineAt}), and in writing by ${d.latestDeadlineAt} at the latest` : d.deadlineAt} (business calendar ${d.calendar.version})`,
    `- Regulatory breach: ${d.incident.regulatoryBreach ? 'yes, or possibly' : 'no (recorded security event)'}`,
    `- Clients affected: ${d.affectedClients.count} (notices sent ${d.affectedClients.noticesSent}, delivered ${d.affectedClients.noticesDelivered})`,
    `- AFSA submission reference: ${d.afsaReference ?? 'not yet filed'}`,
    '',
    '## Details',
    '',
    '```json',
    JSON.stringify(d.detail, null, 2),
    '```',
    '',
    '## To complete before filing',
    '',
    ...d.toComplete.map((t) => `- ${t}`),
    '',
  ];
  return lines.join('\n');
}
