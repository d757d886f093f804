// The signer's core: keys, checks, approvals, replay protection, signing. No HTTP in here.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as bitcoin from 'bitcoinjs-lib';
import { Signature, computeAddress, hexlify } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { checkApprovals } from './approvals.ts';
import { checkBitcoin } from './bitcoin-check.ts';
import { compressPublicKey, normaliseLowS, recoveryId, verifyLowS } from './ecdsa.ts';
import { refuse } from './errors.ts';
import { checkEthereum } from './ethereum-check.ts';
import { utcInstant } from './instant.ts';
import { intentHash as hashIntent, type Intent } from './intent.ts';
import type { BackendKey, KeyBackend } from './key-backend.ts';
import { KeyRegistry } from './key-registry.ts';
import type { SignerKey } from './keys.ts';
import type { Policy } from './policy.ts';
import { REPORT_KEY_LABEL, REPORT_SIGNATURE_ALGORITHM, reportDigest, reportKeyFingerprint, type ReportManifest } from './report-manifest.ts';
import { ReplayLog } from './replay-log.ts';
import type { SignRequest } from './schemas.ts';

export type Logger = (event: Record<string, unknown>) => void;

function toSignerKey(backendKey: BackendKey, record: { clientId: string; created: string; backup: boolean; label: string; usage?: 'wallet' | 'report' }): SignerKey {
  return {
    id: backendKey.id,
    label: record.label,
    tier: backendKey.location,
    clientId: record.clientId,
    created: record.created,
    backup: backendKey.extractable,
    publicKey: backendKey.publicKey,
    publicKeyCompressed: compressPublicKey(backendKey.publicKey),
    ethereumAddress: computeAddress(hexlify(backendKey.publicKey)),
    usage: record.usage ?? 'wallet',
  };
}

export function publicView(key: SignerKey): Record<string, unknown> {
  return {
    id: key.id, label: key.label, tier: key.tier, clientId: key.clientId, created: key.created, backup: key.backup,
    publicKey: Buffer.from(key.publicKeyCompressed).toString('hex'),
    bitcoinWitnessProgram: createHash('ripemd160').update(createHash('sha256').update(key.publicKeyCompressed).digest()).digest('hex'),
    ethereumAddress: key.ethereumAddress, usage: key.usage,
  };
}

function xorComponents(components: string[]): Buffer {
  const kek = Buffer.alloc(32);
  for (const component of components) {
    const bytes = Buffer.from(component, 'hex');
    for (let i = 0; i < 32; i += 1) kek[i] = (kek[i] ?? 0) ^ (bytes[i] ?? 0);
  }
  return kek;
}

export class SignService {
  private readonly keys = new Map<string, SignerKey>();
  /** The one report key, created on first use (then found in the registry at every start). */
  private reportKeyPromise: Promise<SignerKey> | undefined;

  private constructor(
    private readonly backend: KeyBackend,
    private readonly policy: Policy,
    private readonly registry: KeyRegistry,
    private readonly replay: ReplayLog,
    private readonly log: Logger,
  ) {}

  static async open(options: { backend: KeyBackend; policy: Policy; dataDir: string; log: Logger }): Promise<SignService> {
    const registry = new KeyRegistry(join(options.dataDir, 'keys.jsonl'));
    const replay = await ReplayLog.open(join(options.dataDir, 'replay-log.jsonl'), (message) => options.log({ event: 'replay-log', message }));
    const service = new SignService(options.backend, options.policy, registry, replay, options.log);
    for (const backendKey of await options.backend.enumerateKeys()) {
      const record = registry.get(backendKey.id);
      if (!record) {
        options.log({ event: 'key-orphan', keyId: backendKey.id, location: backendKey.location, message: 'HSM key without a registry record: not usable' });
        continue;
      }
      if (record.tier !== backendKey.location) options.log({ event: 'key-tier-drift', keyId: backendKey.id, registry: record.tier, token: backendKey.location });
      service.keys.set(backendKey.id, toSignerKey(backendKey, record));
    }
    return service;
  }

  get policyInfo(): { version: string; hash: string } {
    return { version: this.policy.document.version, hash: this.policy.hash };
  }

