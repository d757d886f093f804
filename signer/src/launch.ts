// How the main service starts the signer for `npm start`: as a child process, never in-process.
//   import { startSignerProcess } from '<repo>/signer/src/launch.ts'   (or run this file directly)
//   const signer = await startSignerProcess({ dataDir: 'data/signer' });
//   … HTTP over signer.socketPath …; await signer.stop();
// With SoftHSM2 installed the tokens are created under dataDir/hsm on first start; without it the
// signer runs on the DEVELOPMENT ONLY dev-file backend and says so loudly.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findSoftHsmModule, initSoftHsmTokens } from './softhsm.ts';

const signerRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(signerRoot, '..');

export interface StartSignerOptions {
  dataDir: string;
  /** Defaults to policies/signer-policy.json in the repository. */
  policyFile?: string;
  /** auto: pkcs11 (SoftHSM2) when installed, else dev-file. */
  backend?: 'auto' | 'pkcs11' | 'dev-file';
  /**
   * Written into the signer config as "environment" (the service's AMANAT_ENV). "production" makes the
   * signer refuse to start on the dev-file backend or a development-default PIN; so does AMANAT_ENV=
   * production in the environment the child inherits.
   */
  environment?: 'development' | 'test' | 'production';
  onLog?: (line: string) => void;
}

export interface RunningSigner {
  socketPath: string;
  configPath: string;
  backend: 'pkcs11' | 'dev-file';
  pid: number;
  stop: () => Promise<void>;
}

/** Writes (once) the signer config for dataDir and returns its path. */
export function prepareSignerConfig(options: StartSignerOptions): { configPath: string; backend: 'pkcs11' | 'dev-file' } {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const wanted = options.backend ?? 'auto';
  const backend = wanted === 'auto' ? (findSoftHsmModule() ? 'pkcs11' : 'dev-file') : wanted;
  const configPath = join(dataDir, `signer-${backend}.json`);
  let backendConfig: Record<string, unknown>;
  if (backend === 'pkcs11') {
    const hsm = initSoftHsmTokens(join(dataDir, 'hsm'), { install: false });
    backendConfig = { type: 'pkcs11', modulePath: hsm.modulePath, softhsm2Conf: hsm.confPath, tokens: hsm.tokens, sessionsPerToken: 8 };
  } else {
    const passphraseFile = join(dataDir, 'dev-passphrase');
    if (!existsSync(passphraseFile)) writeFileSync(passphraseFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
    backendConfig = { type: 'dev-file', keyFile: join(dataDir, 'dev-keys.enc.json'), passphraseFile };
  }
  writeFileSync(configPath, JSON.stringify({
    ...(options.environment ? { environment: options.environment } : {}),
    dataDir: join(dataDir, 'state'),
    socketPath: join(dataDir, 'signer.sock'),
    policyFile: resolve(options.policyFile ?? join(repoRoot, 'policies/signer-policy.json')),
    backend: backendConfig,
  }, null, 2), { mode: 0o600 });
  return { configPath, backend };
}

function health(socketPath: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = request({ socketPath, path: '/health', method: 'GET' }, (response) => {
      response.resume();
      response.on('end', () => resolvePromise(response.statusCode === 200));
    });
    req.on('error', () => resolvePromise(false));
    req.end();
  });
}

export async function startSignerProcess(options: StartSignerOptions): Promise<RunningSigner> {
  const { configPath, backend } = prepareSignerConfig(options);
  const socketPath = join(resolve(options.dataDir), 'signer.sock');
  const child = spawn(process.execPath, ['--import', 'tsx', join(signerRoot, 'src/main.ts'), '--config', configPath], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = options.onLog ?? ((line: string) => process.stderr.write(`[signer] ${line}\n`));
  let buffered = '';
  const onData = (chunk: Buffer): void => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) log(line);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`signer exited with code ${child.exitCode} during start`);
    if (await health(socketPath)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socketPath, configPath, backend, pid: child.pid ?? -1,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

// Run directly: node --import tsx signer/src/launch.ts [dataDir]  — prepares the config and runs the signer in the foreground.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dataDir = process.argv[2] ?? join(repoRoot, 'data/signer');
  const signer = await startSignerProcess({ dataDir });
  process.stderr.write(`signer (${signer.backend}) listening on ${signer.socketPath}; Ctrl-C to stop\n`);
  const stop = (): void => { void signer.stop().then(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
