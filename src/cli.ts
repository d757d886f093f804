// `npm run amanat -- <command>`: operator commands.
//   audit verify [--json]   walk the audit chain and journal hashes; exit 1 naming the first bad row
//   audit seal              seal pending audit rows into the chain now
//   keys create --role R --name N   create an API key (prints the secret once)
//   treasury pending | approve | reject   treasury approvals over the API (WDR-06)
//
// Treasury approve and reject are idempotent commands (STYLE 4: the client-chosen id is persisted
// before submission). Each is one API request under one Idempotency-Key: --idempotency-key, or by
// default one derived from what the officer asked for (cli- + SHA-256 of command, path, approver,
// reason, validity), so the same command run again is the same request. A signed approval carries
// signedAt (and a P-256 signature is randomised), so signing again would make another body, which the
// API would refuse under the same key (IDEMPOTENCY_KEY_REUSED). Hence the signed request is written
// to a journal (AMANAT_CLI_STATE_DIR, default $XDG_STATE_HOME/amanat/cli-requests) before it is sent,
// and a run that finds its key there sends that very request again instead of signing: the API
// answers with its first answer (Idempotent-Replayed), or, if the first never arrived, takes it now.
// Nothing is asked of the API before that, so the first answer comes back even after the
// withdrawal has moved on. A new decision on the same withdrawal needs a new key.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from './platform/config.ts';
import { createLogger } from './platform/logger.ts';
import { createPool, openDatabase } from './platform/db.ts';
import { readRuntime } from './platform/runtime-file.ts';
import { AuditLog } from './audit/audit-log.ts';
import { ApiKeyService, ROLES, type Role } from './auth/api-keys.ts';
import { inTransaction } from './platform/tx.ts';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import nodePath from 'node:path';
import { createPrivateKey, sign as cryptoSign, randomBytes } from 'node:crypto';
import { approvalMessage } from '../signer/src/intent.ts';
import { rejectionMessage } from './withdrawals/approvers.ts';
import { hashOf, sha256Hex } from './platform/canonical.ts';
import { proofVerifyCommand, reportVerifyCommand } from './reports/cli-commands.ts';
import { latestDueDate } from './reconciliation/schedule.ts';
import { incidentsCommand, INCIDENTS_USAGE } from './incidents/incident-cli.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI prints whatever JSON the API answers
type Json = any;

/** What the API accepts as an Idempotency-Key (src/api/http-app.ts). */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,255}$/;
/** The signer's approval window is at most its intents' lifetime (24 h). */
const VALID_MINUTES_MAX = 24 * 60;
/** A journal entry is one signed request, under a thousand characters; anything far larger is not one. */
const JOURNAL_ENTRY_MAX_CHARS = 64 * 1024;

class UsageError extends Error {}

interface ApiAnswer { status: number; json: Json; replayed: boolean }

async function api(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<ApiAnswer> {
  const base = process.env.AMANAT_API_URL ?? 'http://127.0.0.1:8080';
  const key = process.env.AMANAT_API_KEY;
  if (!key) throw new Error('set AMANAT_API_KEY to a treasury API key');
  if (method !== 'GET' && !idempotencyKey) throw new Error(`${method} ${path} needs an idempotency key`);
  const res = await fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } });
  const json = await res.json();
  return { status: res.status, json, replayed: res.headers.get('idempotent-replayed') === 'true' };
}

function problemText(answer: ApiAnswer): string {
  return `${answer.status} ${(answer.json as { code?: string }).code ?? ''}: ${(answer.json as { detail?: string }).detail ?? ''}`;
}

/**
 * The Idempotency-Key of a treasury command when none is given: what the officer asked for (the
 * request line, the approver, the reason, the validity), never the time or the signature, so the
 * same command run again names the same request.
 */
function treasuryIdempotencyKey(command: { method: string; path: string; approverId: string; validMinutes: number; reason?: string }): string {
  // hashOf (not canonicalJson): a reason typed in any Unicode form must still name its request.
  return `cli-${hashOf({ v: 1, method: command.method, path: command.path, approverId: command.approverId, validMinutes: command.validMinutes, reason: command.reason ?? null })}`;
}

interface JournalEntry { version: 1; idempotencyKey: string; method: string; path: string; body: Record<string, unknown>; createdAt: string }

function journalDir(): string {
  const state = process.env.XDG_STATE_HOME || nodePath.join(homedir(), '.local', 'state');
  return nodePath.resolve(process.env.AMANAT_CLI_STATE_DIR || nodePath.join(state, 'amanat', 'cli-requests'));
}

