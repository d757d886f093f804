// Regulatory incidents (REG-06, REG-07, HOT-06, CLI-13), the business calendar their deadlines are
// counted on, and the affiliate-destination register with its AFSA consents (WDR-09).
import path from 'node:path';
import type { Config } from '../platform/config.ts';
import { loadBusinessCalendar } from './business-calendar.ts';
import { IncidentService } from './incident-service.ts';

export { BusinessCalendar, loadBusinessCalendar, type BusinessCalendarPolicy } from './business-calendar.ts';
export {
  IncidentService, securityEventSeverity, INCIDENT_TYPES, type Incident, type IncidentType, type Severity, type IncidentState,
  type IncidentClientNotice, type NotificationDeadline, type NoticeChannel, type SecurityEventKind, type OpenIncidentInput,
} from './incident-service.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export function createIncidentService(config: Config): IncidentService {
  return new IncidentService({
    calendar: loadBusinessCalendar(path.resolve(repoRoot, config.incidents.businessCalendarFile)),
    escalateBeforeMs: config.incidents.escalateBeforeMinutes * 60_000,
  });
}
