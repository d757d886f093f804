// The signer's key registry: metadata the token cannot hold (owner client, creation time) in an
// append-only JSON-lines file next to the replay log. The HSM object list stays authoritative: the
// count report (KEY-09) reconciles the two and flags orphans either way.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Tier } from './key-backend.ts';

export interface KeyRecord {
  id: string;
  label: string;
  tier: Tier | 'backup';
  /** The client who owns the wallet; "house" for house keys. */
  clientId: string;
  created: string;
  backup: boolean;
  /** Set for keys restored from a backup blob: the key they were restored from. */
  restoredFrom?: string;
  /** 'report': the one house key that signs report manifests (never a transaction). Absent: a wallet key. */
  usage?: 'wallet' | 'report';
}

export class KeyRegistry {
  private readonly records = new Map<string, KeyRecord>();

  constructor(private readonly path: string) {
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const record = JSON.parse(line) as KeyRecord;
      this.records.set(record.id, record);
    }
  }

  add(record: KeyRecord): void {
    // appendFileSync + the file's own line framing: a torn last line is detected on read.
    appendFileSync(this.path, `${JSON.stringify(record)}\n`, { mode: 0o600, flush: true });
    this.records.set(record.id, record);
  }

  get(id: string): KeyRecord | undefined {
    return this.records.get(id);
  }

  all(): KeyRecord[] {
    return [...this.records.values()];
  }
}
