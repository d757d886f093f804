// The development screening provider: answers from two versioned data files in policies/, the
// screening list (sanctioned addresses with their list, mixer / privacy-device tagged addresses,
// risk scores) and the VASP directory (addresses and address prefixes of known VASPs). Both are
// validated at load (a bad file stops the start, naming it), frozen, and their SHA-256 content
// hashes go into every result. It is a stand-in for a blockchain-analytics vendor (see
// screening-provider.ts): its data is examples, not a sanctions list.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DomainError } from '../platform/errors.ts';
import { isChainError } from '../chains/errors.ts';
import {
  normalizeScreeningAddress, type DestinationClassification, type ScreeningChain, type ScreeningProvider, type ScreeningResult,
} from './screening-provider.ts';

export const SCREENING_FILE_BYTES_MAX = 32 * 1024 * 1024;
export const SCREENING_ENTRIES_MAX = 200_000;
export const VASP_DIRECTORY_VASPS_MAX = 10_000;
export const VASP_PREFIXES_MAX = 10_000;
/** Shorter prefixes would match whole address types (`bc1q`, `0x`): refused. */
export const VASP_PREFIX_LENGTH_MIN = 10;

const chain = z.enum(['bitcoin', 'ethereum']);
const tag = z.string().regex(/^[a-z0-9][a-z0-9_.:-]{0,63}$/, 'lower-case tag of 1..64 characters');
const riskScore = z.number().int().min(0).max(100);
const label = z.string().min(1).max(200).refine((v) => ![...v].some((ch) => ch.charCodeAt(0) < 0x20), 'no control characters');

const screeningListSchema = z.strictObject({
  kind: z.literal('screening-list'),
  version: z.string().min(1).max(64),
  description: z.string().max(2000).optional(),
  /** Risk score of an address the list does not name, by classification. */
  defaults: z.strictObject({ riskScore: z.strictObject({ vasp: riskScore, self_hosted: riskScore, unknown: riskScore }) }),
  entries: z.array(z.strictObject({
    chain,
    address: z.string().min(1).max(128),
    /** The sanctions list (and designation) naming the address: present = sanctioned. */
    sanctionsList: label.optional(),
    privacyDevice: z.boolean().default(false),
    /** What analytics knows of the owner; `vasp` only ever comes from the VASP directory. */
    classification: z.enum(['self_hosted', 'unknown']).optional(),
    riskScore,
    tags: z.array(tag).max(32).default([]),
    note: z.string().max(500).optional(),
  })).max(SCREENING_ENTRIES_MAX),
});

const vaspDirectorySchema = z.strictObject({
  kind: z.literal('vasp-directory'),
  version: z.string().min(1).max(64),
  description: z.string().max(2000).optional(),
  vasps: z.array(z.strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/),
    name: label,
    lei: z.string().regex(/^[A-Z0-9]{20}$/).optional(),
    addresses: z.array(z.strictObject({ chain, address: z.string().min(1).max(128) })).max(SCREENING_ENTRIES_MAX).default([]),
    prefixes: z.array(z.strictObject({ chain, prefix: z.string().min(VASP_PREFIX_LENGTH_MIN).max(128) })).max(VASP_PREFIXES_MAX).default([]),
  })).max(VASP_DIRECTORY_VASPS_MAX),
});

type ListEntry = z.infer<typeof screeningListSchema>['entries'][number];
interface Vasp { id: string; name: string }

function readData(file: string, what: string): { bytes: Buffer; json: unknown; hash: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new DomainError('CONFIG_INVALID', `${what} ${file} cannot be read: ${(cause as Error).message}`, { path: file });
  }
  if (bytes.byteLength > SCREENING_FILE_BYTES_MAX) throw new DomainError('CONFIG_INVALID', `${what} ${file} is larger than ${SCREENING_FILE_BYTES_MAX} bytes`, { path: file });
  try {
    return { bytes, json: JSON.parse(bytes.toString('utf8')), hash: createHash('sha256').update(bytes).digest('hex') };
  } catch (cause) {
    throw new DomainError('CONFIG_INVALID', `${what} ${file} is not valid JSON: ${(cause as Error).message}`, { path: file });
  }
}

function parseWith<T>(schema: z.ZodType<T>, json: unknown, what: string, file: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new DomainError('CONFIG_INVALID', `${what} ${file} is invalid:\n${z.prettifyError(parsed.error)}`, { path: file });
  return parsed.data;
}

function normalized(c: ScreeningChain, address: string, where: string, file: string): string {
  try {
    return normalizeScreeningAddress(c, address);
  } catch (error) {
    if (isChainError(error)) throw new DomainError('CONFIG_INVALID', `${file}: ${where}: ${error.message}`, { path: file });
    throw error;
  }
}