/** The journal file of a key: named by its hash, so no key can name a path. */
const journalFile = (idempotencyKey: string): string => nodePath.join(journalDir(), `${sha256Hex(idempotencyKey)}.json`);

function readJournal(idempotencyKey: string): JournalEntry | undefined {
  const file = journalFile(idempotencyKey);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let entry: Partial<JournalEntry> | null = null;
  try { entry = text.length <= JOURNAL_ENTRY_MAX_CHARS ? JSON.parse(text) as Partial<JournalEntry> : null; } catch { entry = null; }
  if (!entry || entry.version !== 1 || entry.idempotencyKey !== idempotencyKey || typeof entry.method !== 'string' || typeof entry.path !== 'string'
    || !entry.body || typeof entry.body !== 'object' || typeof entry.createdAt !== 'string') {
    throw new Error(`the request journal ${file} is not a request of this CLI: move it away, or choose another --idempotency-key`);
  }
  return entry as JournalEntry;
}

/**
 * Persists the signed request before it is sent (durably, and only if no run wrote this key
 * first), and returns the entry that holds: this one, or the one written first.
 */
function writeJournal(entry: JournalEntry): JournalEntry {
  const file = journalFile(entry.idempotencyKey);
  mkdirSync(nodePath.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // The body holds the officer's signature and any rejection reason: readable by the officer only.
  writeFileSync(temporary, `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    const fd = openSync(temporary, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    try {
      linkSync(temporary, file); // atomic, and fails if another run published this key first
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const dir = openSync(nodePath.dirname(file), 'r');
    try { fsyncSync(dir); } finally { closeSync(dir); }
  } finally {
    unlinkSync(temporary);
  }
  return readJournal(entry.idempotencyKey)!;
}

/** The officer's signed approval or rejection of the withdrawal's intent, as the API takes it. */
async function signStatement(command: 'approve' | 'reject', id: string, options: { approverId: string; keyFile: string; validMinutes: number; reason?: string }): Promise<Record<string, unknown>> {
  const listed = await api('GET', '/v1/treasury/approvals');
  if (listed.status >= 400) throw new Error(problemText(listed));
  const { pending } = listed.json as { pending: Json[] };
  const item = pending.find((p) => p.withdrawal.id === id);
  if (!item) throw new Error(`withdrawal ${id} is not waiting for approvals`);
  const key = createPrivateKey(readFileSync(options.keyFile, 'utf8'));
  const algorithm = key.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'p256';
  const now = Date.now();
  const signedAt = new Date(now).toISOString();
  const expiresAt = new Date(now + options.validMinutes * 60_000).toISOString();
  const statement = { intentHash: item.intentHash as string, approverId: options.approverId, signedAt, expiresAt };
  const message = command === 'approve' ? approvalMessage(statement) : rejectionMessage({ ...statement, reason: options.reason! });
  const signature = (algorithm === 'ed25519' ? cryptoSign(null, message, key) : cryptoSign('sha256', message, { key, dsaEncoding: 'der' })).toString('base64');
  return { approverId: options.approverId, algorithm, intentHash: item.intentHash, signature, signedAt, expiresAt, ...(command === 'reject' ? { reason: options.reason } : {}) };
}

/** Approve or reject as one idempotent request: the journal's if this key has one, else newly signed and journalled first. */
async function treasuryDecision(command: 'approve' | 'reject', id: string, values: { approver?: string; key?: string; reason?: string; 'valid-minutes'?: string; 'idempotency-key'?: string }): Promise<number> {
  if (!id || !values.approver || !values.key || (command === 'reject' && !values.reason)) throw new UsageError('approve and reject need ID, --approver and --key; reject needs --reason');
  const validText = values['valid-minutes'] ?? '60';
  const validMinutes = /^[0-9]{1,4}$/.test(validText) ? Number(validText) : Number.NaN;
  if (!(validMinutes >= 1 && validMinutes <= VALID_MINUTES_MAX)) throw new UsageError(`--valid-minutes must be a whole number 1..${VALID_MINUTES_MAX}`);
  const explicitKey = values['idempotency-key'];
  if (explicitKey !== undefined && !IDEMPOTENCY_KEY.test(explicitKey)) throw new UsageError('--idempotency-key must be 1-255 characters [A-Za-z0-9_.:-]');
  const method = 'POST';
  const path = `/v1/treasury/approvals/${encodeURIComponent(id)}${command === 'reject' ? '/reject' : ''}`;
  const idempotencyKey = explicitKey ?? treasuryIdempotencyKey({ method, path, approverId: values.approver, validMinutes, reason: values.reason });

  let entry = readJournal(idempotencyKey);
  const resent = entry !== undefined;
  if (entry && (entry.method !== method || entry.path !== path || entry.body.approverId !== values.approver)) {
    throw new UsageError(`idempotency key ${idempotencyKey} names another request (${entry.method} ${entry.path} by ${String(entry.body.approverId)}): choose another key`);
  }
  if (!entry) {
    const body = await signStatement(command, id, { approverId: values.approver, keyFile: values.key, validMinutes, reason: values.reason });
    entry = writeJournal({ version: 1, idempotencyKey, method, path, body, createdAt: new Date().toISOString() });
  }
  const request = `request ${idempotencyKey}, signed at ${String(entry.body.signedAt)}`;
  let answer: ApiAnswer;
  try {
    answer = await api(entry.method, entry.path, entry.body, idempotencyKey);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the answer to ${request} is unknown: run the same command again to send the same request`);
  }
  if (answer.status >= 400) {
    const first = answer.replayed ? ' (the first answer to this request)' : '';
    throw new Error(`${problemText(answer)}${first}; ${request}${resent ? ' (sent again from the journal)' : ''}. To sign a new ${command === 'approve' ? 'approval' : 'rejection'}, run again with a new --idempotency-key`);
  }
  const note = answer.replayed ? `  (the first answer to ${request}, replayed)` : `  (${request})`;
  if (command === 'approve') process.stdout.write(`approved: ${answer.json.approvals}/${answer.json.required} approvals on ${id}\n${note}\n`);
  else process.stdout.write(`rejected: ${id} is ${answer.json.state} (${answer.json.failure?.code}); its hold is released\n${note}\n`);
  return 0;
}

