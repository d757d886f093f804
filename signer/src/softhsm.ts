// SoftHSM2 setup for development and tests: find (or install) SoftHSM2, create a token directory
// with its own softhsm2.conf, initialise the hot, cold and backup tokens, write PIN files.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const SOFTHSM_MODULE_CANDIDATES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];
export const INSTALL_COMMAND = 'apt-get update && apt-get install -y softhsm2';

export function findSoftHsmModule(): string | undefined {
  return SOFTHSM_MODULE_CANDIDATES.find((path) => existsSync(path));
}

function hasUtil(): boolean {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Returns the module path; installs SoftHSM2 with apt-get when root, otherwise throws with the command. */
export function ensureSoftHsm(options: { install: boolean }): string {
  let module = findSoftHsmModule();
  if (module && hasUtil()) return module;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!options.install || !isRoot) {
    throw new Error(`SoftHSM2 is not installed. Run as root: ${INSTALL_COMMAND}`);
  }
  try {
    execFileSync('apt-get', ['install', '-y', 'softhsm2'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', 'softhsm2'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  module = findSoftHsmModule();
  if (!module || !hasUtil()) throw new Error(`SoftHSM2 install did not produce libsofthsm2.so. Run as root: ${INSTALL_COMMAND}`);
  return module;
}

export interface SoftHsmTokens {
  modulePath: string;
  confPath: string;
  tokens: Record<'hot' | 'cold' | 'backup', { label: string; pinFile: string }>;
}

/** Creates (once) a token directory under `dir` with hot, cold and backup tokens. Idempotent. */
export function initSoftHsmTokens(dir: string, options: { install: boolean; labelPrefix?: string }): SoftHsmTokens {
  const modulePath = ensureSoftHsm(options);
  const prefix = options.labelPrefix ?? 'amanat';
  const tokenDir = join(dir, 'tokens');
  const confPath = join(dir, 'softhsm2.conf');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  writeFileSync(confPath, [
    `directories.tokendir = ${tokenDir}`, 'objectstore.backend = file', 'log.level = ERROR',
    'slots.removable = false', 'slots.mechanisms = ALL', 'library.reset_on_fork = false', '',
  ].join('\n'));
  const env = { ...process.env, SOFTHSM2_CONF: confPath };
  const existing = execFileSync('softhsm2-util', ['--show-slots'], { env, encoding: 'utf8' });
  const tokens = {} as SoftHsmTokens['tokens'];
  for (const tier of ['hot', 'cold', 'backup'] as const) {
    const label = `${prefix}-${tier}`;
    const pinFile = join(dir, `${tier}.pin`);
    if (!new RegExp(`Label:\\s+${label}\\s*$`, 'm').test(existing)) {
      const pin = randomBytes(8).toString('hex');
      const soPin = randomBytes(8).toString('hex');
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', pin], { env, stdio: 'ignore' });
      writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
    }
    tokens[tier] = { label, pinFile };
  }
  return { modulePath, confPath, tokens };
}
