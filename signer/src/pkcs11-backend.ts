// PKCS#11 key backend. Keys are secp256k1 pairs generated inside the token: private parts are
// sensitive and (unless created under the backup ceremony) non-extractable. The tier of a key is
// the token it lives in. Traps handled here (see COMPONENTS.md §1): CKF_OS_LOCKING_OK is required
// for parallel C_SignAsync, pkcs11js must be default-imported under ESM, CKM_ECDSA signs a digest.
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Template } from 'pkcs11js';
import { readSecretFile, type Pkcs11Config } from './config.ts';
import { SignerError } from './errors.ts';
import type { BackendKey, KeyBackend, Location, Tier } from './key-backend.ts';
import { normaliseLowS, verifyLowS } from './ecdsa.ts';
import { Pool } from './session-pool.ts';

const P = pkcs11js;
const SECP256K1_OID = Buffer.from('06052b8104000a', 'hex');
const MAX_OBJECTS_PER_TOKEN = 100_000;
const FIND_BATCH = 256;

interface TokenState {
  location: Location;
  slot: Handle;
  sessions: Pool<Handle>;
  allSessions: Handle[];
}

function attrBool(value: unknown): boolean {
  return Buffer.isBuffer(value) ? value.length > 0 && value[0] !== 0 : value === true;
}

/** CKA_EC_POINT is a DER OCTET STRING wrapping the 65-byte point. */
function decodeEcPoint(value: Buffer): Uint8Array {
  if (value.length === 67 && value[0] === 0x04 && value[1] === 0x41 && value[2] === 0x04) return new Uint8Array(value.subarray(2));
  if (value.length === 65 && value[0] === 0x04) return new Uint8Array(value);
  throw new Error(`unexpected CKA_EC_POINT encoding (${value.length} bytes)`);
}

function hsmError(error: unknown, action: string): SignerError {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('CKR_KEY_UNEXTRACTABLE')) {
    return new SignerError('KEY_NOT_EXTRACTABLE', `the HSM refused to ${action}: the key is not extractable (CKR_KEY_UNEXTRACTABLE)`);
  }
  return new SignerError('HSM_ERROR', `the HSM failed to ${action}: ${message.split('\n')[0] ?? ''}`);
}

export class Pkcs11Backend implements KeyBackend {
  readonly kind = 'pkcs11' as const;
  readonly description: string;
  private readonly module: pkcs11js.PKCS11;
  private readonly tokens = new Map<Location, TokenState>();
  /** Cached private-key handles: a find per signature would halve throughput. */
  private readonly handles = new Map<string, { location: Location; handle: Handle }>();

  private constructor(private readonly config: Pkcs11Config) {
    this.description = `pkcs11 module ${config.modulePath}`;
    if (config.softhsm2Conf) process.env.SOFTHSM2_CONF = config.softhsm2Conf;
    this.module = new P.PKCS11();
    this.module.load(config.modulePath);
    this.module.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  }

  static async open(config: Pkcs11Config): Promise<Pkcs11Backend> {
    const backend = new Pkcs11Backend(config);
    try {
      const slots = backend.module.C_GetSlotList(true);
      const labelOf = (slot: Handle): string => backend.module.C_GetTokenInfo(slot).label.trim();
      const wanted: [Location, { label: string; pinFile: string } | undefined][] = [
        ['hot', config.tokens.hot], ['cold', config.tokens.cold], ['backup', config.tokens.backup],
      ];
      const labels = new Set<string>();
      for (const [location, token] of wanted) {
        if (!token) continue;
        if (labels.has(token.label)) throw new Error(`token label ${token.label} is used for two tiers; hot and cold must be separate tokens`);
        labels.add(token.label);
        const slot = slots.find((candidate) => labelOf(candidate) === token.label);
        if (!slot) throw new Error(`PKCS#11 token "${token.label}" (${location}) not found; present: ${slots.map(labelOf).join(', ')}`);
        const count = location === 'backup' ? 1 : config.sessionsPerToken;
        const sessions: Handle[] = [];
        for (let i = 0; i < count; i += 1) sessions.push(backend.module.C_OpenSession(slot, P.CKF_RW_SESSION | P.CKF_SERIAL_SESSION));
        const [first] = sessions;
        if (first === undefined) throw new Error('no session opened');
        try {
          backend.module.C_Login(first, P.CKU_USER, readSecretFile(token.pinFile));
        } catch (error) {
          if (!(error instanceof Error && error.message.includes('CKR_USER_ALREADY_LOGGED_IN'))) throw error;
        }
        backend.tokens.set(location, { location, slot, sessions: new Pool(sessions), allSessions: sessions });
      }
      await backend.enumerateKeys();
      return backend;
    } catch (error) {
      await backend.close();
      throw error;
    }
  }

