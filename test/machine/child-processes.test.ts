// `npm start` leaves no process behind: every process that was its descendant (the service, the
// signer, Postgres and its backends, the bcoin node, the Hardhat node) is gone once it has exited,
// whether it was stopped with SIGTERM or SIGINT sent to npm, with Ctrl-C (SIGINT to the whole
// process group), or failed at start after its children were running. Descendants are read from
// /proc while it runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/platform/postgres-server.ts';

const root = path.resolve(import.meta.dirname, '../..');
// One data dir for the three starts: later starts reuse the chain, the cluster and the tokens.
const dataDir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'children-'));

interface Proc { pid: number; ppid: number; state: string; startTime: string; cmd: string }

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid … starttime(22nd)": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim(); } catch { /* gone meanwhile */ }
    return { pid, state: fields[0]!, ppid: Number(fields[1]), startTime: fields[19]!, cmd };
  } catch {
    return undefined;
  }
}

function processTable(): Proc[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map((name) => readProc(Number(name))).filter((p): p is Proc => p !== undefined);
}

/** Adds every current descendant of `rootPid` to `seen` (keyed by pid and start time, so a reused pid is not confused). */
function collectDescendants(rootPid: number, seen: Map<string, Proc>): void {
  const table = processTable();
  const children = new Map<number, Proc[]>();
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const queue = [rootPid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      const key = `${child.pid}:${child.startTime}`;
      // An exiting process shows an empty command line: keep the one seen while it ran.
      seen.set(key, child.cmd === '' && seen.has(key) ? { ...child, cmd: seen.get(key)!.cmd } : child);
      queue.push(child.pid);
    }
  }
}

/** Still running: same pid and start time, and not a zombie waiting to be reaped. */
const alive = (p: Proc) => {
  const now = readProc(p.pid);
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z';
};

const everSeen = new Map<string, Proc>();
const started: ChildProcess[] = [];
// This test process stopped from outside (the runner stopped, Ctrl-C): each npm start it began is
// stopped too; it runs in a process group of its own, which no signal to ours reaches.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    process.exit(1);
  });
}
after(() => {
  // Whatever a failed run left behind, this test started: stop it so the suite goes on clean.
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const p of everSeen.values()) if (alive(p)) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
});

interface Run { child: ChildProcess; output: () => string; seen: Map<string, Proc>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

/** `npm start` in a process group of its own (a terminal's foreground job), watching its descendants. */
function npmStart(port: number): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, AMANAT_DATA_DIR: dataDir, HTTP_PORT: String(port), LOG_LEVEL: 'warn', AMANAT_ENV: 'development' };
  for (const k of ['DATABASE_URL', 'DATABASE_APP_URL', 'SIGNER_SOCKET', 'BITCOIN_RPC_URL', 'ETHEREUM_RPC_URL', 'CHAINS_ENABLED']) delete env[k];
  const child = spawn('npm', ['start'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const seen = new Map<string, Proc>();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => { done = true; });
  // Watch the tree until npm has exited (a crash may take its children with it between two looks).
  void (async () => {
    while (!done) {
      collectDescendants(child.pid!, seen);
      for (const [k, p] of seen) everSeen.set(k, p);
      await sleep(50);
    }
  })();
  return { child, output: () => output, seen, exited };
}

/** Polls are counted, not timed: a start that never answers fails with what it printed. */
async function waitReady(run: Run, port: number): Promise<void> {
  for (let poll = 0; ; poll++) {
    assert.ok(run.child.exitCode === null && run.child.signalCode === null, `npm start exited:\n${run.output()}`);
    assert.ok(poll < 6000, `npm start never became ready:\n${run.output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 && /is listening on/.test(run.output())) return;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
}

/** Every child component was running under npm start, so the test looks at the processes that matter. */
function assertComponentsSeen(seen: Map<string, Proc>, output: string): void {
  const cmds = [...seen.values()].map((p) => p.cmd);
  for (const [name, pattern] of [['signer', /signer\/src\/main\.ts/], ['Postgres', /\/postgres .*-D /], ['bcoin', /^bcoin$|bcoin-node\.cjs/], ['Hardhat', /hardhat.* node /]] as const) {
    assert.ok(cmds.some((c) => pattern.test(c)), `${name} was a descendant of npm start: ${JSON.stringify(cmds, null, 1)}\n${output}`);
  }
}

/** npm start ends after it was told to stop; counted polls, so one that never ends fails with what it printed. */
async function waitExit(run: Run, how: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  for (let poll = 0; run.child.exitCode === null && run.child.signalCode === null; poll++) {
    assert.ok(poll < 600, `npm start still running after ${how}:\n${run.output()}`);
    await sleep(100);
  }
  return run.exited;
}

/** After npm start has exited, none of its descendants is left. Counted polls give the kernel time to reap. */
async function assertNoneLeft(seen: Map<string, Proc>, how: string): Promise<void> {
  let left: Proc[] = [];
  for (let poll = 0; poll < 50; poll++) {
    left = [...seen.values()].filter(alive);
    if (left.length === 0) return;
    await sleep(100);
  }
  assert.deepEqual(left.map((p) => `${p.pid} ${p.cmd}`), [], `processes left behind after ${how}`);
}

test('WAL-08 npm start stopped with SIGTERM leaves no process behind: signer, Postgres, bcoin and Hardhat stop with it', async () => {
  const port = await freePort();
  const run = npmStart(port);
  await waitReady(run, port);
  collectDescendants(run.child.pid!, run.seen);
  assertComponentsSeen(run.seen, run.output());
  process.kill(run.child.pid!, 'SIGTERM');
  const { code, signal } = await waitExit(run, 'SIGTERM');
  assert.ok(code === 0 || signal === 'SIGTERM' || code === 143, `npm start ended with ${code ?? signal}:\n${run.output()}`);
  await assertNoneLeft(run.seen, 'SIGTERM');
});

test('WAL-08 npm start stopped with SIGINT (kill -INT, to npm alone) leaves no process behind', async () => {
  const port = await freePort();
  const run = npmStart(port);
  await waitReady(run, port);
  collectDescendants(run.child.pid!, run.seen);
  assertComponentsSeen(run.seen, run.output());
  process.kill(run.child.pid!, 'SIGINT');
  await waitExit(run, 'SIGINT');
  await assertNoneLeft(run.seen, 'SIGINT');
});

test('WAL-08 npm start stopped with Ctrl-C (SIGINT to its process group) leaves no process behind', async () => {
  const port = await freePort();
  const run = npmStart(port);
  await waitReady(run, port);
  collectDescendants(run.child.pid!, run.seen);
  assertComponentsSeen(run.seen, run.output());
  process.kill(-run.child.pid!, 'SIGINT');
  await waitExit(run, 'Ctrl-C');
  await assertNoneLeft(run.seen, 'SIGINT to the process group');
});

test('WAL-08 npm start that fails after its children started (HTTP port taken) exits 1 and leaves no process behind', async () => {
  const taken: Server = createServer();
  const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
  try {
    const run = npmStart(port);
    const { code } = await waitExit(run, 'a failed start');
    assert.notEqual(code, 0, run.output());
    assert.match(run.output(), /EADDRINUSE/);
    assertComponentsSeen(run.seen, run.output());
    await assertNoneLeft(run.seen, 'a failed start');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
