// The running service writes how to reach its embedded Postgres here (mode 0600, under the data
// dir) so the CLI can work beside it without starting a second server on the same data.
import { readFileSync, writeFileSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export interface RuntimeInfo { pid: number; ownerUrl: string; appUrl: string; httpUrl: string }

const file = (dataDir: string) => path.join(dataDir, 'secrets', 'runtime.json');

export function writeRuntime(dataDir: string, info: RuntimeInfo): void {
  mkdirSync(path.dirname(file(dataDir)), { recursive: true, mode: 0o700 });
  writeFileSync(file(dataDir), JSON.stringify(info), { mode: 0o600 });
}

export function readRuntime(dataDir: string): RuntimeInfo | undefined {
  if (!existsSync(file(dataDir))) return undefined;
  const info = JSON.parse(readFileSync(file(dataDir), 'utf8')) as RuntimeInfo;
  try {
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

export function removeRuntime(dataDir: string): void {
  rmSync(file(dataDir), { force: true });
}
