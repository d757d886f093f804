// Travel Rule data sets (TR-02, TR-03), originator from KYC only (TR-04) and the self-hosted proof
// threshold (DEP-05). The signing gate (WDR-05, TR-06) is tested on the running pipeline in
// signing-gate.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TRAVEL_RULE_THRESHOLD_USD_CENTS, buildBeneficiary, buildOriginator, buildTravelRulePayload, isValidLei, ownershipProofRequired,
  requiredDataSet, validateTravelRule, vaspPerson, type ClientKyc, type TravelRulePayload,
} from '../../src/travel-rule/index.ts';
import { loadStaticPrices } from '../../src/pricing/index.ts';
import path from 'node:path';

const WALLET = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';
const ACCOUNT = 'AMANAT-ACC-000123';
const BENEFICIARY_WALLET = 'bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3';
// GLEIF's own LEI (a real, check-digit-valid ISO 17442 code).
const LEI = '506700GE1G29325QX363';

const kyc: ClientKyc = {
  clientId: 'client-1',
  name: { primary: 'Nurlanov', secondary: 'Aigerim' },
  kycVerified: true,
  geographicAddress: { addressType: 'HOME', streetName: 'Mangilik El', buildingNumber: '55/20', townName: 'Astana', country: 'KZ' },
  nationalId: { nationalIdentifier: '900101400123', nationalIdentifierType: 'RAID', countryOfIssue: 'KZ' },
  customerId: 'CUST-000123',
  dateOfBirth: '1990-01-01',
  placeOfBirth: 'Almaty',
};

function payloadFor(client: ClientKyc, destinationType: 'vasp' | 'self_hosted' = 'vasp'): TravelRulePayload {
  return buildTravelRulePayload({
    originator: buildOriginator(client, WALLET, ACCOUNT),
    beneficiary: buildBeneficiary({ natural: { primary: 'Nurlanov', secondary: 'Aigerim' } }, BENEFICIARY_WALLET),
    beneficiaryWalletAddress: BENEFICIARY_WALLET,
    destinationType,
    originatingVasp: vaspPerson('Amanat Custody Ltd'),
    ...(destinationType === 'vasp' ? { beneficiaryVasp: vaspPerson('Global LEI Foundation', LEI) } : {}),
  });
}

/** A payload with the full set, then only the fields the test removes. */
function without(payload: TravelRulePayload, remove: (p: any) => void): unknown {
  const copy = structuredClone(payload) as any;
  remove(copy);
  return copy;
}

const originatorPerson = (p: any): any => p.ivms101.originator.originatorPersons[0].naturalPerson;

test('TR-02 the threshold is USD 1,000.00: 100,000 cents is full, 99,999 is reduced', () => {
  assert.equal(TRAVEL_RULE_THRESHOLD_USD_CENTS, 100_000n);
  assert.equal(requiredDataSet(100_000n), 'full');
  assert.equal(requiredDataSet(99_999n), 'reduced');
  assert.equal(requiredDataSet(0n), 'reduced');
  assert.throws(() => requiredDataSet(-1n));
});

test('TR-02 USD 999.999 of USDT (price rounded up) already needs the full data set', () => {
  const prices = loadStaticPrices(path.resolve(import.meta.dirname, '../../policies/prices.json'));
  assert.equal(requiredDataSet(prices.usdCents('USDT', 999_999_000n, 6)), 'full');
  assert.equal(requiredDataSet(prices.usdCents('USDT', 999_990_000n, 6)), 'reduced');
});

test('TR-02 at USD 1,000.00 a complete payload passes and carries both the wallet address and the internal account number', () => {
  const payload = payloadFor(kyc);
  assert.deepEqual(validateTravelRule(payload, 100_000n), { ok: true, tier: 'full' });
  assert.deepEqual(payload.ivms101.originator.accountNumber, [WALLET, ACCOUNT]);
});

test('TR-02 at USD 1,000.00 a missing identifier is TRAVEL_RULE_INCOMPLETE', () => {
  const noIdentifier = without(payloadFor(kyc), (p) => {
    const person = originatorPerson(p);
    delete person.geographicAddress;
    delete person.nationalIdentification;
    delete person.customerIdentification;
    delete person.dateAndPlaceOfBirth;
  });
  assert.deepEqual(validateTravelRule(noIdentifier, 100_000n), { ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier: 'full', missing: ['originator.identifier'] });
  // The same payload is fine below the threshold: the identifier is not part of the reduced set.
  assert.deepEqual(validateTravelRule(noIdentifier, 99_999n), { ok: true, tier: 'reduced' });
});

