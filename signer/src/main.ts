// The signer process: node --import tsx signer/src/main.ts --config <file>  (or SIGNER_CONFIG=<file>)
import { mkdirSync } from 'node:fs';
import { loadConfig, productionProblems, productionReason } from './config.ts';
import { DevFileBackend } from './dev-key-backend.ts';
import type { KeyBackend } from './key-backend.ts';
import { Pkcs11Backend } from './pkcs11-backend.ts';
import { loadPolicy } from './policy.ts';
import { createSignerServer, listenOnSocket } from './server.ts';
import { SignService, type Logger } from './sign-service.ts';

const log: Logger = (event) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), service: 'amanat-signer', ...event })}\n`);
};

/** A start refused on purpose (production with a development fallback): logged without a stack. */
class StartRefused extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'StartRefused';
  }
}

function configPath(): string {
  const index = process.argv.indexOf('--config');
  const path = index >= 0 ? process.argv[index + 1] : process.env.SIGNER_CONFIG;
  if (!path) throw new Error('usage: node --import tsx signer/src/main.ts --config <file>  (or set SIGNER_CONFIG)');
  return path;
}

async function main(): Promise<void> {
  const path = configPath();
  const config = loadConfig(path);
  const production = productionReason(config, path);
  if (production !== undefined) {
    const problems = productionProblems(config, path, production);
    if (problems.length > 0) throw new StartRefused(problems);
    if (config.backend.type === 'pkcs11' && /softhsm/i.test(config.backend.modulePath)) {
      log({ event: 'WARNING', message: `${production}: the PKCS#11 module ${config.backend.modulePath} is SoftHSM2, a software token; point backend.modulePath at the HSM vendor's module` });
    }
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const policy = loadPolicy(config.policyFile);
  log({ event: 'policy-loaded', file: config.policyFile, version: policy.document.version, sha256: policy.hash, quorum: policy.quorum, approvers: policy.approvers.size });
  let backend: KeyBackend;
  if (config.backend.type === 'pkcs11') {
    backend = await Pkcs11Backend.open(config.backend);
  } else {
    for (let i = 0; i < 3; i += 1) log({ event: 'WARNING', message: '*** DEVELOPMENT ONLY key backend (dev-file): private keys are in a file and in process memory, NOT in an HSM ***' });
    backend = await DevFileBackend.open(config.backend);
  }
  const service = await SignService.open({ backend, policy, dataDir: config.dataDir, log });
  const server = createSignerServer(service, { maxBodyBytes: config.maxBodyBytes, log });
  await listenOnSocket(server, config.socketPath);
  log({ event: 'listening', socket: config.socketPath, backend: backend.description, ...service.health() });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log({ event: 'stopping', signal });
    server.close(() => {
      service.close().then(() => process.exit(0), () => process.exit(1));
    });
    server.closeAllConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof StartRefused) {
    for (const problem of error.problems) log({ event: 'fatal', refused: true, error: problem });
  } else {
    log({ event: 'fatal', error: error instanceof Error ? error.stack ?? error.message : String(error) });
  }
  process.exit(1);
});