  health(): Record<string, unknown> {
    return {
      status: 'ok', backend: this.backend.kind, development: this.backend.kind !== 'pkcs11',
      policyVersion: this.policy.document.version, policyHash: this.policy.hash,
      quorum: this.policy.quorum, approvers: this.policy.approvers.size,
      keys: this.keys.size, replayEntries: this.replay.size,
    };
  }

  async createKey(options: { label: string; tier: 'hot' | 'cold'; clientId: string; backup: boolean }): Promise<Record<string, unknown>> {
    const backendKey = await this.backend.createKey(options);
    const record = { id: backendKey.id, label: options.label, tier: options.tier, clientId: options.clientId, created: new Date().toISOString(), backup: options.backup };
    this.registry.add(record);
    const key = toSignerKey(backendKey, record);
    this.keys.set(key.id, key);
    this.log({ event: 'key-created', keyId: key.id, tier: key.tier, clientId: key.clientId, backup: key.backup });
    return publicView(key);
  }

  listKeys(): Record<string, unknown>[] {
    return [...this.keys.values()].map(publicView);
  }

  /** KEY-09: count of private-key objects in the HSM, reconciled with the registry. */
  async keyCount(): Promise<Record<string, unknown>> {
    const inHsm = await this.backend.enumerateKeys();
    const registered = this.registry.all();
    const hsmIds = new Set(inHsm.map((key) => key.id));
    const registryIds = new Set(registered.map((record) => record.id));
    const byTier = { hot: 0, cold: 0, backup: 0 };
    const byUsage = { wallet: 0, report: 0 };
    for (const key of inHsm) byUsage[this.keys.get(key.id)?.usage === 'report' ? 'report' : 'wallet'] += 1;
    for (const key of inHsm) byTier[key.location] += 1;
    const orphansInHsm = inHsm.filter((key) => !registryIds.has(key.id)).map((key) => ({ id: key.id, location: key.location }));
    const missingFromHsm = registered.filter((record) => !hsmIds.has(record.id)).map((record) => ({ id: record.id, tier: record.tier }));
    return {
      asOf: new Date().toISOString(),
      method: 'One secp256k1 private-key object in an HSM token counts as one private key. Keys are not HD-derived, so there are no seeds to count separately. The tier is the token the object lives in (hot token, cold token; backup token = restored backups).',
      backend: this.backend.kind,
      total: inHsm.length,
      byTier,
      byUsage,
      registryTotal: registered.length,
      orphansInHsm,
      missingFromHsm,
      reconciled: orphansInHsm.length === 0 && missingFromHsm.length === 0,
    };
  }

  private key(keyId: string): SignerKey {
    const key = this.keys.get(keyId);
    if (!key) refuse('KEY_UNKNOWN', `no key ${keyId}`);
    return key;
  }

  /** A key that may take part in a transaction: never the report key. */
  private walletKey(keyId: string): SignerKey {
    const key = this.key(keyId);
    if (key.usage !== 'wallet') refuse('KEY_NOT_ACTIVE', `key ${keyId} is the report key: it signs report manifests only, never a transaction`);
    return key;
  }

  /**
   * The keys an intent may spend from: `sourceKeyIds` (BTC, one key per deposit address) or just the
   * primary `sourceKeyId`. Every listed key must be distinct, exist, belong to the intent's client and
   * live in the primary key's token, so a multi-key spend never crosses a client or a tier and the
   * primary key's tier (hot, or cold with approvals) governs the whole transaction.
   */
  private sourceKeys(intent: Intent, source: SignerKey): SignerKey[] {
    const ids = intent.sourceKeyIds;
    if (ids === undefined) return [source];
    if (intent.chain === 'ethereum' && ids.length > 1) refuse('INVALID_INTENT', 'an ethereum transaction has one sender: sourceKeyIds may list only sourceKeyId');
    const seen = new Set<string>();
    for (const keyId of ids) {
      if (seen.has(keyId)) refuse('SOURCE_KEY_DUPLICATE', `key ${keyId} is listed twice in sourceKeyIds`);
      seen.add(keyId);
    }
    if (!seen.has(intent.sourceKeyId)) refuse('SOURCE_KEY_NOT_LISTED', `sourceKeyIds must include the primary key ${intent.sourceKeyId}`);
    return ids.map((keyId) => {
      const key = this.walletKey(keyId);
      if (key.clientId !== intent.clientId) refuse('SOURCE_KEY_FOREIGN', `key ${keyId} is not a wallet of client ${intent.clientId}`);
      if (key.tier !== source.tier) refuse('SOURCE_KEY_TIER_MISMATCH', `key ${keyId} lives in the ${key.tier} token, the primary key ${source.id} in the ${source.tier} token`);
      return key;
    });
  }

