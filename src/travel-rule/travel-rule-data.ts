// Outgoing Travel Rule data: the threshold, the data set each tier requires (TR-02, TR-03), the
// originator built only from the KYC record (TR-04), and the validator the pipeline runs before
// anything is sent or signed. Pure; the pipeline persists the payload encrypted (pii-crypto.ts).
import { z } from 'zod';
import { DomainError } from '../platform/errors.ts';
import {
  ivms101Schema, isValidLei, type Beneficiary, type GeographicAddress, type Ivms101, type NationalIdentification,
  type NaturalPerson, type Originator, type Person, type Vasp,
} from './ivms101.ts';

/** AML 11-1.2: USD 1,000 and above needs the full data set. Integer cents. */
export const TRAVEL_RULE_THRESHOLD_USD_CENTS = 100_000n;

export type DataSetTier = 'full' | 'reduced';
export type TravelRuleDestinationType = 'vasp' | 'self_hosted';

/** `usdCents` must come from a price source that rounds up, so USD 999.999 is already 1,000.00. */
export function requiredDataSet(usdCents: bigint): DataSetTier {
  if (typeof usdCents !== 'bigint' || usdCents < 0n) throw new DomainError('BAD_ARGUMENT', 'usdCents must be a non-negative bigint');
  return usdCents >= TRAVEL_RULE_THRESHOLD_USD_CENTS ? 'full' : 'reduced';
}

/** DEP-05 (outgoing side): a self-hosted destination at or above the threshold needs an ownership proof. */
export function ownershipProofRequired(destinationType: TravelRuleDestinationType, usdCents: bigint): boolean {
  return destinationType === 'self_hosted' && requiredDataSet(usdCents) === 'full';
}

/** The client's KYC record as the KYC system holds it. The only source of originator data. */
export interface ClientKyc {
  clientId: string;
  name: { primary: string; secondary?: string };
  kycVerified: boolean;
  geographicAddress?: GeographicAddress;
  nationalId?: NationalIdentification;
  customerId: string;
  /** YYYY-MM-DD */
  dateOfBirth?: string;
  placeOfBirth?: string;
}

export interface OriginatorVerification {
  clientId: string;
  /** TR-04: whether the KYC record the data came from is verified. */
  kycVerified: boolean;
  source: 'kyc_record';
}

export interface BuiltOriginator {
  originator: Originator;
  verification: OriginatorVerification;
  walletAddress: string;
  accountReference: string;
}

