// The offline CLI commands (no API, no database):
//   amanat report verify FILE [--signature SIGFILE] [--public-key HEX]
//   amanat proof verify FILE [--report SIGNED_REPORT.json] [--root HASH] [--sum N]
// Exit 0: valid; 1: invalid, with the reason; 2: usage.
import { readFileSync } from 'node:fs';
import { reportKeyFingerprint } from '../../signer/src/report-manifest.ts';
import { verifyReportFile } from './report-file.ts';
import { rootPublishedIn, verifyInclusion, type InclusionProof } from './proof-of-reserves.ts';

export interface Out { stdout(text: string): void; stderr(text: string): void }

function readFile(path: string, what: string, out: Out): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    out.stderr(`amanat: cannot read the ${what} ${path}: ${(error as Error).message}\n`);
    return undefined;
  }
}

export function reportVerifyCommand(args: { file?: string | undefined; signature?: string | undefined; publicKey?: string | undefined }, out: Out): number {
  if (!args.file) { out.stderr('usage: amanat report verify FILE [--signature SIGFILE] [--public-key HEX]\n'); return 2; }
  const file = readFile(args.file, 'report', out);
  if (!file) return 1;
  let signatureFile: Buffer | undefined;
  if (args.signature) {
    signatureFile = readFile(args.signature, 'signature file', out);
    if (!signatureFile) return 1;
  }
  if (args.publicKey !== undefined && !/^(02|03)[0-9a-fA-F]{64}$/.test(args.publicKey)) {
    out.stderr('amanat: --public-key is the compressed secp256k1 report key (66 hex characters, from GET /v1/audit/report-key)\n');
    return 2;
  }
  const result = verifyReportFile(file, { ...(signatureFile ? { signatureFile } : {}), ...(args.publicKey ? { publicKey: args.publicKey.toLowerCase() } : {}) });
  const label = result.manifest ? `${result.manifest.kind} report ${result.manifest.reportKey}` : 'report';
  if (!result.ok) {
    out.stdout(`INVALID: ${label}${result.format ? ` (${result.format})` : ''}: ${result.reason}\n`);
    return 1;
  }
  out.stdout(`VALID: ${label} (${result.format}), content ${result.manifest?.contentHash}, signed at ${result.manifest?.signedAt}\n`
    + `  report key ${result.publicKey}\n  fingerprint ${result.fingerprint}\n`);
  if (result.keyFromFile) {
    out.stdout('WARNING: checked against the key the file names itself. Compare the fingerprint above with the published report key '
      + '(GET /v1/audit/report-key, or the key your auditor was given), or pass it with --public-key.\n');
  }
  return 0;
}


export function proofVerifyCommand(args: { file?: string | undefined; report?: string | undefined; root?: string | undefined; sum?: string | undefined }, out: Out): number {
  if (!args.file) { out.stderr('usage: amanat proof verify FILE [--report SIGNED_REPORT.json] [--root HASH] [--sum N]\n'); return 2; }
  const bytes = readFile(args.file, 'proof file', out);
  if (!bytes) return 1;
  let document: { proof?: InclusionProof; root?: { hash?: string; sum?: string } } & Partial<InclusionProof>;
  try {
    document = JSON.parse(bytes.toString('utf8')) as typeof document;
  } catch {
    out.stdout('INVALID: the proof file is not JSON\n');
    return 1;
  }
  // The API's answer ({ proof, root, ... }) or a bare proof with --root and --sum.
  const proof = (document.proof ?? document) as InclusionProof;
  const rootHash = args.root ?? document.root?.hash;
  const rootSum = args.sum ?? document.root?.sum;
  if (rootHash === undefined || rootSum === undefined) { out.stdout('INVALID: no root to check against (give --root and --sum, or the API\'s proof answer)\n'); return 1; }
  if (args.root !== undefined && document.root?.hash !== undefined && document.root.hash !== args.root) {
    out.stdout(`INVALID: the file's root ${document.root.hash} is not the published root ${args.root}\n`);
    return 1;
  }
  if (args.sum !== undefined && document.root?.sum !== undefined && document.root.sum !== args.sum) {
    out.stdout(`INVALID: the file's root sum ${document.root.sum} is not the published sum ${args.sum}\n`);
    return 1;
  }
  const result = verifyInclusion(proof, { hash: rootHash, sum: rootSum });
  if (!result.ok) { out.stdout(`INVALID: ${result.reason}\n`); return 1; }
  if (args.report) {
    const reportBytes = readFile(args.report, 'signed report', out);
    if (!reportBytes) return 1;
    const report = verifyReportFile(reportBytes);
    if (!report.ok) { out.stdout(`INVALID: the signed report does not verify: ${report.reason}\n`); return 1; }
    const content = (JSON.parse(reportBytes.toString('utf8')) as { content?: unknown }).content;
    if (!rootPublishedIn(content, rootHash)) { out.stdout(`INVALID: the root ${rootHash} is not in the signed report ${report.manifest?.reportKey}\n`); return 1; }
    out.stdout(`the root is in the signed ${report.manifest?.kind} report ${report.manifest?.reportKey}, signed by report key ${reportKeyFingerprint(report.publicKey ?? '')}\n`);
  }
  out.stdout(`VALID: ${proof.asset} liability of client ${proof.clientId}: ${proof.balance} (base units) is included in root ${rootHash} (total ${rootSum})\n`);
  if (!args.report && args.root === undefined) out.stdout('NOTE: compare the root with the one in the signed report (or pass --report REPORT.json).\n');
  return 0;
}
