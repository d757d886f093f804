import type pg from 'pg';

/** Anything that runs a query: a pool or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization failure, deadlock
const MAX_ATTEMPTS = 3;

/** Runs fn in one transaction; retries on deadlock or serialization failure. */
export async function inTransaction<T>(pool: pg.Pool, fn: (q: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      const code = (error as { code?: string }).code;
      if (attempt < MAX_ATTEMPTS && code !== undefined && RETRYABLE.has(code)) continue;
      throw error;
    } finally {
      client.release();
    }
  }
}
