// HOT-02: the per-asset hot-ratio configuration is versioned data. A maker proposes a version; it
// takes effect only when a different person (the checker) approves it, and the database refuses an
// active version without a checker other than its maker. The cap can never be set above the rule's
// 30 % (3,000 basis points). Without an active version the configured defaults apply.
import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';

/** DAA 2.13.9: hot wallets hold at most 30 % of retail clients' assets. */
export const HARD_CAP_BP = 3000;

export interface RatioConfig {
  asset: string;
  /** Where a sweep brings a client's hot share back to. */
  targetBp: number;
  /** Above this (once the moves in flight are done) the rebalancer sweeps. */
  alertBp: number;
  /** The hard cap: never above HARD_CAP_BP. */
  capBp: number;
  /** The hot float (base units) a client keeps for withdrawals; a refill tops it up to this, within the cap. */
  minHotFloor: bigint;
  /** The active version's id; null = the configured defaults. */
  version: number | null;
}

export interface RatioDefaults { targetBp: number; alertBp: number; capBp: number }

export interface RatioConfigVersion extends RatioConfig {
  state: 'proposed' | 'active' | 'superseded' | 'rejected'; maker: string; checker: string | null; reason: string; createdAt: Date; decidedAt: Date | null;
}

interface Row {
  id: number; asset: string; target_bp: number; alert_bp: number; cap_bp: number; min_hot_floor: bigint; state: RatioConfigVersion['state'];
  maker: string; checker: string | null; reason: string; created_at: Date; decided_at: Date | null;
}
const toVersion = (r: Row): RatioConfigVersion => ({
  asset: r.asset, targetBp: r.target_bp, alertBp: r.alert_bp, capBp: r.cap_bp, minHotFloor: r.min_hot_floor, version: r.id,
  state: r.state, maker: r.maker, checker: r.checker, reason: r.reason, createdAt: r.created_at, decidedAt: r.decided_at,
});

/** Checks a proposed configuration: integer basis points, target ≤ alert ≤ cap ≤ 30 %. */
export function validateRatioConfig(c: { targetBp: number; alertBp: number; capBp: number; minHotFloor: bigint }): void {
  for (const [name, v] of [['targetBp', c.targetBp], ['alertBp', c.alertBp], ['capBp', c.capBp]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 10_000) throw new DomainError('BAD_ARGUMENT', `${name} must be an integer number of basis points 0..10000`);
  }
  if (c.capBp > HARD_CAP_BP || c.capBp < 1) throw new DomainError('BAD_ARGUMENT', `capBp ${c.capBp}: the hot cap is at most ${HARD_CAP_BP} basis points (30 %, DAA 2.13.9)`);
  if (!(c.targetBp <= c.alertBp && c.alertBp <= c.capBp)) throw new DomainError('BAD_ARGUMENT', 'targetBp ≤ alertBp ≤ capBp');
  if (c.minHotFloor < 0n) throw new DomainError('BAD_ARGUMENT', 'minHotFloor must not be negative');
}

export class RatioConfigStore {
  constructor(private readonly deps: { assets: AssetRegistry; defaults: RatioDefaults }) {
    validateRatioConfig({ ...deps.defaults, minHotFloor: 0n });
  }

  /** The active configuration of an asset (or the defaults). */
  async active(q: Queryable, asset: string): Promise<RatioConfig> {
    const { rows } = await q.query<Row>(`select * from hot_ratio_config where asset = $1 and state = 'active'`, [asset]);
    if (rows[0]) return toVersion(rows[0]);
    return { asset, ...this.deps.defaults, minHotFloor: 0n, version: null };
  }

  async list(q: Queryable, asset?: string): Promise<RatioConfigVersion[]> {
    const { rows } = await q.query<Row>('select * from hot_ratio_config where ($1::text is null or asset = $1) order by id desc limit 500', [asset ?? null]);
    return rows.map(toVersion);
  }

  /** A maker proposes a new version; nothing changes until a checker approves it. */
  async propose(q: Queryable, input: { asset: string; targetBp: number; alertBp: number; capBp: number; minHotFloor: bigint; reason: string; maker: string }): Promise<RatioConfigVersion> {
    this.deps.assets.get(input.asset);
    validateRatioConfig(input);
    const { rows } = await q.query<Row>(
      `insert into hot_ratio_config (asset, target_bp, alert_bp, cap_bp, min_hot_floor, maker, reason) values ($1, $2, $3, $4, $5, $6, $7) returning *`,
      [input.asset, input.targetBp, input.alertBp, input.capBp, input.minHotFloor.toString(), input.maker, input.reason]);
    return toVersion(rows[0]!);
  }

  private async lockProposed(q: Queryable, id: number): Promise<Row> {
    const { rows } = await q.query<Row>('select * from hot_ratio_config where id = $1 for update', [id]);
    const row = rows[0];
    if (!row) throw new DomainError('RATIO_CONFIG_NOT_FOUND', `no hot-ratio configuration version ${id}`);
    if (row.state !== 'proposed') throw new DomainError('RATIO_CONFIG_STATE', `version ${id} is ${row.state}, not proposed`);
    return row;
  }

  /** HOT-02 maker-checker: a different person approves; the version becomes the asset's active one. */
  async approve(q: Queryable, id: number, checker: string): Promise<RatioConfigVersion> {
    const row = await this.lockProposed(q, id);
    if (checker.trim().toLowerCase() === row.maker.trim().toLowerCase()) {
      throw new DomainError('CHECKER_REQUIRED', `version ${id} was proposed by ${row.maker}: a different person must check it`, { maker: row.maker });
    }
    await q.query('select pg_advisory_xact_lock(hashtextextended($1, 7267))', [`hot-ratio-config/${row.asset}`]);
    await q.query(`update hot_ratio_config set state = 'superseded' where asset = $1 and state = 'active'`, [row.asset]);
    const { rows } = await q.query<Row>(`update hot_ratio_config set state = 'active', checker = $2, decided_at = now() where id = $1 returning *`, [id, checker]);
    return toVersion(rows[0]!);
  }

  async reject(q: Queryable, id: number, checker: string): Promise<RatioConfigVersion> {
    await this.lockProposed(q, id);
    const { rows } = await q.query<Row>(`update hot_ratio_config set state = 'rejected', checker = $2, decided_at = now() where id = $1 returning *`, [id, checker]);
    return toVersion(rows[0]!);
  }
}
