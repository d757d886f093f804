// The crash tests' harness: a withdrawal worker as its own process (test/helpers/withdrawal-worker.ts),
// SIGKILLed at a random point after it is ready, restarted, until every withdrawal is completed.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type pg from 'pg';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * Starts the worker with `env`, kills it with SIGKILL 0..700 ms after it says it is ready, runs
 * `between` (mine a block), and again, until `ids` are all completed or `maxRounds` are used.
 */
export async function killUntilCompleted(input: { pool: pg.Pool; ids: string[]; env: Record<string, string>; between: () => Promise<unknown>; maxRounds?: number }): Promise<number> {
  let kills = 0;
  let worker: ChildProcess | undefined;
  try {
    for (let round = 0; round < (input.maxRounds ?? 400); round++) {
      worker = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/helpers/withdrawal-worker.ts')], {
        cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...input.env },
      });
      const started = worker;
      // Kill at a random point after the worker is working, not while it is still loading.
      await new Promise<void>((resolve) => {
        started.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('worker ready')) resolve(); });
        started.once('exit', () => resolve());
      });
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 700)));
      const exited = started.exitCode === null ? new Promise((r) => started.once('exit', r)) : Promise.resolve();
      started.kill('SIGKILL');
      await exited;
      kills++;
      await input.between();
      const { rows } = await input.pool.query<{ n: number }>(`select count(*)::int as n from withdrawals where id = any($1) and state <> 'completed'`, [input.ids]);
      if (rows[0]!.n === 0) break;
    }
  } finally {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  }
  return kills;
}
