// Rebalancing over HTTP: the plan (a dry run), the ratio history for the auditor, the wallet tier
// report (HOT-05), refills on request (treasury approves them like cold withdrawals) and the
// maker-checker configuration (HOT-02).
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { assetCode, bigintId, decimalAmount, isoInstant, uuid } from '../api/schemas.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { WithdrawalService } from '../withdrawals/withdrawal-service.ts';
import { presentWithdrawal } from '../withdrawals/withdrawal-routes.ts';
import type { Rebalancer, Plan } from './rebalancer.ts';
import type { RatioEngine, RatioSnapshot, PoolView } from './ratio-engine.ts';
import type { RatioConfigStore, RatioConfigVersion } from './ratio-config.ts';
import { tierReport } from './tier-report.ts';

const READERS = ['treasury', 'auditor', 'admin'] as const;

function presentPool(assets: AssetRegistry, asset: string, p: PoolView): Record<string, unknown> {
  const d = (v: bigint) => (asset === 'USD' ? v.toString() : assets.toDecimal(asset, v));
  return {
    hot: d(p.hot), cold: d(p.cold), shareBp: p.shareBp, projectedHot: d(p.projectedHot), projectedCold: d(p.projectedCold), projectedShareBp: p.projectedShareBp,
    inFlight: { outOfHot: d(p.inFlight.outOfHot), outOfCold: d(p.inFlight.outOfCold), sweepsToCold: d(p.inFlight.sweepsToCold), refillsToHot: d(p.inFlight.refillsToHot) },
    targetBp: p.targetBp, alertBp: p.alertBp, capBp: p.capBp, hard: p.hard, breach: p.breach, alert: p.alert,
  };
}

export function presentRatios(assets: AssetRegistry, s: RatioSnapshot): Record<string, unknown> {
  return {
    takenAt: s.takenAt.toISOString(),
    assets: s.assets.map((a) => ({ asset: a.asset, configVersion: a.config.version, minHotFloor: assets.toDecimal(a.asset, a.config.minHotFloor),
      retail: presentPool(assets, a.asset, a.retail), allClients: presentPool(assets, a.asset, a.allClients) })),
    usd: s.usd ? { unit: 'usd_cents', priceVersion: s.usd.priceVersion, priceSource: s.usd.priceSource,
      retail: presentPool(assets, 'USD', s.usd.retail), allClients: presentPool(assets, 'USD', s.usd.allClients) } : null,
    usdUnavailable: s.usdUnavailable ?? null,
    breaches: s.breaches,
  };
}

export function presentPlan(assets: AssetRegistry, plan: Plan): Record<string, unknown> {
  return {
    takenAt: plan.takenAt,
    moves: plan.moves.map((m) => ({ ...m, amount: assets.toDecimal(m.asset, m.amount) })),
    skipped: plan.skipped,
  };
}

function presentConfig(assets: AssetRegistry, c: RatioConfigVersion): Record<string, unknown> {
  return { version: c.version, asset: c.asset, targetBp: c.targetBp, alertBp: c.alertBp, capBp: c.capBp, minHotFloor: assets.toDecimal(c.asset, c.minHotFloor),
    state: c.state, maker: c.maker, checker: c.checker, reason: c.reason, createdAt: c.createdAt.toISOString(), decidedAt: c.decidedAt?.toISOString() ?? null };
}

const bp = z.number().int().min(0).max(10_000);

