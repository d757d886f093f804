// `npm run amanat -- <command>`: operator commands.
//   audit verify [--json]   walk the audit chain and journal hashes; exit 1 naming the first bad row
//   audit seal              seal pending audit rows into the chain now
//   keys create --role R --name N   create an API key (prints the secret once)
//   treasury pending | approve | reject   treasury approvals over the API (WDR-06)
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from './platform/config.ts';
import { createLogger } from './platform/logger.ts';
import { createPool, openDatabase } from './platform/db.ts';
import { readRuntime } from './platform/runtime-file.ts';
import { AuditLog } from './audit/audit-log.ts';
import { ApiKeyService, ROLES, type Role } from './auth/api-keys.ts';
import { inTransaction } from './platform/tx.ts';
import { readFileSync } from 'node:fs';
import { createPrivateKey, sign as cryptoSign, randomUUID } from 'node:crypto';
import { approvalMessage } from '../signer/src/intent.ts';
import { rejectionMessage } from './withdrawals/approvers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI prints whatever JSON the API answers
type Json = any;

async function api(method: string, path: string, body?: unknown): Promise<Json> {
  const base = process.env.AMANAT_API_URL ?? 'http://127.0.0.1:8080';
  const key = process.env.AMANAT_API_KEY;
  if (!key) throw new Error('set AMANAT_API_KEY to a treasury API key');
  const res = await fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json', 'idempotency-key': randomUUID() } : {}) } });
  const json = await res.json();
  if (res.status >= 400) throw new Error(`${res.status} ${(json as { code?: string }).code ?? ''}: ${(json as { detail?: string }).detail ?? ''}`);
  return json;
}

const USAGE = `usage: amanat <command>
  audit verify [--json]             verify the audit hash chain and the journal entry hashes
  audit seal                        seal pending audit rows into the chain
  keys create --role ROLE --name N  create an API key (${ROLES.join(', ')})
  treasury pending                  withdrawals waiting for approvals (AMANAT_API_URL, AMANAT_API_KEY: a treasury key)
  treasury approve ID --approver APPROVER_ID --key PEM_FILE [--valid-minutes N]
                                    sign the withdrawal's intent with the officer's own key and submit the approval
  treasury reject ID --approver APPROVER_ID --key PEM_FILE --reason TEXT [--valid-minutes N]
                                    sign a rejection of the withdrawal's intent with the officer's own key: one rejection ends it`;