/** Prefixes compare like addresses: lower case for hex and bech32, Base58 as written. */
function normalizedPrefix(c: ScreeningChain, prefix: string): string {
  if (c === 'ethereum' || /^[a-zA-Z]{1,83}1/.test(prefix)) return prefix.toLowerCase();
  return prefix;
}

export class ListScreeningProvider implements ScreeningProvider {
  readonly source = 'amanat-development-lists';
  private readonly entries = new Map<string, ListEntry>();
  private readonly vaspByAddress = new Map<string, Vasp>();
  private readonly vaspPrefixes: { chain: ScreeningChain; prefix: string; vasp: Vasp }[] = [];
  private readonly defaults: Record<DestinationClassification, number>;
  readonly listVersion: string;
  readonly listHashes: Readonly<Record<string, string>>;

  constructor(files: { screeningListFile: string; vaspDirectoryFile: string }) {
    const listFile = readData(files.screeningListFile, 'screening list');
    const directoryFile = readData(files.vaspDirectoryFile, 'VASP directory');
    const list = parseWith(screeningListSchema, listFile.json, 'screening list', files.screeningListFile);
    const directory = parseWith(vaspDirectorySchema, directoryFile.json, 'VASP directory', files.vaspDirectoryFile);
    list.entries.forEach((entry, i) => {
      const key = `${entry.chain}:${normalized(entry.chain, entry.address, `entries[${i}]`, files.screeningListFile)}`;
      if (this.entries.has(key)) throw new DomainError('CONFIG_INVALID', `${files.screeningListFile}: entries[${i}]: ${entry.address} is listed twice`, { path: files.screeningListFile });
      this.entries.set(key, Object.freeze({ ...entry, tags: [...entry.tags] }));
    });
    const ids = new Set<string>();
    for (const v of directory.vasps) {
      if (ids.has(v.id)) throw new DomainError('CONFIG_INVALID', `${files.vaspDirectoryFile}: VASP id ${v.id} is listed twice`, { path: files.vaspDirectoryFile });
      ids.add(v.id);
      const vasp = Object.freeze({ id: v.id, name: v.name });
      v.addresses.forEach((a, i) => {
        const key = `${a.chain}:${normalized(a.chain, a.address, `${v.id}.addresses[${i}]`, files.vaspDirectoryFile)}`;
        const other = this.vaspByAddress.get(key);
        if (other) throw new DomainError('CONFIG_INVALID', `${files.vaspDirectoryFile}: ${a.address} belongs to both ${other.id} and ${v.id}`, { path: files.vaspDirectoryFile });
        this.vaspByAddress.set(key, vasp);
      });
      for (const p of v.prefixes) this.vaspPrefixes.push({ chain: p.chain, prefix: normalizedPrefix(p.chain, p.prefix), vasp });
    }
    if (this.vaspPrefixes.length > VASP_PREFIXES_MAX) throw new DomainError('CONFIG_INVALID', `${files.vaspDirectoryFile}: more than ${VASP_PREFIXES_MAX} prefixes`, { path: files.vaspDirectoryFile });
    this.defaults = { ...list.defaults.riskScore };
    this.listVersion = `screening-list ${list.version}; vasp-directory ${directory.version}`;
    this.listHashes = Object.freeze({ 'screening-list': listFile.hash, 'vasp-directory': directoryFile.hash });
  }

  private vaspFor(c: ScreeningChain, address: string): Vasp | undefined {
    const exact = this.vaspByAddress.get(`${c}:${address}`);
    if (exact) return exact;
    // The longest matching prefix wins, so a narrower claim overrides a broader one.
    let best: { prefix: string; vasp: Vasp } | undefined;
    for (const p of this.vaspPrefixes) {
      if (p.chain === c && address.startsWith(p.prefix) && (!best || p.prefix.length > best.prefix.length)) best = p;
    }
    return best?.vasp;
  }

  // async: a malformed address is a rejected promise, as a vendor's answer would be.
  async screen(c: ScreeningChain, rawAddress: string): Promise<ScreeningResult> {
    const address = normalizeScreeningAddress(c, rawAddress);
    const entry = this.entries.get(`${c}:${address}`);
    const vasp = this.vaspFor(c, address);
    const classification: DestinationClassification = vasp ? 'vasp' : entry?.classification ?? 'unknown';
    return {
      chain: c, address, classification, ...(vasp ? { vasp: { id: vasp.id, name: vasp.name } } : {}),
      sanctioned: entry?.sanctionsList !== undefined, ...(entry?.sanctionsList ? { sanctionsList: entry.sanctionsList } : {}),
      privacyDevice: entry?.privacyDevice ?? false,
      riskScore: entry?.riskScore ?? this.defaults[classification],
      tags: entry ? [...entry.tags] : [],
      source: this.source, listVersion: this.listVersion, listHashes: { ...this.listHashes }, screenedAt: new Date().toISOString(),
    };
  }
}