const USAGE = `usage: amanat <command>
  audit verify [--json]             verify the audit hash chain and the journal entry hashes
  audit seal                        seal pending audit rows into the chain
  keys create --role ROLE --name N  create an API key (${ROLES.join(', ')})
  treasury pending                  withdrawals waiting for approvals (AMANAT_API_URL, AMANAT_API_KEY: a treasury key)
  treasury approve ID --approver APPROVER_ID --key PEM_FILE [--valid-minutes N] [--idempotency-key K]
                                    sign the withdrawal's intent with the officer's own key and submit the approval
  treasury reject ID --approver APPROVER_ID --key PEM_FILE --reason TEXT [--valid-minutes N] [--idempotency-key K]
                                    sign a rejection of the withdrawal's intent with the officer's own key: one rejection ends it
  Approve and reject are idempotent: the same command run again sends the same signed request (kept in
  AMANAT_CLI_STATE_DIR, default ~/.local/state/amanat/cli-requests) and prints the API's first answer.
  K defaults to one derived from the command; give a new K to sign a new decision.
  rebalance --dry-run [--json]      the hot/cold ratios and the rebalancer's plan, client by client; nothing moves (HOT-02)
  rebalance [--json]                run the rebalancer now: snapshot the ratios and create the planned sweeps and refills
                                    (AMANAT_API_KEY: a treasury or admin key; --dry-run also takes an auditor key)
  recon run [--date YYYY-MM-DD] [--json]
                                    run the daily reconciliation of a date now (default: the latest cut-off passed,
                                    Astana time); idempotent per date (AMANAT_API_KEY: an admin key)
  report verify FILE [--signature SIGFILE] [--public-key HEX]
                                    verify a downloaded report offline (JSON embeds its signature; CSV/PDF need the
                                    detached signature file); exit 0 valid, 1 invalid (docs/reports.md)
  proof verify FILE [--report SIGNED_REPORT.json] [--root HASH --sum N]
                                    verify a proof-of-reserves inclusion proof offline (docs/reports.md)
${INCIDENTS_USAGE}`;

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
      approver: { type: 'string' }, key: { type: 'string' }, 'valid-minutes': { type: 'string' }, reason: { type: 'string' }, 'idempotency-key': { type: 'string' },
      signature: { type: 'string' }, 'public-key': { type: 'string' }, report: { type: 'string' }, root: { type: 'string' }, sum: { type: 'string' },
      'dry-run': { type: 'boolean', default: false }, date: { type: 'string' },
      state: { type: 'string' }, reference: { type: 'string' }, 'not-a-breach': { type: 'string' }, 'decided-by': { type: 'string' }, note: { type: 'string' }, format: { type: 'string' } },
  });
  const [group, command] = positionals;
  if (values.help || !group) { process.stdout.write(`${USAGE}\n`); return values.help ? 0 : 2; }

  // Offline: no configuration, database or API.
  const io = { stdout: (text: string) => process.stdout.write(text), stderr: (text: string) => process.stderr.write(text) };
  if (group === 'report' && command === 'verify') return reportVerifyCommand({ file: positionals[2], signature: values.signature, publicKey: values['public-key'] }, io);
  if (group === 'proof' && command === 'verify') return proofVerifyCommand({ file: positionals[2], report: values.report, root: values.root, sum: values.sum }, io);
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
    const answer = await api('GET', '/v1/treasury/approvals');
    if (answer.status >= 400) throw new Error(problemText(answer));
    const { pending } = answer.json as { pending: Json[] };
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
    try {
      return await treasuryDecision(command, positionals[2] ?? '', values);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`amanat: ${error.message}\n${USAGE}\n`);
      return 2;
    }
  }
  if (group === 'incidents') return incidentsCommand(command, positionals[2], values, io);
  if (group === 'rebalance' && command === undefined) return rebalance(values['dry-run'], values.json);
  if (group === 'recon' && command === 'run') return reconRun(values.date, values.json);
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

