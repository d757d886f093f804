// Compliance cases: disputes (WDR-08), screening hits (WDR-04), client freezes and the notice log.
import path from 'node:path';
import type { Config } from '../platform/config.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { ClientService } from '../clients/client-service.ts';
import { CaseService, loadRedressPolicy } from './case-service.ts';

export { CaseService, loadRedressPolicy, type CaseRow, type CaseKind, type CaseNotice, type NoticeChannel, type RedressPolicy } from './case-service.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export function createCaseService(config: Config, ledger: LedgerService, clients: ClientService): CaseService {
  return new CaseService(loadRedressPolicy(path.resolve(repoRoot, config.cases.redressPolicyFile)), ledger, clients);
}
