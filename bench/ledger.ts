// npm run bench:ledger — prints, in one run on the same Postgres:
//   1. holds placed per second over HTTP with 32 concurrent connections (wrk; p50/p99 latency),
//   2. journal entries per second when posted in batches,
//   3. pgbench's TPC-B tps (the reference), on the same server.
// Figures are printed, not asserted: this is a benchmark, not a test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startPostgres, freePort } from '../src/platform/postgres-server.ts';
import { stopOnSignal } from '../scripts/stop-on-signal.ts';
import { createPool, ensureDatabase, migrate, setAppRolePassword, withDatabase, withUser, APP_ROLE } from '../src/platform/db.ts';
import { AssetRegistry } from '../src/assets/asset-registry.ts';
import { LedgerService, type EntryInput } from '../src/ledger/ledger-service.ts';

const root = path.resolve(import.meta.dirname, '..');
const HTTP_CLIENTS = 32;
const HTTP_SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const BATCH_SIZE = 200;
const BATCH_WORKERS = 4;
const BATCH_SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const PGBENCH_SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CLIENTS = 256;

function findPgbench(): string {
  const candidates = ['/usr/lib/postgresql'].filter(existsSync).flatMap((d) => readdirSync(d).map((v) => path.join(d, v, 'bin', 'pgbench')));
  const found = [...candidates, '/usr/bin/pgbench'].find(existsSync);
  if (!found) {
    console.error('bench: pgbench is missing. Install it with: apt-get update && apt-get install -y postgresql-15');
    process.exit(2);
  }
  return found;
}

function findWrk(): string {
  const found = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find(existsSync);
  if (!found) {
    console.error('bench: wrk is missing. Install it with: apt-get update && apt-get install -y wrk');
    process.exit(2);
  }
  return found;
}