export function rebalancingRoutes(deps: {
  assets: AssetRegistry; ratio: RatioEngine; configs: RatioConfigStore; rebalancer: Rebalancer; withdrawals: WithdrawalService | undefined;
}): RouteDef[] {
  const { assets } = deps;
  return [
    defineRoute({
      method: 'get', path: '/v1/rebalancing/plan', tag: 'rebalancing', roles: READERS,
      summary: 'HOT-02 dry run: the hot/cold ratios now (retail, all clients, USD) and the moves the rebalancer would make, client by client (nothing is changed)',
      async handler({ q }) {
        const ratios = await deps.ratio.compute(q);
        const plan = await deps.rebalancer.plan(q, ratios);
        return { status: 200, body: { ratios: presentRatios(assets, ratios), plan: presentPlan(assets, plan) } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/rebalancing/run', tag: 'rebalancing', roles: ['treasury', 'admin'],
      summary: 'HOT-02 run the rebalancer now (as the schedule does): snapshot the ratios (history, breach incidents) and create the planned sweeps and refills; idempotent by itself (one tier move per client and asset in flight)',
      body: z.strictObject({}),
      async handler() {
        // The run works in its own short transactions (and calls the signer for fresh addresses with none open), not in this request's.
        const result = await deps.rebalancer.run();
        return { status: 200, body: { ratios: presentRatios(assets, result.snapshot), plan: presentPlan(assets, result.plan),
          created: result.created.map((w) => presentWithdrawal(assets, w)), failed: result.failed } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/audit/hot-ratio', tag: 'audit', roles: READERS,
      summary: 'HOT-01 history: the stored hot-ratio snapshots (per asset and pool, and the USD pools in cents) between from and to',
      query: z.strictObject({ from: isoInstant.optional(), to: isoInstant.optional(), asset: z.union([assetCode, z.literal('USD')]).optional(),
        limit: z.coerce.number().int().min(1).max(5000).default(1000) }),
      async handler({ q, query }) {
        const snapshots = await deps.ratio.history(q, { from: query.from ? new Date(query.from) : undefined, to: query.to ? new Date(query.to) : undefined,
          asset: query.asset, limit: query.limit });
        return { status: 200, body: { snapshots } };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/rebalancing/tiers', tag: 'rebalancing', roles: READERS,
      summary: 'HOT-05 tier report: every wallet with its tier and why (where its keys live and how they sign)',
      async handler({ q }) {
        return { status: 200, body: await tierReport(q) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/rebalancing/refills', tag: 'rebalancing', roles: ['treasury', 'admin'],
      summary: 'A cold -> hot refill for one client: refused (HOT_CAP_EXCEEDED) if it would take the hot share above the cap; otherwise it waits for the treasury quorum like a cold withdrawal',
      body: z.strictObject({ clientId: uuid, asset: assetCode, amount: decimalAmount, reason: z.string().min(1).max(500) }),
      responses: { 200: 'The refill already in flight for this client and asset', 201: 'Created', 422: 'HOT_CAP_EXCEEDED' },
      async handler({ body, actorLabel }) {
        const amount = assets.fromDecimal(body.asset, body.amount);
        const { withdrawal: w, created } = await deps.rebalancer.requestRefill({ clientId: body.clientId, asset: body.asset, amount, initiator: actorLabel, reason: body.reason });
        // One tier move per client and asset in flight: asking again answers with the one in flight.
        return { status: created ? 201 : 200, body: presentWithdrawal(assets, w), subject: w.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/rebalancing/config', tag: 'rebalancing', roles: READERS,
      summary: 'HOT-02 the versioned hot-ratio configuration: the active version per asset and the proposals',
      query: z.strictObject({ asset: assetCode.optional() }),
      async handler({ q, query }) {
        const versions = await deps.configs.list(q, query.asset);
        const active = await Promise.all(assets.list().map(async (a) => deps.configs.active(q, a.code)));
        return { status: 200, body: { active: active.map((c) => ({ ...c, minHotFloor: assets.toDecimal(c.asset, c.minHotFloor) })), versions: versions.map((v) => presentConfig(assets, v)) } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/rebalancing/config', tag: 'rebalancing', roles: ['treasury', 'admin'],
      summary: 'HOT-02 propose a configuration version (maker): nothing changes until a different person checks it; the cap is never above 3000 bp',
      body: z.strictObject({ asset: assetCode, targetBp: bp, alertBp: bp, capBp: bp, minHotFloor: decimalAmount, reason: z.string().min(1).max(500) }),
      responses: { 201: 'Created' },
      async handler({ q, body, actorLabel }) {
        const v = await deps.configs.propose(q, { ...body, minHotFloor: assets.fromDecimal(body.asset, body.minHotFloor), maker: actorLabel });
        return { status: 201, body: presentConfig(assets, v), subject: String(v.version) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/rebalancing/config/:version/approve', tag: 'rebalancing', roles: ['treasury', 'admin'],
      summary: 'HOT-02 check a proposed version: a different person than its maker (CHECKER_REQUIRED otherwise); it becomes the active one',
      params: z.strictObject({ version: bigintId }),
      async handler({ q, params, actorLabel }) {
        const v = await deps.configs.approve(q, params.version, actorLabel);
        return { status: 200, body: presentConfig(assets, v), subject: String(v.version) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/rebalancing/config/:version/reject', tag: 'rebalancing', roles: ['treasury', 'admin'],
      summary: 'HOT-02 reject a proposed version',
      params: z.strictObject({ version: bigintId }),
      async handler({ q, params, actorLabel }) {
        const v = await deps.configs.reject(q, params.version, actorLabel);
        return { status: 200, body: presentConfig(assets, v), subject: String(v.version) };
      },
    }),
  ];
}