test('TR-02 each single identifier suffices; a date of birth without the place does not', () => {
  const strip = (p: any): any => {
    const person = originatorPerson(p);
    delete person.geographicAddress;
    delete person.nationalIdentification;
    delete person.customerIdentification;
    delete person.dateAndPlaceOfBirth;
    return person;
  };
  const base = payloadFor(kyc);
  const variants: [string, (person: any) => void][] = [
    ['address', (x) => { x.geographicAddress = [kyc.geographicAddress]; }],
    ['national id', (x) => { x.nationalIdentification = kyc.nationalId; }],
    ['customer id', (x) => { x.customerIdentification = kyc.customerId; }],
    ['date and place of birth', (x) => { x.dateAndPlaceOfBirth = { dateOfBirth: '1990-01-01', placeOfBirth: 'Almaty' }; }],
  ];
  for (const [name, add] of variants) {
    assert.equal(validateTravelRule(without(base, (p) => add(strip(p))), 100_000n).ok, true, name);
  }
  const dobOnly = without(base, (p) => { strip(p).dateAndPlaceOfBirth = { dateOfBirth: '1990-01-01' }; });
  assert.equal(validateTravelRule(dobOnly, 100_000n).ok, false);
});

test('TR-02 at USD 1,000.00 the internal account reference is required next to the wallet address', () => {
  const onlyWallet = without(payloadFor(kyc), (p) => { p.ivms101.originator.accountNumber = [WALLET]; });
  assert.deepEqual(validateTravelRule(onlyWallet, 100_000n), { ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier: 'full', missing: ['originator.accountNumber.accountReference'] });
  assert.deepEqual(validateTravelRule(onlyWallet, 99_999n), { ok: true, tier: 'reduced' });
});

test('TR-03 at USD 999.99 the four names and accounts suffice', () => {
  const reduced = without(payloadFor(kyc), (p) => {
    const person = originatorPerson(p);
    delete person.geographicAddress;
    delete person.nationalIdentification;
    delete person.customerIdentification;
    delete person.dateAndPlaceOfBirth;
    p.ivms101.originator.accountNumber = [WALLET];
  });
  assert.deepEqual(validateTravelRule(reduced, 99_999n), { ok: true, tier: 'reduced' });
});

test('TR-03 at USD 999.99 a missing beneficiary name is rejected', () => {
  const noName = without(payloadFor(kyc), (p) => { p.ivms101.beneficiary.beneficiaryPersons = []; });
  assert.deepEqual(validateTravelRule(noName, 99_999n), { ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier: 'reduced', missing: ['beneficiary.name'] });
  const aliasOnly = without(payloadFor(kyc), (p) => { p.ivms101.beneficiary.beneficiaryPersons[0].naturalPerson.name.nameIdentifier[0].nameIdentifierType = 'ALIA'; });
  assert.deepEqual(validateTravelRule(aliasOnly, 99_999n), { ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier: 'reduced', missing: ['beneficiary.name'] });
});

test('TR-03 at USD 999.99 every missing name and account is listed, not just the first', () => {
  const empty = without(payloadFor(kyc), (p) => {
    p.ivms101.originator.originatorPersons = [];
    p.ivms101.originator.accountNumber = [];
    p.ivms101.beneficiary.beneficiaryPersons = [];
    p.ivms101.beneficiary.accountNumber = ['some-other-address'];
  });
  assert.deepEqual(validateTravelRule(empty, 99_999n), {
    ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier: 'reduced',
    missing: ['originator.name', 'originator.accountNumber.walletAddress', 'beneficiary.name', 'beneficiary.accountNumber.walletAddress'],
  });
  // Below the threshold a unique reference may stand in for the originator's wallet address.
  const referenceOnly = without(payloadFor(kyc), (p) => { p.ivms101.originator.accountNumber = [ACCOUNT]; });
  assert.equal(validateTravelRule(referenceOnly, 99_999n).ok, true);
  assert.equal(validateTravelRule(referenceOnly, 100_000n).ok, false);
});

