// Shared plumbing for dev chains run as child processes: free loopback ports, a process group we
// can kill as a whole, readiness polling with a named limit, and a log file to quote on failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChainError } from '../errors.ts';

/** How long a dev chain may take from spawn to answering RPC. */
export const DEV_CHAIN_READY_TIMEOUT_MS = 60_000;
/** How long stop() waits for a clean exit before SIGKILL. */
export const DEV_CHAIN_STOP_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 100;

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves an installed package's file, or fails loudly with the install command. */
export function resolveInstalled(pkg: string, file: string, installHint: string): string {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch (cause) {
    throw new ChainError('DEV_CHAIN_MISSING', `${pkg} is not installed; install it with: ${installHint}`, { pkg }, { cause });
  }
  return path.join(root, file);
}

export interface DevProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Last lines of the log, for error messages. */
  logTail(lines?: number): string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group: some CLIs fork helpers
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

/** Spawns `node script args…` in its own process group, stdout+stderr to `logFile`. */
export function spawnNodeScript(script: string, args: string[], options: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): DevProcess {
  const fd = openSync(options.logFile, 'a');
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', fd, fd], detached: true,
  });
  closeSync(fd);
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A crashed test run must not leave nodes behind.
    process.once('exit', () => { for (const c of live) killGroup(c, 'SIGKILL'); });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { live.delete(child); resolve(code); }));
  const logTail = (lines = 30): string => {
    try {
      return readFileSync(options.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killGroup(child, 'SIGTERM');
    const timer = sleep(DEV_CHAIN_STOP_TIMEOUT_MS, undefined, { ref: false }).then(() => 'timeout' as const);
    if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
      killGroup(child, 'SIGKILL');
      await exited;
    }
  };
  return { child, logFile: options.logFile, logTail, exited, stop };
}

/** Polls `probe` until it resolves, the process exits, or the named timeout passes. */
export async function waitUntilReady(name: string, proc: DevProcess, probe: () => Promise<unknown>, timeoutMs = DEV_CHAIN_READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => { exitCode = code; });
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new ChainError('DEV_CHAIN_FAILED', `${name} exited with code ${exitCode} before it was ready; log ${proc.logFile}:\n${proc.logTail()}`, { exitCode });
    }
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
    }
    await sleep(READY_POLL_MS);
  }
  await proc.stop();
  throw new ChainError('DEV_CHAIN_FAILED', `${name} did not answer within ${timeoutMs} ms; log ${proc.logFile}:\n${proc.logTail()}`, { timeoutMs }, { cause: lastError });
}