/** user + system CPU seconds of a process, from /proc. */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function request(agent: http.Agent, port: number, method: string, urlPath: string, key: string, body?: unknown, idem?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: {
      authorization: `Bearer ${key}`, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
      ...(idem ? { 'idempotency-key': idem } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function main(): Promise<void> {
  const pgbench = findPgbench();
  const wrk = findWrk();
  const tmp = path.join(root, '.tmp', `bench-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const password = randomBytes(12).toString('hex');
  const server = await startPostgres({ dataDir: path.join(tmp, 'pg'), persistent: false, password });
  let api: ChildProcess | undefined;
  /** The API is asked to stop (it stops what it started) and waited for. */
  const stopApi = async () => {
    const running = api;
    api = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGTERM');
    await exited;
  };
  // Stopped before the end (Ctrl-C, a timeout): the API and Postgres go too.
  stopOnSignal(async () => {
    await stopApi();
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });
  try {
    console.log(`bench: Postgres 18 (embedded) on port ${server.port}; ${(await import('node:os')).cpus().length} cores`);
    await ensureDatabase(server.baseUrl, 'amanat_bench');
    const ownerUrl = withDatabase(server.baseUrl, 'amanat_bench');
    await migrate(ownerUrl);
    const appPassword = randomBytes(12).toString('hex');
    await setAppRolePassword(ownerUrl, appPassword);
    const appUrl = withUser(ownerUrl, APP_ROLE, appPassword);

    // --- the API as its own process, as in production
    const port = await freePort();
    api = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], {
      cwd: root, stdio: ['ignore', 'ignore', 'inherit'],
      // The ledger API alone: no signer or chain processes to measure around (or to leave behind).
      env: { ...process.env, DATABASE_URL: ownerUrl, DATABASE_APP_URL: appUrl, HTTP_PORT: String(port), LOG_LEVEL: 'warn', CHAINS_ENABLED: 'false',
        AMANAT_DATA_DIR: path.join(tmp, 'data'), DATABASE_POOL_MAX: '32', API_KEY_CACHE_MS: '5000' },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: HTTP_CLIENTS });
    const keyFile = path.join(tmp, 'data', 'secrets', 'bootstrap-admin.key');
    for (let i = 0; ; i++) {
      try {
        if (existsSync(keyFile) && (await request(agent, port, 'GET', '/readyz', '')).status === 200) break;
      } catch { /* not up yet */ }
      if (i > 600) throw new Error('the API did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const admin = readFileSync(keyFile, 'utf8').trim();
    const exchange = JSON.parse((await request(agent, port, 'POST', '/v1/api-keys', admin, { name: 'bench', role: 'exchange' }, 'bench-key')).body).secret as string;

    const clientIds: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const res = await request(agent, port, 'POST', '/v1/clients', exchange, { externalRef: `bench-${i}`, classification: 'retail', kzResident: true }, `bench-client-${i}`);
      clientIds.push(JSON.parse(res.body).id as string);
    }
    const pool = createPool(appUrl, BATCH_WORKERS + 2);
    const assets = new AssetRegistry(pool);
    await assets.load();
    const ledger = new LedgerService(pool, assets);
    const world = await ledger.systemAccountId(pool, 'USDT', 'external_world');
    const accounts: number[] = [];
    for (const id of clientIds) accounts.push(await ledger.clientAccountId(pool, id, 'USDT'));
    await ledger.postEntries(pool, accounts.map((a, i) => ({ idempotencyId: `bench-fund-${i}`, type: 'deposit', actor: 'bench',
      postings: [{ accountId: world, amount: -(10n ** 15n) }, { accountId: a, amount: 10n ** 15n }] })));

    // --- 1. HTTP holds, driven by wrk (C, epoll) so the load generator takes little of the 2 cores
    const script = path.join(tmp, 'holds.lua');
    writeFileSync(script, `
local ids = { ${clientIds.map((id) => `"${id}"`).join(', ')} }
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
  n = n + 1
  local body = '{"clientId":"' .. ids[(n % #ids) + 1] .. '","asset":"USDT","amount":"0.01","expiresInSeconds":3600}'
  return wrk.format("POST", "/v1/holds", { ["Authorization"] = "Bearer ${exchange}", ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "h" .. tid .. "-" .. n }, body)
end
`);
    const wrkRun = (seconds: number) => {
      const cpuBefore = processCpuSeconds(api!.pid!);
      const run = spawnSync(wrk, ['-t2', `-c${HTTP_CLIENTS}`, `-d${seconds}s`, '--latency', '-s', script, `http://127.0.0.1:${port}`], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr}`);
      return { out: run.stdout, apiCpu: (processCpuSeconds(api!.pid!) - cpuBefore) / seconds };
    };
    wrkRun(2); // warm-up
    const { out, apiCpu } = wrkRun(HTTP_SECONDS);
    const holdsPerSecond = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1]);
    const latency = (p: string) => {
      const m = new RegExp(`\\s${p}%\\s+([0-9.]+)(us|ms|s)`).exec(out);
      if (!m) return NaN;
      return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
    };
    const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const p50 = latency('50');
    const p99 = latency('99');
    agent.destroy();
    await stopApi();

    // --- 2. batched journal entries (transfers between random clients)
    let posted = 0;
    let batchSeq = 0;
    const batchWorker = async (until: number) => {
      while (Date.now() < until) {
        const batch: EntryInput[] = [];
        for (let i = 0; i < BATCH_SIZE; i++) {
          const n = ++batchSeq;
          const from = accounts[(n * 7919) % CLIENTS]!;
          let to = accounts[(n * 104729 + 1) % CLIENTS]!;
          if (to === from) to = accounts[((n * 104729 + 2) % CLIENTS)]!;
          batch.push({ idempotencyId: `bench-batch-${n}`, type: 'transfer', actor: 'bench', postings: [{ accountId: from, amount: -1n }, { accountId: to, amount: 1n }] });
        }
        await ledger.postEntries(pool, batch);
        posted += batch.length;
      }
    };
    await batchWorker(Date.now() + 1000);
    posted = 0;
    const batchStart = Date.now();
    await Promise.all(Array.from({ length: BATCH_WORKERS }, () => batchWorker(batchStart + BATCH_SECONDS * 1000)));
    const entriesPerSecond = posted / ((Date.now() - batchStart) / 1000);
    await pool.end();

    // --- 3. pgbench TPC-B on the same server
    await ensureDatabase(server.baseUrl, 'pgbench');
    const env = { ...process.env, PGPASSWORD: password };
    const base = ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres'];
    const init = spawnSync(pgbench, [...base, '-i', '-s', '10', '-q', 'pgbench'], { env, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    const tpcb = (clients: number) => {
      const run = spawnSync(pgbench, [...base, '-c', String(clients), '-j', '2', '-T', String(PGBENCH_SECONDS), 'pgbench'], { env, encoding: 'utf8' });
      const tps = /tps = ([0-9.]+)/.exec(run.stdout);
      if (!tps) throw new Error(`pgbench failed: ${run.stderr}`);
      return Number(tps[1]);
    };
    const tps8 = tpcb(8);
    const tps32 = tpcb(32);
    const reference = Math.max(tps8, tps32);

    const f = (n: number) => n.toFixed(0);
    console.log('');
    console.log('| measure | result | target |');
    console.log('|---|---|---|');
    console.log(`| pgbench TPC-B, 8 clients (reference) | ${f(tps8)} tps | |`);
    console.log(`| pgbench TPC-B, 32 clients (reference) | ${f(tps32)} tps | |`);
    console.log(`| HTTP holds, ${HTTP_CLIENTS} clients | ${f(holdsPerSecond)} holds/s = ${(holdsPerSecond / reference).toFixed(2)}× pgbench (best) | ≥ 1× |`);
    console.log(`| HTTP holds latency | p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ${errors} non-2xx | p99 ≤ 20 ms |`);
    console.log(`| API process CPU during the HTTP run | ${(apiCpu * 100).toFixed(0)} % of one core | |`);
    console.log(`| batched journal entries (${BATCH_SIZE}/batch, ${BATCH_WORKERS} connections) | ${f(entriesPerSecond)} entries/s = ${(entriesPerSecond / reference).toFixed(2)}× pgbench (best) | ≥ 7× |`);
  } finally {
    await stopApi();
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