/**
 * REC-01: `amanat recon run [--date YYYY-MM-DD]` runs the reconciliation of a date now (default: the
 * latest date whose cut-off passed, Astana time) through POST /v1/reconciliations (an admin key).
 * One Idempotency-Key per date: the same command again is the same request, and the run is per date.
 */
async function reconRun(date: string | undefined, json: boolean): Promise<number> {
  if (date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new UsageError('--date is YYYY-MM-DD');
  const reportDate = date ?? latestDueDate(new Date(), loadConfig().reconciliation.cutoffTime);
  const answer = await api('POST', '/v1/reconciliations', { reportDate }, `cli-recon-${reportDate}`);
  if (answer.status >= 400) throw new Error(problemText(answer));
  if (json) { process.stdout.write(`${JSON.stringify(answer.json, null, 2)}\n`); return 0; }
  const run = answer.json.run as Json;
  process.stdout.write(`reconciliation ${run.reportDate}: ${run.state}; report ${run.reportId ?? '-'}; ${JSON.stringify(run.summary ?? {})}\n`);
  return run.state === 'done' ? 0 : 1;
}

/** HOT-02: `amanat rebalance --dry-run` prints the plan (GET /v1/rebalancing/plan); without it, runs the rebalancer now. */
async function rebalance(dryRun: boolean, json: boolean): Promise<number> {
  const pct = (bp: number | null) => (bp === null ? '-' : `${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, '0')} %`);
  // A run is idempotent by itself (one tier move per client and asset in flight); each run is its own request.
  const answer = dryRun ? await api('GET', '/v1/rebalancing/plan') : await api('POST', '/v1/rebalancing/run', {}, `cli-rebalance-${randomBytes(12).toString('hex')}`);
  if (answer.status >= 400) throw new Error(problemText(answer));
  if (json) { process.stdout.write(`${JSON.stringify(answer.json, null, 2)}\n`); return 0; }
  const { ratios, plan, created } = answer.json as { ratios: Json; plan: Json; created?: Json[] };
  for (const a of ratios.assets) {
    process.stdout.write(`${a.asset}  retail hot ${a.retail.hot} / cold ${a.retail.cold} = ${pct(a.retail.shareBp)} (after moves in flight ${pct(a.retail.projectedShareBp)}; `
      + `target ${pct(a.retail.targetBp)}, alert ${pct(a.retail.alertBp)}, cap ${pct(a.retail.capBp)})${a.retail.breach ? '  BREACH' : ''}`
      + `   all clients ${pct(a.allClients.shareBp)}\n`);
  }
  if (ratios.usd) process.stdout.write(`USD  retail ${pct(ratios.usd.retail.shareBp)}  all clients ${pct(ratios.usd.allClients.shareBp)}  (prices ${ratios.usd.priceVersion})\n`);
  process.stdout.write(`${dryRun ? 'plan (dry run, nothing moves)' : 'plan'}: ${plan.moves.length} move(s)\n`);
  for (const m of plan.moves) {
    process.stdout.write(`  ${m.kind} ${m.amount} ${m.asset}  client ${m.clientId}  ${m.from} wallet ${m.sourceWalletId} -> ${m.to} wallet ${m.destinationWalletId}`
      + `  hot share ${pct(m.shareBpBefore)} -> ${pct(m.shareBpAfter)}  (${m.why})\n`);
  }
  for (const s of plan.skipped) process.stdout.write(`  skipped ${s.asset} client ${s.clientId}: ${s.reason}\n`);
  if (created) process.stdout.write(`created ${created.length} tier move(s): ${created.map((w: Json) => `${w.kind} ${w.id}`).join(', ') || '-'}\n`);
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`amanat: ${(error as Error).message}\n`);
  process.exit(1);
});

