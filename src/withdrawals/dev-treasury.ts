// Development only: three treasury officers with key pairs generated under <dataDir>/treasury
// (mode 0600), and a signer policy that registers their public keys. The repository holds no
// private key; production registers the officers' own keys in the policy file instead.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function ensureDevTreasury(dataDir: string, basePolicyFile: string): { policyFile: string; officers: { id: string; keyFile: string }[] } {
  const dir = path.join(dataDir, 'treasury');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const officers = [1, 2, 3].map((n) => ({ id: `dev-officer-${n}`, userId: `dev-treasury-${n}`, keyFile: path.join(dir, `dev-officer-${n}.pem`) }));
  const approvers = officers.map((o) => {
    if (!existsSync(o.keyFile)) {
      const pair = generateKeyPairSync('ed25519');
      writeFileSync(o.keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      writeFileSync(`${o.keyFile}.pub`, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    }
    return { id: o.id, userId: o.userId, algorithm: 'ed25519', publicKeyPem: readFileSync(`${o.keyFile}.pub`, 'utf8') };
  });
  const base = JSON.parse(readFileSync(basePolicyFile, 'utf8')) as Record<string, unknown>;
  const policyFile = path.join(dir, 'signer-policy.dev.json');
  writeFileSync(policyFile, JSON.stringify({ ...base, version: `${String(base.version)}+dev-officers`, approvers }, null, 2));
  return { policyFile, officers: officers.map((o) => ({ id: o.id, keyFile: o.keyFile })) };
}
