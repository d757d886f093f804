// Destination screening (WDR-04): the provider interface, the development provider over the
// versioned files in policies/, the pure outcome and record, and the tipping-off rule. Other
// contexts import from here.
import path from 'node:path';
import type { Config } from '../platform/config.ts';
import { DestinationScreening } from './destination-screening.ts';
import { ListScreeningProvider } from './list-screening-provider.ts';

export { DestinationScreening } from './destination-screening.ts';
export {
  ListScreeningProvider, SCREENING_ENTRIES_MAX, SCREENING_FILE_BYTES_MAX, VASP_DIRECTORY_VASPS_MAX, VASP_PREFIXES_MAX, VASP_PREFIX_LENGTH_MIN,
} from './list-screening-provider.ts';
export {
  normalizeScreeningAddress, type DestinationClassification, type ScreeningChain, type ScreeningProvider, type ScreeningResult,
} from './screening-provider.ts';
export {
  buildScreeningRecord, effectiveDestinationType, screeningHash, screeningOutcome, type ScreeningOutcome, type ScreeningRecord,
} from './screening-record.ts';
export { COMPLIANCE_HOLD, exchangeFacingFailure } from './tipping-off.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** The screening the config names: today the development list provider (a vendor would be chosen here). */
export function createDestinationScreening(config: Config): DestinationScreening {
  const at = (p: string) => path.resolve(repoRoot, p);
  const provider = new ListScreeningProvider({ screeningListFile: at(config.screening.listFile), vaspDirectoryFile: at(config.screening.vaspDirectoryFile) });
  return new DestinationScreening({ provider, highRiskScore: config.screening.highRiskScore });
}
