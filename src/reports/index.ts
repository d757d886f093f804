// Reports (issue 12 §4-§6): the signed, immutable report store, offline verification, proof of
// reserves, statements of account. Other contexts import from here.
export {
  ReportService, reportContentHash, CONTENT_TYPES,
  type ReportKind, type ReportManifest, type PublishedReport, type ReportSigner, type ReportFormat,
} from './report-service.ts';
export { renderPdf, toCsv, VERIFY_INSTRUCTIONS, type Renderers, type RenderMeta, type PdfSection } from './renderers.ts';
export { verifyReportFile, signedJsonReport, detachedSignature, SIGNED_REPORT_TYPE, DETACHED_SIGNATURE_TYPE, type VerifyResult, type ReportSignature } from './report-file.ts';
export {
  buildLiabilityTree, verifyInclusion, reserveCheck, POR_PROOF_VERSION,
  type InclusionProof, type LiabilityLeaf, type TreeRoot, type ProofStep,
} from './proof-of-reserves.ts';
export { ProofService, openProofSecret, proofOfReservesRenderers, type ClientProof } from './proof-service.ts';
export { StatementService, statementRenderers, statementReportKey, NOT_ON_FILE, PRICE_NA, type StatementContent } from './statements.ts';
export { reportRoutes, presentReport } from './report-routes.ts';