function requireText(value: unknown, field: string, maxLength = 100): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > maxLength) {
    throw new DomainError('BAD_ARGUMENT', `${field} must be a non-empty string of at most ${maxLength} characters`, { field });
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * The originator, filled ONLY from the KYC record (TR-04): there is deliberately no parameter for
 * overrides. The wallet address and the internal account reference both go into accountNumber
 * (TR-02: "if both an address and an account number exist, send both").
 */
export function buildOriginator(client: ClientKyc, walletAddress: string, accountReference: string): BuiltOriginator {
  if (typeof client !== 'object' || client === null) throw new DomainError('BAD_ARGUMENT', 'client KYC record is required');
  requireText(client.clientId, 'client.clientId');
  requireText(client.name?.primary, 'client.name.primary');
  if (typeof client.kycVerified !== 'boolean') throw new DomainError('BAD_ARGUMENT', 'client.kycVerified must be a boolean', { field: 'client.kycVerified' });
  requireText(walletAddress, 'walletAddress');
  requireText(accountReference, 'accountReference');
  const naturalPerson: NaturalPerson = {
    name: {
      nameIdentifier: [{
        primaryIdentifier: client.name.primary,
        ...(client.name.secondary !== undefined ? { secondaryIdentifier: client.name.secondary } : {}),
        nameIdentifierType: 'LEGL',
      }],
    },
    ...(client.geographicAddress ? { geographicAddress: [structuredClone(client.geographicAddress)] } : {}),
    ...(client.nationalId ? { nationalIdentification: structuredClone(client.nationalId) } : {}),
    customerIdentification: requireText(client.customerId, 'client.customerId', 50),
    ...(client.dateOfBirth !== undefined && client.placeOfBirth !== undefined
      ? { dateAndPlaceOfBirth: { dateOfBirth: client.dateOfBirth, placeOfBirth: client.placeOfBirth } }
      : {}),
  };
  return deepFreeze({
    originator: { originatorPersons: [{ naturalPerson }], accountNumber: [walletAddress, accountReference] },
    verification: { clientId: client.clientId, kycVerified: client.kycVerified, source: 'kyc_record' },
    walletAddress,
    accountReference,
  });
}

export type BeneficiaryName = { natural: { primary: string; secondary?: string } } | { legal: string };

/** The beneficiary as the client declared it for this destination (name and wallet address). */
export function buildBeneficiary(name: BeneficiaryName, walletAddress: string, accountReference?: string): Beneficiary {
  requireText(walletAddress, 'walletAddress');
  let person: Person;
  if ('natural' in name) {
    person = {
      naturalPerson: {
        name: {
          nameIdentifier: [{
            primaryIdentifier: requireText(name.natural.primary, 'beneficiary.name.primary'),
            ...(name.natural.secondary !== undefined ? { secondaryIdentifier: name.natural.secondary } : {}),
            nameIdentifierType: 'LEGL',
          }],
        },
      },
    };
  } else {
    person = { legalPerson: { name: { nameIdentifier: [{ legalPersonName: requireText(name.legal, 'beneficiary.name.legal'), legalPersonNameIdentifierType: 'LEGL' }] } } };
  }
  const accounts = accountReference === undefined ? [walletAddress] : [walletAddress, requireText(accountReference, 'accountReference')];
  return { beneficiaryPersons: [person], accountNumber: accounts };
}

/** A VASP as an IVMS101 legal person; the LEI (optional) is checked against its ISO 17442 check digits. */
export function vaspPerson(name: string, lei?: string): Vasp {
  requireText(name, 'vasp.name');
  if (lei !== undefined && !isValidLei(lei)) throw new DomainError('BAD_ARGUMENT', `LEI ${lei} is not a valid ISO 17442 code`, { field: 'vasp.lei' });
  return {
    legalPerson: {
      name: { nameIdentifier: [{ legalPersonName: name, legalPersonNameIdentifierType: 'LEGL' }] },
      ...(lei !== undefined ? { nationalIdentification: { nationalIdentifier: lei, nationalIdentifierType: 'LEIX' } } : {}),
    },
  };
}

/** What the pipeline persists (encrypted) and, for VASP destinations, sends. */
export const travelRulePayloadSchema = z.strictObject({
  version: z.literal(1),
  ivms101: ivms101Schema,
  transfer: z.strictObject({
    destinationType: z.enum(['vasp', 'self_hosted']),
    originatorWalletAddress: z.string().min(1).max(100),
    originatorAccountReference: z.string().min(1).max(100),
    beneficiaryWalletAddress: z.string().min(1).max(100),
  }),
  originatorVerification: z.strictObject({
    clientId: z.string().min(1).max(100),
    kycVerified: z.boolean(),
    source: z.literal('kyc_record'),
  }),
});
export type TravelRulePayload = z.infer<typeof travelRulePayloadSchema>;

export interface BuildPayloadInput {
  originator: BuiltOriginator;
  beneficiary: Beneficiary;
  beneficiaryWalletAddress: string;
  destinationType: TravelRuleDestinationType;
  originatingVasp: Vasp;
  /** Known for VASP destinations once the counterparty is identified; absent for self-hosted. */
  beneficiaryVasp?: Vasp;
}

export function buildTravelRulePayload(input: BuildPayloadInput): TravelRulePayload {
  const ivms101: Ivms101 = {
    originator: structuredClone(input.originator.originator),
    beneficiary: structuredClone(input.beneficiary),
    originatingVASP: { originatingVASP: structuredClone(input.originatingVasp) },
    ...(input.beneficiaryVasp ? { beneficiaryVASP: { beneficiaryVASP: structuredClone(input.beneficiaryVasp) } } : {}),
  };
  return {
    version: 1,
    ivms101,
    transfer: {
      destinationType: input.destinationType,
      originatorWalletAddress: input.originator.walletAddress,
      originatorAccountReference: input.originator.accountReference,
      beneficiaryWalletAddress: input.beneficiaryWalletAddress,
    },
    originatorVerification: { ...input.originator.verification },
  };
}

export type TravelRuleValidation =
  | { ok: true; tier: DataSetTier }
  | { ok: false; code: 'TRAVEL_RULE_INCOMPLETE'; tier: DataSetTier; missing: string[] }
  | { ok: false; code: 'ORIGINATOR_NOT_VERIFIED'; tier: DataSetTier; missing: [] }
  | { ok: false; code: 'TRAVEL_RULE_INVALID'; tier: DataSetTier; missing: []; issues: string[] };

function personName(person: Person): string | undefined {
  if ('naturalPerson' in person) {
    return person.naturalPerson.name.nameIdentifier.find((n) => n.nameIdentifierType === 'LEGL')?.primaryIdentifier;
  }
  return person.legalPerson.name.nameIdentifier.find((n) => n.legalPersonNameIdentifierType === 'LEGL')?.legalPersonName;
}

/** TR-02: one of geographic address, national ID, customer ID, or date AND place of birth. */
function hasIdentifier(person: Person): boolean {
  const p = 'naturalPerson' in person ? person.naturalPerson : person.legalPerson;
  if ((p.geographicAddress?.length ?? 0) > 0) return true;
  if (p.nationalIdentification) return true;
  if (p.customerIdentification) return true;
  return 'naturalPerson' in person && person.naturalPerson.dateAndPlaceOfBirth !== undefined;
}

/**
 * Checks a payload against the data set its USD value requires. Order: shape, then completeness
 * (every missing field is listed, not just the first), then originator verification (TR-04, only
 * at the full tier).
 */
export function validateTravelRule(payload: unknown, usdCents: bigint): TravelRuleValidation {
  const tier = requiredDataSet(usdCents);
  const parsed = travelRulePayloadSchema.safeParse(payload);
  if (!parsed.success) {
    return { ok: false, code: 'TRAVEL_RULE_INVALID', tier, missing: [], issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  }
  const { ivms101, transfer, originatorVerification } = parsed.data;
  const missing: string[] = [];
  const originators = ivms101.originator.originatorPersons;
  const beneficiaries = ivms101.beneficiary.beneficiaryPersons;

  if (originators.length === 0 || originators.some((p) => !personName(p))) missing.push('originator.name');
  if (!ivms101.originator.accountNumber.includes(transfer.originatorWalletAddress)) {
    // Below the threshold the account "or a unique reference" suffices (TR-03).
    const referenceOnly = tier === 'reduced' && ivms101.originator.accountNumber.includes(transfer.originatorAccountReference);
    if (!referenceOnly) missing.push('originator.accountNumber.walletAddress');
  }
  if (tier === 'full') {
    if (!ivms101.originator.accountNumber.includes(transfer.originatorAccountReference)) missing.push('originator.accountNumber.accountReference');
    if (originators.length === 0 || originators.some((p) => !hasIdentifier(p))) missing.push('originator.identifier');
  }
  if (beneficiaries.length === 0 || beneficiaries.some((p) => !personName(p))) missing.push('beneficiary.name');
  if (!ivms101.beneficiary.accountNumber.includes(transfer.beneficiaryWalletAddress)) missing.push('beneficiary.accountNumber.walletAddress');

  if (missing.length > 0) return { ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier, missing };
  if (tier === 'full' && !originatorVerification.kycVerified) return { ok: false, code: 'ORIGINATOR_NOT_VERIFIED', tier, missing: [] };
  return { ok: true, tier };
}
