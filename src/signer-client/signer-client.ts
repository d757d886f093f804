// The API/worker side of the signer: HTTP over the signer's Unix socket. The signer trusts none of
// this: it re-checks every sign request against the intent and the approvals itself (KEY-08).
import { request as httpRequest } from 'node:http';
import { DomainError } from '../platform/errors.ts';
import type { CreatedKey, KeyProvider, KeyTier } from '../wallets/key-provider.ts';

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface SignerKeyInfo {
  id: string; label: string; tier: KeyTier; clientId: string; created: string; backup: boolean; publicKey: string;
}

export interface ReportKeyInfo { keyId: string; algorithm: 'ecdsa-secp256k1-sha256'; publicKey: string; fingerprint: string; created: string }
export interface ReportSignatureInfo { algorithm: 'ecdsa-secp256k1-sha256'; keyId: string; publicKey: string; signature: string; digest: string }

/** A refusal by the signer: its stable code (AMOUNT_MISMATCH, APPROVALS_BELOW_QUORUM, …) and message. */
export class SignerRefusal extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message);
    this.name = 'SignerRefusal';
  }
}

export class SignerClient implements KeyProvider {
  constructor(private readonly socketPath: string) {}

  private call<T>(method: string, path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest({
        socketPath: this.socketPath, method, path, timeout: timeoutMs,
        headers: text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {},
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) { req.destroy(new Error('signer answer too large')); return; }
          chunks.push(chunk);
        });
        res.on('end', () => {
          let parsed: unknown;
          try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { return reject(new DomainError('SIGNER_UNAVAILABLE', 'the signer answered with something that is not JSON')); }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(parsed as T);
          const p = parsed as { code?: string; message?: string };
          if (status >= 400 && status < 500) return reject(new SignerRefusal(p.code ?? 'REFUSED', p.message ?? 'refused', status));
          reject(new DomainError('SIGNER_UNAVAILABLE', `signer error ${status}: ${p.message ?? ''}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error('signer timed out')));
      req.on('error', (error) => reject(error instanceof DomainError || error instanceof SignerRefusal ? error
        : new DomainError('SIGNER_UNAVAILABLE', `the signer cannot be reached: ${error.message}`)));
      req.end(text);
    });
  }

  async createKey(input: { label: string; tier: KeyTier; clientId?: string }): Promise<CreatedKey> {
    const key = await this.call<SignerKeyInfo>('POST', '/keys', { label: input.label.slice(0, 64), tier: input.tier, clientId: input.clientId ?? 'house' });
    return { keyId: key.id, publicKey: key.publicKey, tier: key.tier };
  }

  listKeys(): Promise<{ keys: SignerKeyInfo[] }> {
    return this.call('GET', '/keys');
  }

  keyCount(): Promise<Record<string, unknown>> {
    return this.call('GET', '/keys/count');
  }

  /** The signer's own health (its HSM sessions); `timeoutMs` bounds a readiness probe. */
  health(timeoutMs = REQUEST_TIMEOUT_MS): Promise<Record<string, unknown>> {
    return this.call('GET', '/health', undefined, timeoutMs);
  }

  sign<T = Record<string, unknown>>(request: Record<string, unknown>): Promise<T> {
    return this.call('POST', '/sign', request);
  }

  /** The house report key (created by the signer on first use): its id, compressed public key and fingerprint. */
  reportKey(): Promise<ReportKeyInfo> {
    return this.call('GET', '/reports/key');
  }

  /** Signs a report manifest with the report key; the signer parses the manifest and signs sha256('amanat-report-v1\n' + canonicalJson(manifest)). */
  signReport(manifest: Record<string, unknown>): Promise<ReportSignatureInfo> {
    return this.call('POST', '/reports/sign', { manifest });
  }
}