async function withPool<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const running = config.database.url ? undefined : readRuntime(config.dataDir);
  if (config.database.url || running) {
    const url = config.database.appUrl ?? running?.appUrl ?? config.database.url!;
    const pool = createPool(url, 2, config.database.appUrl || running ? {} : { setRole: 'amanat_app' });
    try { return await fn(pool); } finally { await pool.end(); }
  }
  // No service running: start the embedded Postgres on the same data dir for the duration.
  const db = await openDatabase(config, createLogger('warn', 'amanat-cli'));
  try { return await fn(db.app); } finally { await db.close(); }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, role: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', default: false },
      approver: { type: 'string' }, key: { type: 'string' }, 'valid-minutes': { type: 'string' }, reason: { type: 'string' } },
  });
  const [group, command] = positionals;
  if (values.help || !group) { process.stdout.write(`${USAGE}\n`); return values.help ? 0 : 2; }

  if (group === 'audit' && command === 'verify') {
    const report = await withPool((pool) => new AuditLog(pool).verify());
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else if (report.ok) {
      process.stdout.write(`audit chain OK: ${report.checkedRows} rows chained (head ${report.headSeq} ${report.headHash}), ${report.unsealedRows} awaiting sealing; ${report.entries.checked} journal entries match their hashes\n`);
    } else {
      if (report.firstProblem) {
        const p = report.firstProblem;
        process.stdout.write(`audit chain BROKEN: ${p.problem} at audit row ${p.auditId ?? '-'} (chain link ${p.seq ?? '-'}): ${p.detail}\n`);
      }
      if (report.entries.firstBadEntryId !== undefined) {
        process.stdout.write(`journal BROKEN: entry ${report.entries.firstBadEntryId} does not match its hash or has no audit record\n`);
      }
    }
    return report.ok ? 0 : 1;
  }
  if (group === 'audit' && command === 'seal') {
    const n = await withPool(async (pool) => { const a = new AuditLog(pool); let total = 0; let k; while ((k = await a.seal()) > 0) total += k; return total; });
    process.stdout.write(`sealed ${n} audit rows\n`);
    return 0;
  }
  if (group === 'keys' && command === 'create') {
    const role = values.role as Role | undefined;
    if (!role || !ROLES.includes(role) || !values.name) { process.stderr.write(`${USAGE}\n`); return 2; }
    const { key, secret } = await withPool((pool) => inTransaction(pool, (q) => new ApiKeyService(pool, 0).create(q, { name: values.name!, role, createdBy: null })));
    process.stdout.write(`created ${key.role} key ${key.id} (${key.name}); secret (shown once):\n${secret}\n`);
    return 0;
  }
  if (group === 'treasury' && command === 'pending') {
    const { pending } = await api('GET', '/v1/treasury/approvals') as { pending: Json[] };
    for (const p of pending) {
      const w = p.withdrawal;
      process.stdout.write(`${w.id}  ${w.amount} ${w.asset} -> ${w.destination} (${w.destinationType})  client ${p.client?.external_ref}  from ${w.sourceTier}\n`
        + `    policy: ${w.policy?.outcome} ${JSON.stringify(w.policy?.reasons)}  travel rule: ${p.travelRule.status} (tier ${p.travelRule.tier ?? '-'}, ${p.travelRule.destinationType})`
        + `  hot ratio (retail) ${p.hotRatioRetailPct.before}% -> ${p.hotRatioRetailPct.after}%\n`
        + (p.screening ? `    screening: ${p.screening.outcome}, risk ${p.screening.riskScore}/${p.screening.highRiskScore}, ${p.screening.classification}${p.screening.vasp ? ` ${p.screening.vasp.name}` : ''}`
          + `${p.screening.tags.length ? ` [${p.screening.tags.join(', ')}]` : ''}  (${p.screening.listVersion})\n` : '')
        + `    approvals ${p.approvals.length}/${w.approvalsRequired}  intent ${p.intentHash}\n`);
    }
    if (pending.length === 0) process.stdout.write('nothing waits for approval\n');
    return 0;
  }
  if (group === 'treasury' && (command === 'approve' || command === 'reject')) {
    const id = positionals[2];
    if (!id || !values.approver || !values.key || (command === 'reject' && !values.reason)) { process.stderr.write(`${USAGE}\n`); return 2; }
    const { pending } = await api('GET', '/v1/treasury/approvals') as { pending: Json[] };
    const item = pending.find((p) => p.withdrawal.id === id);
    if (!item) throw new Error(`withdrawal ${id} is not waiting for approvals`);
    const key = createPrivateKey(readFileSync(values.key, 'utf8'));
    const algorithm = key.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'p256';
    const signedAt = new Date().toISOString();
    const expiresAt = new Date(Date.now() + Number(values['valid-minutes'] ?? 60) * 60_000).toISOString();
    const statement = { intentHash: item.intentHash as string, approverId: values.approver, signedAt, expiresAt };
    const message = command === 'approve' ? approvalMessage(statement) : rejectionMessage({ ...statement, reason: values.reason! });
    const signature = (algorithm === 'ed25519' ? cryptoSign(null, message, key) : cryptoSign('sha256', message, { key, dsaEncoding: 'der' })).toString('base64');
    if (command === 'approve') {
      const result = await api('POST', `/v1/treasury/approvals/${id}`, { approverId: values.approver, algorithm, intentHash: item.intentHash, signature, signedAt, expiresAt });
      process.stdout.write(`approved: ${result.approvals}/${result.required} approvals on ${id}\n`);
    } else {
      const result = await api('POST', `/v1/treasury/approvals/${id}/reject`, { approverId: values.approver, algorithm, intentHash: item.intentHash, signature, signedAt, expiresAt,
        reason: values.reason });
      process.stdout.write(`rejected: ${id} is ${result.state} (${result.failure?.code}); its hold is released\n`);
    }
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`amanat: ${(error as Error).message}\n`);
  process.exit(1);
});

