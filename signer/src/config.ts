// The signer's configuration: one JSON file (path from --config or SIGNER_CONFIG), validated,
// frozen. Secrets (PINs, the dev passphrase) are file references and are never logged.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

const tokenSchema = z.object({
  /** PKCS#11 token label (the slot is found by label, so slot numbers may move). */
  label: z.string().min(1).max(32),
  /** File holding the user PIN (trailing newline ignored). */
  pinFile: z.string().min(1),
}).strict();

const pkcs11Schema = z.object({
  type: z.literal('pkcs11'),
  modulePath: z.string().min(1).default('/usr/lib/softhsm/libsofthsm2.so'),
  /** Sets SOFTHSM2_CONF for this process before the module is loaded (SoftHSM2 only). */
  softhsm2Conf: z.string().optional(),
  tokens: z.object({
    hot: tokenSchema,
    cold: tokenSchema,
    /** Where wrapped backups are restored (backup ceremony, see README). */
    backup: tokenSchema.optional(),
  }).strict(),
  /** Logged-in sessions per token; signing runs in parallel across them. */
  sessionsPerToken: z.number().int().min(1).max(64).default(8),
}).strict();

const devFileSchema = z.object({
  type: z.literal('dev-file'),
  /** AES-256-GCM encrypted key file. DEVELOPMENT ONLY: private keys live in this process. */
  keyFile: z.string().min(1),
  passphraseFile: z.string().min(1),
}).strict();

const configSchema = z.object({
  /**
   * "production" refuses to start on development fallbacks (productionProblems below). AMANAT_ENV=
   * production in the signer's environment has the same effect; either one is enough.
   */
  environment: z.enum(['development', 'test', 'production']).optional(),
  /** Replay log and key registry live here. */
  dataDir: z.string().min(1),
  /** HTTP over this Unix socket, mode 0600. */
  socketPath: z.string().min(1).max(100),
  policyFile: z.string().min(1),
  backend: z.discriminatedUnion('type', [pkcs11Schema, devFileSchema]),
  /** Largest accepted request body. */
  maxBodyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
}).strict();

export type SignerConfig = z.infer<typeof configSchema>;
export type Pkcs11Config = z.infer<typeof pkcs11Schema>;
export type DevFileConfig = z.infer<typeof devFileSchema>;

/** Relative paths in the file are relative to the file itself. */
export function loadConfig(path: string): SignerConfig {
  const base = dirname(resolve(path));
  const raw = configSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  const at = (p: string): string => resolve(base, p);
  const backend = raw.backend.type === 'pkcs11'
    ? {
      ...raw.backend,
      softhsm2Conf: raw.backend.softhsm2Conf === undefined ? undefined : at(raw.backend.softhsm2Conf),
      tokens: {
        hot: { ...raw.backend.tokens.hot, pinFile: at(raw.backend.tokens.hot.pinFile) },
        cold: { ...raw.backend.tokens.cold, pinFile: at(raw.backend.tokens.cold.pinFile) },
        backup: raw.backend.tokens.backup ? { ...raw.backend.tokens.backup, pinFile: at(raw.backend.tokens.backup.pinFile) } : undefined,
      },
    }
    : { ...raw.backend, keyFile: at(raw.backend.keyFile), passphraseFile: at(raw.backend.passphraseFile) };
  return Object.freeze({ ...raw, dataDir: at(raw.dataDir), socketPath: at(raw.socketPath), policyFile: at(raw.policyFile), backend });
}

export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/**
 * PINs no production token may have: vendor and tutorial defaults (SoftHSM's documentation uses
 * 1234 and 0000), sequences, and anything of one repeated character. Compared without case.
 */
const DEVELOPMENT_PINS = new Set([
  '', '1234', '12345', '123456', '1234567', '12345678', '123456789', '1234567890', '87654321', '4321', '0123', '01234567',
  'password', 'passw0rd', 'changeme', 'change-me', 'changeit', 'default', 'secret', 'admin', 'test', 'dev', 'development',
  'pin', 'userpin', 'user-pin', 'user', 'sopin', 'so-pin', 'softhsm', 'softhsm2', 'amanat', 'hsm', 'token', 'qwerty',
]);

export function isDevelopmentPin(pin: string): boolean {
  const normalised = pin.trim().toLowerCase();
  return DEVELOPMENT_PINS.has(normalised) || /^(.)\1*$/.test(normalised);
}

/** Why the signer is in production mode, or undefined when it is not. */
export function productionReason(config: SignerConfig, configPath: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AMANAT_ENV === 'production') return 'AMANAT_ENV=production';
  if (config.environment === 'production') return `"environment": "production" in ${configPath}`;
  return undefined;
}

/**
 * In production: every development fallback the config would use, each naming the setting to
 * change. Secrets are read to be judged and never quoted.
 */
export function productionProblems(config: SignerConfig, configPath: string, reason: string): string[] {
  const problems: string[] = [];
  if (config.backend.type === 'dev-file') {
    problems.push(`${reason}: backend.type is "dev-file", the DEVELOPMENT ONLY key backend (private keys in a file and in process memory, not in an HSM). `
      + `Set backend.type to "pkcs11" with the HSM's tokens in ${configPath}.`);
    return problems;
  }
  const tokens = config.backend.tokens;
  for (const tier of ['hot', 'cold', 'backup'] as const) {
    const token = tokens[tier];
    if (!token) continue;
    const setting = `backend.tokens.${tier}.pinFile`;
    let pin: string;
    try {
      pin = readSecretFile(token.pinFile);
    } catch (error) {
      problems.push(`${reason}: ${setting} (${token.pinFile}) cannot be read: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}. Point ${setting} at the file holding the user PIN of token "${token.label}".`);
      continue;
    }
    if (isDevelopmentPin(pin)) {
      problems.push(`${reason}: ${setting} (${token.pinFile}) holds a well-known development default PIN for token "${token.label}". `
        + `Set a strong user PIN on that token and write it to the file ${setting} names (in ${configPath}).`);
    }
  }
  return problems;
}