  private token(location: Location): TokenState {
    const token = this.tokens.get(location);
    if (!token) throw new SignerError('BACKUP_NOT_CONFIGURED', `no ${location} token is configured`);
    return token;
  }

  async createKey(options: { label: string; tier: Tier; backup: boolean }): Promise<BackendKey> {
    const token = this.token(options.tier);
    const id = randomBytes(16);
    return token.sessions.use(async (session) => {
      const keys = await this.module.C_GenerateKeyPairAsync(session, { mechanism: P.CKM_EC_KEY_PAIR_GEN },
        [
          { type: P.CKA_KEY_TYPE, value: P.CKK_EC }, { type: P.CKA_EC_PARAMS, value: SECP256K1_OID },
          { type: P.CKA_TOKEN, value: true }, { type: P.CKA_VERIFY, value: true },
          { type: P.CKA_ID, value: id }, { type: P.CKA_LABEL, value: options.label },
        ],
        [
          { type: P.CKA_KEY_TYPE, value: P.CKK_EC }, { type: P.CKA_TOKEN, value: true }, { type: P.CKA_PRIVATE, value: true },
          { type: P.CKA_SENSITIVE, value: true },
          // Only keys made under the backup ceremony may ever leave the token, and only wrapped.
          { type: P.CKA_EXTRACTABLE, value: options.backup },
          { type: P.CKA_SIGN, value: true }, { type: P.CKA_DERIVE, value: false },
          { type: P.CKA_ID, value: id }, { type: P.CKA_LABEL, value: options.label },
        ]).catch((error: unknown) => { throw hsmError(error, 'generate a key pair'); });
      const point = this.module.C_GetAttributeValue(session, keys.publicKey, [{ type: P.CKA_EC_POINT }])[0]?.value;
      if (!Buffer.isBuffer(point)) throw new SignerError('HSM_ERROR', 'public key has no CKA_EC_POINT');
      const keyId = id.toString('hex');
      this.handles.set(keyId, { location: options.tier, handle: keys.privateKey });
      return { id: keyId, label: options.label, location: options.tier, publicKey: decodeEcPoint(point), extractable: options.backup, sensitive: true };
    });
  }

  async enumerateKeys(): Promise<BackendKey[]> {
    const result: BackendKey[] = [];
    for (const token of this.tokens.values()) {
      const found = await token.sessions.use((session) => this.enumerateToken(session, token.location));
      result.push(...found);
    }
    return result;
  }

  private findAll(session: Handle, template: Template): Handle[] {
    const handles: Handle[] = [];
    this.module.C_FindObjectsInit(session, template);
    try {
      for (let round = 0; round * FIND_BATCH < MAX_OBJECTS_PER_TOKEN; round += 1) {
        const batch = this.module.C_FindObjects(session, FIND_BATCH);
        handles.push(...batch);
        if (batch.length < FIND_BATCH) return handles;
      }
      throw new Error(`more than ${MAX_OBJECTS_PER_TOKEN} objects in one token`);
    } finally {
      this.module.C_FindObjectsFinal(session);
    }
  }

