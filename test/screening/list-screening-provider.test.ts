// WDR-04 the development screening provider over its versioned data files: classification through
// the VASP directory, sanctions and privacy-device matches, risk scores, normalised address
// comparison, content hashes, and data files that are refused at load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../../src/platform/config.ts';
import { DomainError } from '../../src/platform/errors.ts';
import { ChainError } from '../../src/chains/errors.ts';
import { createDestinationScreening, ListScreeningProvider, normalizeScreeningAddress } from '../../src/screening/index.ts';
import { tempDir } from '../../signer/test/helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');
const shippedList = path.join(root, 'policies/screening-list.json');
const shippedDirectory = path.join(root, 'policies/vasp-directory.json');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

// Addresses from the shipped development files (policies/*.json).
const SANCTIONED_BTC = 'rb1qyvchnyzjtkj54tjsq6ygkgs04sv57ldktmk3aj';
const SANCTIONED_ETH = '0x2B253271d3045D9d3995A1D9E82E43D04175eFE5';
const MIXER_BTC = 'rb1quul9zve5z39du0pvnww9ye82uedj2lvuzzevmt';
const VASP_ETH = '0x5227B17F828b63023A7C6823cc0689AA77F2E725';
const CLEAN_BTC = 'rb1qde0rt9s8y7z5y55hkn5hqp6ute2kqpxe660h67';

const shipped = () => new ListScreeningProvider({ screeningListFile: shippedList, vaspDirectoryFile: shippedDirectory });

function files(list: unknown, directory: unknown = { kind: 'vasp-directory', version: 't1', vasps: [] }): { screeningListFile: string; vaspDirectoryFile: string } {
  const dir = tempDir('screening-unit');
  const screeningListFile = path.join(dir, 'screening-list.json');
  const vaspDirectoryFile = path.join(dir, 'vasp-directory.json');
  writeFileSync(screeningListFile, typeof list === 'string' ? list : JSON.stringify(list));
  writeFileSync(vaspDirectoryFile, JSON.stringify(directory));
  return { screeningListFile, vaspDirectoryFile };
}
const list = (entries: unknown[]) => ({ kind: 'screening-list', version: 't1', defaults: { riskScore: { vasp: 10, self_hosted: 20, unknown: 25 } }, entries });

test('WDR-04 the shipped development lists load; every result carries the provider, the list versions and each file\'s content hash', async () => {
  const r = await shipped().screen('bitcoin', CLEAN_BTC);
  assert.deepEqual({ classification: r.classification, sanctioned: r.sanctioned, privacyDevice: r.privacyDevice, riskScore: r.riskScore, tags: r.tags },
    { classification: 'unknown', sanctioned: false, privacyDevice: false, riskScore: 25, tags: [] }, 'an unlisted address gets the default score of its classification');
  assert.equal(r.source, 'amanat-development-lists');
  assert.equal(r.listVersion, 'screening-list 2026-12-dev.1; vasp-directory 2026-12-dev.1');
  assert.deepEqual(r.listHashes, { 'screening-list': sha256(shippedList), 'vasp-directory': sha256(shippedDirectory) });
  assert.ok(!Number.isNaN(Date.parse(r.screenedAt)));
});

test('WDR-04 a sanctioned address matches however it is written: bech32 in upper case, Ethereum in lower case or EIP-55', async () => {
  const p = shipped();
  for (const [c, address] of [['bitcoin', SANCTIONED_BTC], ['bitcoin', SANCTIONED_BTC.toUpperCase()], ['ethereum', SANCTIONED_ETH],
    ['ethereum', SANCTIONED_ETH.toLowerCase()], ['ethereum', `0x${SANCTIONED_ETH.slice(2).toUpperCase()}`]] as const) {
    const r = await p.screen(c, address);
    assert.equal(r.sanctioned, true, `${c} ${address}`);
    assert.match(r.sanctionsList!, /DEV-SANCTIONS-LIST/);
    assert.equal(r.riskScore, 100);
    assert.equal(r.address, c === 'bitcoin' ? SANCTIONED_BTC : SANCTIONED_ETH.toLowerCase(), 'compared in normal form');
  }
  assert.equal((await p.screen('bitcoin', MIXER_BTC)).privacyDevice, true);
  assert.deepEqual((await p.screen('bitcoin', MIXER_BTC)).tags, ['mixer']);
});

test('WDR-04 addresses that are not addresses are refused, not screened clean: a bad EIP-55 checksum, mixed-case bech32', async () => {
  const p = shipped();
  // The sanctioned address with one letter of its EIP-55 checksum lowered.
  await assert.rejects(p.screen('ethereum', '0x2B253271d3045D9d3995A1D9E82E43D04175efE5'), (e: ChainError) => e.code === 'ADDRESS_INVALID');
  assert.throws(() => normalizeScreeningAddress('bitcoin', `${SANCTIONED_BTC.slice(0, -1)}k`), (e: ChainError) => e.code === 'ADDRESS_INVALID', 'a bech32 checksum error');
  assert.throws(() => normalizeScreeningAddress('bitcoin', 'rb1qYvchnyzjtkj54tjsq6ygkgs04sv57ldktmk3aj'), (e: ChainError) => e.code === 'ADDRESS_INVALID');
  assert.throws(() => normalizeScreeningAddress('bitcoin', 'not an address'), (e: ChainError) => e.code === 'ADDRESS_INVALID');
  assert.equal(normalizeScreeningAddress('bitcoin', '1BoatSLRHtKNngkdXEeobR76b53LETtpyT'), '1BoatSLRHtKNngkdXEeobR76b53LETtpyT', 'Base58 is case-sensitive: as written');
});

