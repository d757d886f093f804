// The signer process: node --import tsx signer/src/main.ts --config <file>  (or SIGNER_CONFIG=<file>)
import { mkdirSync } from 'node:fs';
import { loadConfig } from './config.ts';
import { DevFileBackend } from './dev-key-backend.ts';
import type { KeyBackend } from './key-backend.ts';
import { Pkcs11Backend } from './pkcs11-backend.ts';
import { loadPolicy } from './policy.ts';
import { createSignerServer, listenOnSocket } from './server.ts';
import { SignService, type Logger } from './sign-service.ts';

const log: Logger = (event) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), service: 'amanat-signer', ...event })}\n`);
};

function configPath(): string {
  const index = process.argv.indexOf('--config');
  const path = index >= 0 ? process.argv[index + 1] : process.env.SIGNER_CONFIG;
  if (!path) throw new Error('usage: node --import tsx signer/src/main.ts --config <file>  (or set SIGNER_CONFIG)');
  return path;
}

async function main(): Promise<void> {
  const config = loadConfig(configPath());
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
  log({ event: 'fatal', error: error instanceof Error ? error.stack ?? error.message : String(error) });
  process.exit(1);
});
