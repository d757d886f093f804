// Travel Rule: IVMS101 data, thresholds and validation, ownership proofs for self-hosted
// destinations, PII encryption at rest, and the outgoing exchange's states. Other contexts import
// from here.
export {
  ivms101Schema, originatorSchema, beneficiarySchema, personSchema, naturalPersonSchema, legalPersonSchema, vaspSchema,
  geographicAddressSchema, nationalIdentificationSchema, isValidLei,
  type Ivms101, type Originator, type Beneficiary, type Person, type NaturalPerson, type LegalPerson, type Vasp,
  type GeographicAddress, type NationalIdentification,
} from './ivms101.ts';
export {
  TRAVEL_RULE_THRESHOLD_USD_CENTS, requiredDataSet, ownershipProofRequired, buildOriginator, buildBeneficiary, vaspPerson,
  buildTravelRulePayload, validateTravelRule, travelRulePayloadSchema,
  type DataSetTier, type TravelRuleDestinationType, type ClientKyc, type OriginatorVerification, type BuiltOriginator,
  type BeneficiaryName, type TravelRulePayload, type BuildPayloadInput, type TravelRuleValidation,
} from './travel-rule-data.ts';
export {
  ownershipChallenge, verifyOwnershipProof, verifyBitcoinSignedMessage, verifyEthereumSignedMessage, bitcoinMessageHash,
  OWNERSHIP_NONCE_PATTERN, OWNERSHIP_MESSAGE_BYTES_MAX,
  type OwnershipProofInput, type OwnershipProofResult, type OwnershipProofMethod, type OwnershipProofReason, type BitcoinMessageAddressType,
} from './ownership-proof.ts';
export {
  encryptJson, decryptJson, loadKeyring, keyringFromHex, PiiCryptoError, PII_ENVELOPE_VERSION, PII_KEYRING_KEYS_MAX, PII_PLAINTEXT_BYTES_MAX,
  type Keyring, type PiiEnvelope,
} from './pii-crypto.ts';
export { TRAVEL_RULE_STATUSES, type TravelRuleStatus } from './travel-rule-status.ts';
