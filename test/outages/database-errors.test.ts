// R8: which errors mean "Postgres is unavailable right now" (503 DATABASE_UNAVAILABLE at the HTTP
// edge) and which do not (a fault of the request or of the code, mapped as before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDatabaseUnavailable } from '../../src/platform/db.ts';
import { statusFor } from '../../src/api/http-errors.ts';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code, severity: 'FATAL' });

test('R8 isDatabaseUnavailable: connection failures and server shutdowns are; statement errors are not', () => {
  const unavailable: [string, unknown][] = [
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111 })],
    ['connection reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['admin shutdown (fast shutdown, pg_terminate_backend)', pgError('57P01', 'terminating connection due to administrator command')],
    ['crash shutdown', pgError('57P02')],
    ['starting up / shutting down', pgError('57P03', 'the database system is starting up')],
    ['too many connections', pgError('53300')],
    ['connection exception class 08', pgError('08006')],
    ['connection failure class 08', pgError('08001')],
    ['socket closed under a client', new Error('Connection terminated unexpectedly')],
    ['a client whose connection died', new Error('Client has encountered a connection error and is not queryable')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['wrapped in a cause', new Error('outer', { cause: pgError('57P01') })],
    ['several addresses, all refused', new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })], 'connect failed')],
  ];
  for (const [what, error] of unavailable) assert.equal(isDatabaseUnavailable(error), true, what);
  const notUnavailable: [string, unknown][] = [
    ['a unique violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['a serialization failure (retried by the caller)', pgError('40001')],
    ['a check violation', pgError('23514')],
    ['our own SQL error', pgError('P0001', 'INSUFFICIENT_FUNDS: no')],
    ['a syntax error', pgError('42601')],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
    ['not an error', 'ECONNREFUSED'],
    ['nothing', undefined],
  ];
  for (const [what, error] of notUnavailable) assert.equal(isDatabaseUnavailable(error), false, what);
  assert.equal(statusFor('DATABASE_UNAVAILABLE'), 503);
});