test('TR-04 a client whose KYC is unverified cannot send USD 1,000.00 (ORIGINATOR_NOT_VERIFIED), but can send USD 999.99', () => {
  const payload = payloadFor({ ...kyc, kycVerified: false });
  assert.deepEqual(validateTravelRule(payload, 100_000n), { ok: false, code: 'ORIGINATOR_NOT_VERIFIED', tier: 'full', missing: [] });
  assert.deepEqual(validateTravelRule(payload, 99_999n), { ok: true, tier: 'reduced' });
});

test('TR-04 the originator fields equal the KYC record and carry its verification status', () => {
  const built = buildOriginator(kyc, WALLET, ACCOUNT);
  assert.deepEqual(built.originator, {
    originatorPersons: [{
      naturalPerson: {
        name: { nameIdentifier: [{ primaryIdentifier: 'Nurlanov', secondaryIdentifier: 'Aigerim', nameIdentifierType: 'LEGL' }] },
        geographicAddress: [kyc.geographicAddress],
        nationalIdentification: kyc.nationalId,
        customerIdentification: 'CUST-000123',
        dateAndPlaceOfBirth: { dateOfBirth: '1990-01-01', placeOfBirth: 'Almaty' },
      },
    }],
    accountNumber: [WALLET, ACCOUNT],
  });
  assert.deepEqual(built.verification, { clientId: 'client-1', kycVerified: true, source: 'kyc_record' });
  assert.equal(buildOriginator.length, 3, 'no fourth parameter for overrides');
  assert.throws(() => { (built.originator.originatorPersons as any[])[0].naturalPerson.customerIdentification = 'free text'; }, TypeError, 'the built originator is frozen');
  const payload = payloadFor(kyc);
  assert.deepEqual(payload.ivms101.originator, built.originator);
  assert.deepEqual(payload.originatorVerification, built.verification);
});

test('TR-04 a payload edited after building is refused when it no longer matches its accounts', () => {
  const swapped = without(payloadFor(kyc), (p) => { p.ivms101.originator.accountNumber = ['bc1qsomeoneelse', ACCOUNT]; });
  assert.deepEqual(validateTravelRule(swapped, 100_000n), { ok: false, code: 'TRAVEL_RULE_INCOMPLETE', tier: 'full', missing: ['originator.accountNumber.walletAddress'] });
});

test('TR-02 a structurally invalid payload is TRAVEL_RULE_INVALID with the paths', () => {
  const bad = without(payloadFor(kyc), (p) => { originatorPerson(p).dateAndPlaceOfBirth.dateOfBirth = '01/01/1990'; p.extra = 1; });
  const result = validateTravelRule(bad, 100_000n);
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.code === 'TRAVEL_RULE_INVALID');
  assert.ok(result.code === 'TRAVEL_RULE_INVALID' && result.issues.some((i) => i.includes('dateOfBirth')), JSON.stringify(result));
  assert.equal(validateTravelRule(null, 1n).ok, false);
});

test('TR-02 VASPs are legal persons; an LEI must have valid ISO 17442 check digits', () => {
  assert.equal(isValidLei(LEI), true);
  assert.equal(isValidLei('506700GE1G29325QX364'), false);
  assert.throws(() => vaspPerson('Bad LEI Ltd', '506700GE1G29325QX364'));
  assert.deepEqual(vaspPerson('Global LEI Foundation', LEI).legalPerson.nationalIdentification, { nationalIdentifier: LEI, nationalIdentifierType: 'LEIX' });
  const legal = buildBeneficiary({ legal: 'Example Trading LLP' }, BENEFICIARY_WALLET);
  assert.equal(validateTravelRule({ ...payloadFor(kyc), ivms101: { ...payloadFor(kyc).ivms101, beneficiary: legal } }, 100_000n).ok, true);
});

test('DEP-05 a self-hosted destination needs an ownership proof from USD 1,000.00; a VASP destination never does', () => {
  assert.equal(ownershipProofRequired('self_hosted', 100_000n), true);
  assert.equal(ownershipProofRequired('self_hosted', 99_999n), false);
  assert.equal(ownershipProofRequired('vasp', 100_000_000n), false);
  assert.equal(validateTravelRule(payloadFor(kyc, 'self_hosted'), 100_000n).ok, true, 'no beneficiary VASP for self-hosted');
});
