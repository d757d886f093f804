// The treasury CLI's approve and reject are idempotent (WDR-06; issue 11 §2, STYLE 4): one command
// is one API request under one Idempotency-Key (--idempotency-key, or derived from the command),
// and the signed request is journalled before it is sent, so running the same command again sends
// the same request and prints the API's first answer, never a second approval attempt. Against the
// real API on a real bcoin regtest node, the real signer on SoftHSM2 and a Postgres clone; the CLI
// runs as its own process, as an officer runs it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tempDir, type TestApprover } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { coldWaiting, runCli, startTreasuryHttp, type CliRun, type TreasuryHttp } from '../helpers/treasury.ts';


let f: WithdrawalFixture;
let http: TreasuryHttp;

before(async () => {
  f = await startWithdrawals('bitcoin');
  http = await startTreasuryHttp(f, 'treasury-cli');
});

after(async () => {
  await http?.close();
  await f?.close();
});

type Run = CliRun;

/** `amanat …` as its own process, with its request journal in `stateDir`. */
function cli(args: string[], stateDir: string, apiUrl = http.url): Promise<Run> {
  return runCli(args, { apiUrl, apiKey: http.keys.treasury, stateDir });
}

/** The officer's key file, as `treasury approve --key` reads it. */
function keyFileOf(approver: TestApprover): string {
  const file = path.join(tempDir('officer-key'), `${approver.id}.pem`);
  writeFileSync(file, approver.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return file;
}

/** What the API recorded for requests to `route`: idempotency records (their keys) and audited calls. */
async function requestsTo(route: string): Promise<{ keys: string[]; audited: number }> {
  const { rows } = await f.db.app.query<{ key: string }>('select key from idempotency_keys where path = $1 order by created_at', [route]);
  const { rows: [audit] } = await f.db.app.query<{ n: number }>(`select count(*)::int as n from audit_log where details->>'path' = $1`, [route]);
  return { keys: rows.map((r) => r.key), audited: audit!.n };
}

async function approvalsOf(withdrawalId: string): Promise<{ approver_id: string; signed_at: Date; signature: string }[]> {
  return (await f.db.app.query('select approver_id, signed_at, signature from withdrawal_approvals where withdrawal_id = $1 order by approver_id', [withdrawalId])).rows;
}

test('WDR-06 CLI: the same `treasury approve` run twice is one request: the second run prints the API’s first answer (replayed) and makes no second approval attempt, also after the withdrawal has left the queue', async () => {
  const { w } = await coldWaiting(f);
  const [alice, bob] = f.approvers;
  const stateDir = tempDir('cli-state');
  const route = `/v1/treasury/approvals/${w.id}`;
  const approveAlice = ['treasury', 'approve', w.id, '--approver', alice!.id, '--key', keyFileOf(alice!)];

  const first = await cli(approveAlice, stateDir);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`^approved: 1/2 approvals on ${w.id}\\n`));
  assert.doesNotMatch(first.stdout, /replayed/);
  const afterFirst = await requestsTo(route);
  assert.equal(afterFirst.keys.length, 1);
  assert.match(afterFirst.keys[0]!, /^cli-[0-9a-f]{64}$/, 'a key derived from the command, not a random one');
  assert.equal(afterFirst.audited, 1);
  const [recorded] = await approvalsOf(w.id);

  const again = await cli(approveAlice, stateDir);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^approved: 1/2 approvals on ${w.id}\\n  \\(the first answer to request ${afterFirst.keys[0]}, signed at ${recorded!.signed_at.toISOString()}, replayed\\)`));
  assert.deepEqual(await requestsTo(route), afterFirst, 'the same request: the API replayed its answer, nothing was handled or audited again');
  assert.deepEqual(await approvalsOf(w.id), [recorded], 'the approval is the first one, signature and time included');

  // Bob's approval completes the quorum; the pipeline signs and the chain confirms.
  const bobs = await cli(['treasury', 'approve', w.id, '--approver', bob!.id, '--key', keyFileOf(bob!)], stateDir);
  assert.equal(bobs.code, 0, bobs.stderr);
  assert.match(bobs.stdout, /^approved: 2\/2 approvals/);
  const done = await f.settle(w.id, { untilState: 'completed' });
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));

  // Long after, Alice's command still gets its first answer (the old CLI said "not waiting for approvals").
  const late = await cli(approveAlice, stateDir);
  assert.equal(late.code, 0, late.stderr);
  assert.match(late.stdout, /^approved: 1\/2 approvals on .*\n {2}\(the first answer to request cli-[0-9a-f]{64}, signed at .*, replayed\)/);
  assert.equal((await requestsTo(route)).keys.length, 2, 'Alice’s and Bob’s requests only');
  // Another validity is another command, so another request: that one asks the API, and there is nothing left to approve.
  const other = await cli([...approveAlice, '--valid-minutes', '30'], stateDir);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /not waiting for approvals/);
  assert.equal((await requestsTo(route)).keys.length, 2);
});

test('WDR-06 CLI: an approval whose answer was lost is sent again as the same signed request (journalled before it was sent) and counted once', async () => {
  const { w } = await coldWaiting(f);
  const [alice] = f.approvers;
  const stateDir = tempDir('cli-state-lost');
  const route = `/v1/treasury/approvals/${w.id}`;
  // A connection that drops the first POST's answer after the API has handled it.
  const upstream = new URL(http.url);
  let dropped = 0;
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          if (req.method === 'POST' && dropped === 0) {
            dropped += 1;
            req.socket.destroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(body));
        });
      });
      forward.on('error', () => res.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const args = ['treasury', 'approve', w.id, '--approver', alice!.id, '--key', keyFileOf(alice!), '--valid-minutes', '45'];
    const lost = await cli(args, stateDir, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    assert.equal(dropped, 1, 'the answer was dropped');
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, /the answer to request cli-[0-9a-f]{64}, signed at \S+ is unknown: run the same command again to send the same request/);
    const handled = await requestsTo(route);
    assert.equal(handled.keys.length, 1, 'the API handled it');
    const [recorded] = await approvalsOf(w.id);

    // The journal held the signed request before it went out: readable by the officer only.
    const files = readdirSync(stateDir);
    assert.equal(files.length, 1, files.join(', '));
    assert.equal(statSync(path.join(stateDir, files[0]!)).mode & 0o777, 0o600);
    const entry = JSON.parse(readFileSync(path.join(stateDir, files[0]!), 'utf8'));
    assert.equal(entry.idempotencyKey, handled.keys[0]);
    assert.equal(entry.path, route);
    assert.deepEqual([entry.body.signedAt, entry.body.signature], [recorded!.signed_at.toISOString(), recorded!.signature]);

    const retried = await cli(args, stateDir);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /^approved: 1\/2 approvals on .*\n {2}\(the first answer to request cli-[0-9a-f]{64}, signed at .*, replayed\)/);
    assert.deepEqual(await requestsTo(route), handled, 'one request, answered twice');
    assert.deepEqual(await approvalsOf(w.id), [recorded], 'one approval, as first signed');
  } finally {
    proxy.closeAllConnections();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});

test('WDR-06 CLI: --idempotency-key names the request: the same key replays a rejection’s first answer; a key naming another request, a malformed key or validity is refused before anything is sent', async () => {
  const { w } = await coldWaiting(f);
  const [, , carol] = f.approvers;
  const stateDir = tempDir('cli-state-key');
  const keyFile = keyFileOf(carol!);
  const route = `/v1/treasury/approvals/${w.id}/reject`;
  const key = `reject-${w.id}`;
  const reject = ['treasury', 'reject', w.id, '--approver', carol!.id, '--key', keyFile, '--reason', 'Client asked to stop it by phone', '--idempotency-key', key];

  const first = await cli(reject, stateDir);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`^rejected: ${w.id} is rejected \\(TREASURY_REJECTED\\); its hold is released\\n {2}\\(request ${key}, signed at \\S+\\)`));
  assert.deepEqual(await requestsTo(route), { keys: [key], audited: 1 });

  const again = await cli(reject, stateDir);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^rejected: ${w.id} is rejected \\(TREASURY_REJECTED\\); its hold is released\\n {2}\\(the first answer to request ${key}, signed at \\S+, replayed\\)`));
  assert.deepEqual(await requestsTo(route), { keys: [key], audited: 1 });

  const everything = async () => (await f.db.app.query('select (select count(*)::int from idempotency_keys) as keys, (select count(*)::int from audit_log) as audited')).rows[0];
  const before = await everything();
  const refusals: [string[], RegExp][] = [
    [['treasury', 'approve', w.id, '--approver', carol!.id, '--key', keyFile, '--idempotency-key', key], /idempotency key .* names another request \(POST .*\/reject by /],
    [[...reject.slice(0, -1), 'not a key!'], /--idempotency-key must be 1-255 characters/],
    [[...reject.slice(0, -2), '--valid-minutes', '0'], /--valid-minutes must be a whole number 1\.\.1440/],
    [[...reject.slice(0, -2), '--valid-minutes', '1.5'], /--valid-minutes must be a whole number/],
    [[...reject.slice(0, -2), '--valid-minutes', '100000'], /--valid-minutes must be a whole number/],
    [['treasury', 'reject', w.id, '--approver', carol!.id, '--key', keyFile], /reject needs --reason/],
  ];
  for (const [args, message] of refusals) {
    const run = await cli(args, stateDir);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  assert.deepEqual(await everything(), before, 'nothing was sent');
});
