// The IVMS101 (interVASP Messaging Standard, 2020 JSON form as used by TRP) subset we send and
// receive. Presence of the Travel Rule fields is NOT enforced here: the same shape carries the
// reduced and the full data set, and validateTravelRule decides what is missing for a tier.
// Types are strict (unknown keys refused) and every string and list has a maximum (STYLE 10).
import { z } from 'zod';

/** IVMS101 caps most text at 100 characters; lists get small maxima of our own. */
const TEXT_MAX = 100;
const text = z.string().trim().min(1).max(TEXT_MAX);
const country = z.string().regex(/^[A-Z]{2}$/, 'country must be an ISO 3166-1 alpha-2 code');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be YYYY-MM-DD');

export const naturalPersonNameTypeSchema = z.enum(['ALIA', 'BIRT', 'MAID', 'LEGL', 'MISC']);
export const legalPersonNameTypeSchema = z.enum(['LEGL', 'SHRT', 'TRAD']);
export const nationalIdentifierTypeSchema = z.enum(['ARNU', 'CCPT', 'RAID', 'DRLC', 'FIIN', 'TXID', 'SOCS', 'IDCD', 'LEIX', 'MISC']);

export const geographicAddressSchema = z.strictObject({
  addressType: z.enum(['HOME', 'BIZZ', 'GEOG']),
  department: text.optional(),
  streetName: text.optional(),
  buildingNumber: z.string().trim().min(1).max(16).optional(),
  buildingName: text.optional(),
  postCode: z.string().trim().min(1).max(16).optional(),
  townName: text,
  districtName: text.optional(),
  countrySubDivision: text.optional(),
  addressLine: z.array(z.string().trim().min(1).max(70)).max(7).optional(),
  country,
});
export type GeographicAddress = z.infer<typeof geographicAddressSchema>;

export const nationalIdentificationSchema = z.strictObject({
  nationalIdentifier: text.max(35),
  nationalIdentifierType: nationalIdentifierTypeSchema,
  countryOfIssue: country.optional(),
  registrationAuthority: z.string().regex(/^RA[0-9]{6}$/).optional(),
});
export type NationalIdentification = z.infer<typeof nationalIdentificationSchema>;

export const naturalPersonSchema = z.strictObject({
  name: z.strictObject({
    nameIdentifier: z.array(z.strictObject({
      primaryIdentifier: text,
      secondaryIdentifier: text.optional(),
      nameIdentifierType: naturalPersonNameTypeSchema,
    })).min(1).max(5),
  }),
  geographicAddress: z.array(geographicAddressSchema).max(5).optional(),
  nationalIdentification: nationalIdentificationSchema.optional(),
  customerIdentification: text.max(50).optional(),
  dateAndPlaceOfBirth: z.strictObject({ dateOfBirth: isoDate, placeOfBirth: text }).optional(),
  countryOfResidence: country.optional(),
});
export type NaturalPerson = z.infer<typeof naturalPersonSchema>;

export const legalPersonSchema = z.strictObject({
  name: z.strictObject({
    nameIdentifier: z.array(z.strictObject({
      legalPersonName: text,
      legalPersonNameIdentifierType: legalPersonNameTypeSchema,
    })).min(1).max(5),
  }),
  geographicAddress: z.array(geographicAddressSchema).max(5).optional(),
  customerIdentification: text.max(50).optional(),
  nationalIdentification: nationalIdentificationSchema.optional(),
  countryOfRegistration: country.optional(),
});
export type LegalPerson = z.infer<typeof legalPersonSchema>;

/** A person is exactly one of natural or legal. */
export const personSchema = z.union([
  z.strictObject({ naturalPerson: naturalPersonSchema }),
  z.strictObject({ legalPerson: legalPersonSchema }),
]);
export type Person = z.infer<typeof personSchema>;

/** On a DLT "account" is the wallet address; we also send the internal account reference (TR-02). */
const accountNumbers = z.array(z.string().trim().min(1).max(TEXT_MAX)).max(5);

export const originatorSchema = z.strictObject({
  originatorPersons: z.array(personSchema).max(5),
  accountNumber: accountNumbers,
});
export type Originator = z.infer<typeof originatorSchema>;

export const beneficiarySchema = z.strictObject({
  beneficiaryPersons: z.array(personSchema).max(5),
  accountNumber: accountNumbers,
});
export type Beneficiary = z.infer<typeof beneficiarySchema>;

/** A VASP is a legal person; its LEI, when known, is a national identification of type LEIX. */
export const vaspSchema = z.strictObject({ legalPerson: legalPersonSchema });
export type Vasp = z.infer<typeof vaspSchema>;

export const ivms101Schema = z.strictObject({
  originator: originatorSchema,
  beneficiary: beneficiarySchema,
  originatingVASP: z.strictObject({ originatingVASP: vaspSchema }),
  beneficiaryVASP: z.strictObject({ beneficiaryVASP: vaspSchema }).optional(),
});
export type Ivms101 = z.infer<typeof ivms101Schema>;

/** ISO 17442 LEI: 18 alphanumerics and 2 check digits, ISO 7064 MOD 97-10 like an IBAN. */
export function isValidLei(lei: string): boolean {
  if (typeof lei !== 'string' || !/^[A-Z0-9]{18}[0-9]{2}$/.test(lei)) return false;
  let remainder = 0;
  for (const ch of lei) {
    const value = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}
