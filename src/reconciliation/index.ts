// Daily on-chain reconciliation (REC-01, REC-02, REC-04, REC-07): the run, its readers of the nodes,
// the report content and renderings, the routes. Other contexts import from here.
export { ReconciliationService, type ReconciliationDeps, type RunView, type RunState, type ReportPublisher } from './reconciliation-service.ts';
export { BitcoinChainReader, EthereumChainReader, type ChainMovement } from './chain-readers.ts';
export { reconcile, type Break, type BreakClass, type ReconLine } from './reconcile.ts';
export * from './report-content.ts';
export { reconciliationRoutes } from './reconciliation-routes.ts';
export { astanaDate, cutoffInstant, latestDueDate, ASTANA_OFFSET_MINUTES } from './schedule.ts';
