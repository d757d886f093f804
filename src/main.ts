// `npm start`: the service on its embedded defaults (own Postgres under ./data) or on DATABASE_URL.
import { writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, redactedConfig } from './platform/config.ts';
import { createLogger } from './platform/logger.ts';
import { openDatabase } from './platform/db.ts';
import { inTransaction } from './platform/tx.ts';
import { writeRuntime, removeRuntime } from './platform/runtime-file.ts';
import { createAmanat, VERSION } from './app.ts';
import { isDomainError } from './platform/errors.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  log.info({ version: VERSION, config: redactedConfig(config) }, 'starting Amanat');
  mkdirSync(config.dataDir, { recursive: true });

  const db = await openDatabase(config, log);
  const amanat = await createAmanat({ pool: db.app, config, log });

  const keyFile = config.auth.bootstrapAdminKeyFile ?? path.join(config.dataDir, 'secrets', 'bootstrap-admin.key');
  const secret = await inTransaction(db.app, (q) => amanat.services.apiKeys.bootstrapAdmin(q));
  if (secret) {
    mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, `${secret}\n`, { mode: 0o600 });
  }

  const server = amanat.http.listen(config.http.port, config.http.host);
  await new Promise<void>((resolve, reject) => { server.once('listening', resolve); server.once('error', reject); });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.http.host}:${port}`;
  amanat.startBackground();
  writeRuntime(config.dataDir, { pid: process.pid, ownerUrl: db.ownerUrl, appUrl: db.appUrl, httpUrl: url });

  const lines = [
    '',
    `Amanat ${VERSION} is listening on ${url}`,
    `  Postgres: ${db.embedded ? `embedded, data in ${path.join(config.dataDir, 'pg')}` : 'DATABASE_URL'}`,
    existsSync(keyFile)
      ? `  Bootstrap admin API key: ${keyFile}${secret ? ' (written now)' : ''}`
      : '  Bootstrap admin API key: an admin key already exists (its file is not here)',
    `  OpenAPI: ${url}/openapi.json`,
    '  Try:',
    `    curl -s -H "Authorization: Bearer $(cat ${keyFile})" ${url}/v1/assets`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await amanat.stopBackground();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await amanat.services.audit.sealAll().catch(() => undefined);
    removeRuntime(config.dataDir);
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (isDomainError(error) && error.code === 'CONFIG_INVALID') {
    process.stderr.write(`amanat: bad configuration: ${error.message}\n`);
  } else {
    process.stderr.write(`amanat: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exit(1);
});
