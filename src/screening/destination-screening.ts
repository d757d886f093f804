// The screening step's service: asks the provider about a withdrawal's destination and turns the
// answer into the stored, hashed record (screening-record.ts). The provider is the only I/O.
import type { ScreeningChain, ScreeningProvider } from './screening-provider.ts';
import { buildScreeningRecord, screeningHash, type ScreeningRecord } from './screening-record.ts';

export class DestinationScreening {
  constructor(private readonly deps: { provider: ScreeningProvider; highRiskScore: number }) {}

  get highRiskScore(): number { return this.deps.highRiskScore; }

  async screen(chain: ScreeningChain, address: string, declaredDestinationType: 'vasp' | 'self_hosted'): Promise<{ record: ScreeningRecord; hash: string }> {
    const result = await this.deps.provider.screen(chain, address);
    const record = buildScreeningRecord(result, { declaredDestinationType, highRiskScore: this.deps.highRiskScore });
    return { record, hash: screeningHash(record) };
  }
}