  private enumerateToken(session: Handle, location: Location): BackendKey[] {
    const keys: BackendKey[] = [];
    const privates = this.findAll(session, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }, { type: P.CKA_KEY_TYPE, value: P.CKK_EC }]);
    for (const handle of privates) {
      const [idAttr, labelAttr, extractableAttr, sensitiveAttr, paramsAttr] = this.module.C_GetAttributeValue(session, handle, [
        { type: P.CKA_ID }, { type: P.CKA_LABEL }, { type: P.CKA_EXTRACTABLE }, { type: P.CKA_SENSITIVE }, { type: P.CKA_EC_PARAMS },
      ]);
      const id = Buffer.isBuffer(idAttr?.value) ? idAttr.value.toString('hex') : '';
      if (!id || !Buffer.isBuffer(paramsAttr?.value) || !paramsAttr.value.equals(SECP256K1_OID)) continue;
      const [publicHandle] = this.findAll(session, [{ type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY }, { type: P.CKA_ID, value: Buffer.from(id, 'hex') }]);
      if (publicHandle === undefined) continue;
      const point = this.module.C_GetAttributeValue(session, publicHandle, [{ type: P.CKA_EC_POINT }])[0]?.value;
      if (!Buffer.isBuffer(point)) continue;
      this.handles.set(id, { location, handle });
      keys.push({
        id,
        label: Buffer.isBuffer(labelAttr?.value) ? labelAttr.value.toString('utf8') : '',
        location,
        publicKey: decodeEcPoint(point),
        extractable: attrBool(extractableAttr?.value),
        sensitive: attrBool(sensitiveAttr?.value),
      });
    }
    return keys;
  }

  private handleOf(keyId: string): { location: Location; handle: Handle } {
    const entry = this.handles.get(keyId);
    if (!entry) throw new SignerError('KEY_UNKNOWN', `no key ${keyId} in the HSM`);
    return entry;
  }

  async signDigest(keyId: string, digest: Uint8Array): Promise<Uint8Array> {
    if (digest.length !== 32) throw new Error('signDigest expects a 32-byte digest');
    const { location, handle } = this.handleOf(keyId);
    return this.token(location).sessions.use(async (session) => {
      try {
        this.module.C_SignInit(session, { mechanism: P.CKM_ECDSA }, handle);
        return new Uint8Array(await this.module.C_SignAsync(session, Buffer.from(digest), Buffer.alloc(64)));
      } catch (error) {
        throw hsmError(error, 'sign');
      }
    });
  }

  /** A transient AES KEK (session object, never persisted) built from the ceremony's key material. */
  private importKek(session: Handle, kek: Buffer): Handle {
    if (kek.length !== 32) throw new SignerError('INVALID_REQUEST', 'the KEK must be 32 bytes (AES-256)');
    return this.module.C_CreateObject(session, [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      { type: P.CKA_TOKEN, value: false }, { type: P.CKA_VALUE, value: kek },
      { type: P.CKA_WRAP, value: true }, { type: P.CKA_UNWRAP, value: true },
      { type: P.CKA_SENSITIVE, value: true }, { type: P.CKA_EXTRACTABLE, value: false },
    ]);
  }

  async wrapKey(keyId: string, kek: Buffer): Promise<Buffer> {
    const { location, handle } = this.handleOf(keyId);
    return this.token(location).sessions.use((session) => {
      const kekHandle = this.importKek(session, kek);
      try {
        // The HSM itself decides: a key made with CKA_EXTRACTABLE=false yields CKR_KEY_UNEXTRACTABLE.
        return this.module.C_WrapKey(session, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kekHandle, handle, Buffer.alloc(4096));
      } catch (error) {
        throw hsmError(error, 'wrap the key');
      } finally {
        this.module.C_DestroyObject(session, kekHandle);
      }
    });
  }

  async restoreKey(blob: Buffer, kek: Buffer, options: { label: string; publicKey: Uint8Array }): Promise<BackendKey> {
    const token = this.token('backup');
    const id = randomBytes(16);
    const key = await token.sessions.use((session) => {
      const kekHandle = this.importKek(session, kek);
      let privateKey: Handle;
      try {
        privateKey = this.module.C_UnwrapKey(session, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, kekHandle, blob, [
          { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }, { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
          { type: P.CKA_TOKEN, value: true }, { type: P.CKA_PRIVATE, value: true },
          { type: P.CKA_SENSITIVE, value: true }, { type: P.CKA_EXTRACTABLE, value: false },
          { type: P.CKA_SIGN, value: true }, { type: P.CKA_ID, value: id }, { type: P.CKA_LABEL, value: options.label },
        ]);
      } catch (error) {
        throw hsmError(error, 'unwrap the backup');
      } finally {
        this.module.C_DestroyObject(session, kekHandle);
      }
      this.module.C_CreateObject(session, [
        { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY }, { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
        { type: P.CKA_TOKEN, value: true }, { type: P.CKA_VERIFY, value: true },
        { type: P.CKA_EC_PARAMS, value: SECP256K1_OID },
        { type: P.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, 0x41]), Buffer.from(options.publicKey)]) },
        { type: P.CKA_ID, value: id }, { type: P.CKA_LABEL, value: options.label },
      ]);
      return privateKey;
    });
    const keyId = id.toString('hex');
    this.handles.set(keyId, { location: 'backup', handle: key });
    // Prove the restore: the unwrapped key must sign for the recorded public key.
    const probe = randomBytes(32);
    const signature = normaliseLowS(await this.signDigest(keyId, probe));
    if (!verifyLowS(probe, signature.compact, options.publicKey)) {
      throw new SignerError('RESTORE_MISMATCH', 'the restored key does not match the recorded public key');
    }
    return { id: keyId, label: options.label, location: 'backup', publicKey: options.publicKey, extractable: false, sensitive: true };
  }

  async close(): Promise<void> {
    for (const token of this.tokens.values()) {
      for (const session of token.allSessions) {
        try { this.module.C_CloseSession(session); } catch { /* closing anyway */ }
      }
    }
    this.tokens.clear();
    try { this.module.C_Finalize(); } catch { /* already finalised */ }
    await Promise.resolve();
  }
}