test('WDR-04 the VASP directory classifies a destination: by exact address, else by the longest prefix; only the directory says vasp', async () => {
  const vasp = await shipped().screen('ethereum', VASP_ETH.toLowerCase());
  assert.equal(vasp.classification, 'vasp');
  assert.deepEqual(vasp.vasp, { id: 'dev-vasp-1', name: 'Example Counterparty Exchange (development)' });
  assert.equal(vasp.riskScore, 10);
  const p = new ListScreeningProvider(files(list([{ chain: 'bitcoin', address: CLEAN_BTC, classification: 'self_hosted', riskScore: 3 }]), {
    kind: 'vasp-directory', version: 't1', vasps: [
      { id: 'broad', name: 'Broad VASP', prefixes: [{ chain: 'ethereum', prefix: '0xAbCdEf0000' }] },
      { id: 'narrow', name: 'Narrow VASP', prefixes: [{ chain: 'ethereum', prefix: '0xabcdef000011' }] },
    ] }));
  assert.equal((await p.screen('ethereum', '0xabcdef0000999999999999999999999999999999')).vasp?.id, 'broad', 'prefixes compare in lower case');
  assert.equal((await p.screen('ethereum', '0xabcdef0000119999999999999999999999999999')).vasp?.id, 'narrow', 'the longest prefix wins');
  assert.equal((await p.screen('ethereum', '0xabcdef0100119999999999999999999999999999')).classification, 'unknown');
  const own = await p.screen('bitcoin', CLEAN_BTC);
  assert.deepEqual([own.classification, own.riskScore], ['self_hosted', 3], 'the list may say self_hosted');
});

test('WDR-04 bad data files stop the start naming the file: bad JSON, unknown fields, scores out of range or not integers, duplicates, short prefixes, an address claimed by two VASPs', () => {
  const entry = { chain: 'bitcoin', address: CLEAN_BTC, riskScore: 50 };
  const bad: [string, ReturnType<typeof files>][] = [
    ['json', files('{ not json')],
    ['unknown field', files(list([{ ...entry, sanctioned: true }]))],
    ['score above 100', files(list([{ ...entry, riskScore: 101 }]))],
    ['float score', files(list([{ ...entry, riskScore: 50.5 }]))],
    ['vasp from the list', files(list([{ ...entry, classification: 'vasp' }]))],
    ['duplicate (other case)', files(list([entry, { ...entry, address: CLEAN_BTC.toUpperCase() }]))],
    ['not an address', files(list([{ ...entry, address: 'rb1qnotanaddress!' }]))],
    ['bad EIP-55', files(list([{ chain: 'ethereum', address: '0x2B253271d3045D9d3995A1D9E82E43D04175efE5', riskScore: 1 }]))],
    ['short prefix', files(list([]), { kind: 'vasp-directory', version: 't', vasps: [{ id: 'v', name: 'V', prefixes: [{ chain: 'bitcoin', prefix: 'rb1q' }] }] })],
    ['two VASPs', files(list([]), { kind: 'vasp-directory', version: 't', vasps: [
      { id: 'a', name: 'A', addresses: [{ chain: 'bitcoin', address: CLEAN_BTC }] }, { id: 'b', name: 'B', addresses: [{ chain: 'bitcoin', address: CLEAN_BTC }] }] })],
    ['wrong kind', files({ ...list([]), kind: 'vasp-directory' })],
  ];
  for (const [why, f] of bad) {
    assert.throws(() => new ListScreeningProvider(f), (e: DomainError) => e.code === 'CONFIG_INVALID'
      && (e.message.includes(f.screeningListFile) || e.message.includes(f.vaspDirectoryFile)), why);
  }
  assert.throws(() => new ListScreeningProvider({ screeningListFile: '/nonexistent/list.json', vaspDirectoryFile: shippedDirectory }),
    (e: DomainError) => e.code === 'CONFIG_INVALID' && e.message.includes('/nonexistent/list.json'));
});

test('WDR-04 config: SCREENING_LIST_FILE, VASP_DIRECTORY_FILE and SCREENING_HIGH_RISK_SCORE (default 70) choose the screening', async () => {
  const c = loadConfig({});
  assert.deepEqual(c.screening, { listFile: 'policies/screening-list.json', vaspDirectoryFile: 'policies/vasp-directory.json', highRiskScore: 70 });
  assert.throws(() => loadConfig({ SCREENING_HIGH_RISK_SCORE: '0' }), (e: DomainError) => e.code === 'CONFIG_INVALID' && e.message.includes('screening.highRiskScore'));
  assert.throws(() => loadConfig({ SCREENING_HIGH_RISK_SCORE: '70.5' }), (e: DomainError) => e.message.includes('screening.highRiskScore'));
  const f = files(list([{ chain: 'bitcoin', address: CLEAN_BTC, riskScore: 40 }]));
  const screening = createDestinationScreening(loadConfig({ SCREENING_LIST_FILE: f.screeningListFile, VASP_DIRECTORY_FILE: f.vaspDirectoryFile, SCREENING_HIGH_RISK_SCORE: '40' }));
  assert.equal((await screening.screen('bitcoin', CLEAN_BTC, 'self_hosted')).record.outcome, 'high_risk', 'at the threshold is high risk');
  assert.throws(() => createDestinationScreening(loadConfig({ SCREENING_LIST_FILE: '/nonexistent/x.json' })), (e: DomainError) => e.code === 'CONFIG_INVALID');
});