  /** Sign with the HSM, normalise to low-S and verify before anything leaves. */
  private async signDigest(key: SignerKey, digest: Uint8Array): Promise<{ r: bigint; s: bigint; compact: Uint8Array }> {
    const signature = normaliseLowS(await this.backend.signDigest(key.id, digest));
    if (!verifyLowS(digest, signature.compact, key.publicKey)) throw new Error(`HSM signature for key ${key.id} does not verify`);
    return signature;
  }

  async sign(request: SignRequest): Promise<Record<string, unknown>> {
    const intent = request.intent as Intent;
    const intentHash = hashIntent(intent);
    const source = this.walletKey(intent.sourceKeyId);
    if (source.tier === 'backup') refuse('KEY_NOT_ACTIVE', 'keys in the backup token are for recovery drills, not for signing transactions');
    if (source.clientId !== intent.clientId) refuse('SOURCE_NOT_CLIENT_WALLET', `key ${source.id} is not a wallet of client ${intent.clientId}`);
    const sources = this.sourceKeys(intent, source);
    const repeat = this.replay.previous(request.requestId, intentHash);
    if (repeat !== undefined) return { ...(repeat as Record<string, unknown>), repeated: true };

    const nowMs = Date.now();
    const expiresAtMs = utcInstant(intent.expiresAt);
    if (expiresAtMs === undefined) refuse('INTENT_EXPIRY_INVALID', `intent expiresAt ${JSON.stringify(intent.expiresAt)} is not a UTC instant as toISOString writes it`);
    if (expiresAtMs <= nowMs) refuse('INTENT_EXPIRED', `the intent expired at ${intent.expiresAt}`);
    const { maxLifetimeSeconds } = this.policy.document.intents;
    if (expiresAtMs > nowMs + maxLifetimeSeconds * 1000) {
      refuse('INTENT_LIFETIME_TOO_LONG', `the intent expires at ${intent.expiresAt}, more than ${maxLifetimeSeconds}s from now (policy intents.maxLifetimeSeconds)`);
    }
    let approvedBy: string[] = [];
    if (source.tier === 'cold') approvedBy = checkApprovals({ approvals: request.approvals, intent, intentHash, policy: this.policy, nowMs });
    // The report key is no wallet: as a destination or change key it is unknown (never paid to).
    const lookup = (keyId: string): SignerKey | undefined => {
      const key = this.keys.get(keyId);
      return key?.usage === 'wallet' ? key : undefined;
    };

    if (intent.chain === 'bitcoin') {
      if (!('psbt' in request.transaction)) return refuse('INVALID_REQUEST', 'a bitcoin intent needs transaction.psbt');
      const plan = checkBitcoin({ psbtBase64: request.transaction.psbt, intent, source, sources, keys: lookup, policy: this.policy });
      const decision = this.replay.begin({ requestId: request.requestId, intentId: intent.intentId, intentHash, keyId: source.id, chain: 'bitcoin', outpoints: plan.outpoints, inputs: plan.inputs, nonce: null });
      if (decision.kind === 'repeat') return { ...(decision.response as Record<string, unknown>), repeated: true };
      try {
        // Each input is signed by the key whose P2WPKH script it spends (bitcoinjs checks the pubkey
        // against the script again); every HSM signature is low-S and verified in signDigest.
        const signerOf = (key: SignerKey): bitcoin.SignerAsync => ({ publicKey: key.publicKeyCompressed, sign: async (hash: Uint8Array) => (await this.signDigest(key, hash)).compact });
        const signers = new Map(sources.map((key) => [key.id, signerOf(key)]));
        await Promise.all(plan.inputKeys.map((key, index) => {
          const signer = signers.get(key.id);
          if (!signer) throw new Error(`no signer for input ${index}`);
          return plan.psbt.signInputAsync(index, signer, [bitcoin.Transaction.SIGHASH_ALL]);
        }));
        const validator = (pubkey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => ecc.verify(message, pubkey, signature, true);
        if (!plan.psbt.validateSignaturesOfAllInputs(validator)) throw new Error('PSBT signatures do not validate');
        const signatures = plan.psbt.data.inputs.map((input, inputIndex) => ({ inputIndex, keyId: plan.inputKeys[inputIndex]?.id, signature: Buffer.from(input.partialSig?.[0]?.signature ?? []).toString('hex') }));
        const signedPsbt = plan.psbt.toBase64();
        plan.psbt.finalizeAllInputs();
        const tx = plan.psbt.extractTransaction(true);
        const response = {
          requestId: request.requestId, intentHash, keyId: source.id, keyIds: sources.map((key) => key.id), chain: 'bitcoin', policyHash: this.policy.hash, approvedBy,
          psbt: signedPsbt, txHex: tx.toHex(), txid: tx.getId(), feeSat: plan.feeSat.toString(), outpoints: plan.outpoints, signatures,
        };
        await decision.reservation.commit(response);
        this.log({ event: 'signed', requestId: request.requestId, intentHash, keyId: source.id, keyIds: response.keyIds, chain: 'bitcoin', txid: response.txid, approvedBy });
        return { ...response, repeated: false };
      } catch (error) {
        decision.reservation.abort();
        throw error;
      }
    }

    if (!('ethereumTx' in request.transaction)) return refuse('INVALID_REQUEST', 'an ethereum intent needs transaction.ethereumTx');
    const plan = checkEthereum({ txHex: request.transaction.ethereumTx, intent, source, keys: lookup, policy: this.policy });
    const nonceKey = `${source.id}:${plan.chainId}:${plan.nonce}`;
    const decision = this.replay.begin({ requestId: request.requestId, intentId: intent.intentId, intentHash, keyId: source.id, chain: 'ethereum', outpoints: [], inputs: [], nonce: nonceKey });
    if (decision.kind === 'repeat') return { ...(decision.response as Record<string, unknown>), repeated: true };
    try {
      const digest = Buffer.from(plan.tx.unsignedHash.slice(2), 'hex');
      const signature = normaliseLowS(await this.backend.signDigest(source.id, digest));
      // Recovering the key's own point with the right y-parity is the verification.
      const yParity = recoveryId(digest, signature.compact, source.publicKey);
      plan.tx.signature = Signature.from({ r: `0x${signature.r.toString(16).padStart(64, '0')}`, s: `0x${signature.s.toString(16).padStart(64, '0')}`, yParity });
      const response = {
        requestId: request.requestId, intentHash, keyId: source.id, chain: 'ethereum', policyHash: this.policy.hash, approvedBy,
        signedTx: plan.tx.serialized, txHash: plan.tx.hash, from: source.ethereumAddress, chainId: plan.chainId.toString(), nonce: plan.nonce.toString(),
        signature: { r: plan.tx.signature.r, s: plan.tx.signature.s, yParity },
      };
      await decision.reservation.commit(response);
      this.log({ event: 'signed', requestId: request.requestId, intentHash, keyId: source.id, chain: 'ethereum', txHash: response.txHash, approvedBy });
      return { ...response, repeated: false };
    } catch (error) {
      decision.reservation.abort();
      throw error;
    }
  }

  async wrapKey(keyId: string, options: { ceremonyId: string; kekComponents: string[] }): Promise<Record<string, unknown>> {
    const key = this.walletKey(keyId);
    const kek = xorComponents(options.kekComponents);
    const blob = await this.backend.wrapKey(key.id, kek);
    const kekCheckValue = createHash('sha256').update(kek).digest('hex').slice(0, 16);
    this.log({ event: 'key-wrapped', keyId, ceremonyId: options.ceremonyId, custodians: options.kekComponents.length, kekCheckValue });
    return { keyId, ceremonyId: options.ceremonyId, publicKey: Buffer.from(key.publicKeyCompressed).toString('hex'), blob: blob.toString('base64'), mechanism: 'CKM_AES_KEY_WRAP_PAD', kekCheckValue };
  }

  async restoreKey(options: { ceremonyId: string; kekComponents: string[]; blob: string; sourceKeyId: string; label: string; publicKey: string; clientId: string }): Promise<Record<string, unknown>> {
    const publicKey = ecc.pointCompress(Buffer.from(options.publicKey, 'hex'), false);
    const backendKey = await this.backend.restoreKey(Buffer.from(options.blob, 'base64'), xorComponents(options.kekComponents), { label: options.label, publicKey });
    const record = { id: backendKey.id, label: options.label, tier: 'backup' as const, clientId: options.clientId, created: new Date().toISOString(), backup: false, restoredFrom: options.sourceKeyId };
    this.registry.add(record);
    const key = toSignerKey(backendKey, record);
    this.keys.set(key.id, key);
    this.log({ event: 'key-restored', keyId: key.id, from: options.sourceKeyId, ceremonyId: options.ceremonyId });
    return publicView(key);
  }

  /** A test message signed by a key (restore drills prove the key with it). Backup-token keys only. */
  async proveKey(keyId: string, message: string): Promise<Record<string, unknown>> {
    const key = this.key(keyId);
    if (key.tier !== 'backup') refuse('KEY_NOT_ACTIVE', 'only restored backup keys sign drill messages');
    const digest = createHash('sha256').update(`amanat-restore-drill-v1\n${message}`).digest();
    const signature = await this.signDigest(key, digest);
    return { keyId, digest: digest.toString('hex'), signature: Buffer.from(signature.compact).toString('hex'), publicKey: Buffer.from(key.publicKeyCompressed).toString('hex') };
  }

  /** The house report key: found in the registry, or created once (hot token, not extractable, owner "house"). */
  private reportKey(): Promise<SignerKey> {
    if (!this.reportKeyPromise) {
      const existing = [...this.keys.values()].find((key) => key.usage === 'report');
      this.reportKeyPromise = existing ? Promise.resolve(existing) : (async () => {
        const backendKey = await this.backend.createKey({ label: REPORT_KEY_LABEL, tier: 'hot', backup: false });
        const record = { id: backendKey.id, label: REPORT_KEY_LABEL, tier: 'hot' as const, clientId: 'house', created: new Date().toISOString(), backup: false, usage: 'report' as const };
        this.registry.add(record);
        const key = toSignerKey(backendKey, record);
        this.keys.set(key.id, key);
        this.log({ event: 'key-created', keyId: key.id, tier: key.tier, clientId: key.clientId, usage: 'report' });
        return key;
      })();
      this.reportKeyPromise.catch(() => { this.reportKeyPromise = undefined; });
    }
    return this.reportKeyPromise;
  }

  async reportKeyInfo(): Promise<Record<string, unknown>> {
    const key = await this.reportKey();
    const publicKey = Buffer.from(key.publicKeyCompressed).toString('hex');
    return { keyId: key.id, algorithm: REPORT_SIGNATURE_ALGORITHM, publicKey, fingerprint: reportKeyFingerprint(publicKey), created: key.created };
  }

  /** Signs sha256('amanat-report-v1\n' + canonicalJson(manifest)); the manifest was parsed by reportSignRequestSchema. */
  async signReport(manifest: ReportManifest): Promise<Record<string, unknown>> {
    const key = await this.reportKey();
    const digest = reportDigest(manifest);
    const signature = await this.signDigest(key, digest);
    const publicKey = Buffer.from(key.publicKeyCompressed).toString('hex');
    this.log({ event: 'report-signed', keyId: key.id, kind: manifest.kind, reportKey: manifest.reportKey, contentHash: manifest.contentHash, digest: digest.toString('hex') });
    return { algorithm: REPORT_SIGNATURE_ALGORITHM, keyId: key.id, publicKey, signature: Buffer.from(signature.compact).toString('hex'), digest: digest.toString('hex') };
  }

  async close(): Promise<void> {
    await this.replay.close();
    await this.backend.close();
  }
}
