import { z } from 'zod';
import { networkFeeAsset } from '../chains/capabilities.ts';
import { defineRoute, READ_ROLES, type RouteDef } from '../api/route.ts';
import { assetCode, decimalAmount, limit, uuid } from '../api/schemas.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import type { WithdrawalRow, WithdrawalService } from './withdrawal-service.ts';
import type { TravelRule } from './travel-rule-step.ts';
import { exchangeFacingFailure } from '../screening/index.ts';

// No control characters (C0) in names and references.
const text = (max: number) => z.string().min(1).max(max).refine((v) => ![...v].some((ch) => ch.charCodeAt(0) < 0x20), 'no control characters');
/**
 * Text that goes into the signed intent (the initiator): also NFC and no lone surrogates, which the
 * canonical JSON refuses, so it is refused here with a 400 instead of pausing the withdrawal later.
 */
const signedText = (max: number) => text(max).refine((v) => !/\p{Cs}/u.test(v) && v === v.normalize('NFC'), 'NFC text without lone surrogates');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD');

export function presentWithdrawal(assets: AssetRegistry, w: WithdrawalRow): Record<string, unknown> {
  const feeAsset = networkFeeAsset(w.chain);
  return {
    id: w.id, kind: w.kind, quoteId: w.quote_id, clientId: w.client_id, asset: w.asset, chain: w.chain, amount: assets.toDecimal(w.asset, w.amount),
    destination: w.destination, destinationType: w.destination_type, state: w.state, sourceTier: w.source_tier,
    serviceFee: assets.toDecimal(w.asset, w.service_fee), networkFeeMax: assets.toDecimal(feeAsset, w.network_fee_max), networkFeeAsset: feeAsset,
    networkFee: w.network_fee === null ? null : assets.toDecimal(feeAsset, w.network_fee), usdValueCents: w.usd_cents.toString(),
    // WDR-01: the consent evidence stored with the request, retrievable by its id.
    consent: { method: w.consent.method, reference: w.consent.reference, at: w.consent.at, acknowledgedWarningId: w.consent.acknowledgedWarningId },
    initiatorUserId: w.initiator,
    approvalsRequired: w.approvals_required, travelRule: { status: w.travel_rule_status, tier: w.travel_rule_tier },
    policy: w.policy ? { outcome: w.policy.outcome, reasons: w.policy.reasons, matchedRules: w.policy.matchedRules, policyVersion: w.policy.policyVersion, policyHash: w.policy_hash } : null,
    intentHash: w.intent_hash, txid: w.txid, confirmations: w.confirmations, holdId: w.hold_id,
    // AML tipping-off: a sanctions hit shows as COMPLIANCE_HOLD; the real reason lives in the case.
    failure: w.failure_code ? exchangeFacingFailure(w.failure_code, w.failure_detail) : null,
    createdAt: w.created_at.toISOString(), updatedAt: w.updated_at.toISOString(), completedAt: w.completed_at?.toISOString() ?? null,
  };
}

export function withdrawalRoutes(deps: {
  withdrawals: WithdrawalService | undefined; assets: AssetRegistry; clients: ClientService; ledger: LedgerService; travelRule: TravelRule | undefined;
}): RouteDef[] {
  const { assets, clients } = deps;
  const service = () => {
    if (!deps.withdrawals) throw new Error('withdrawals are not configured');
    return deps.withdrawals;
  };
  return [
    defineRoute({
      method: 'post', path: '/v1/withdrawals/quotes', tag: 'withdrawals', roles: ['exchange'],
      summary: 'Quote a withdrawal (WDR-02): asset, amount, itemised fees, USD value, the irreversibility warning and an expiry',
      body: z.strictObject({ clientId: uuid, asset: assetCode, amount: decimalAmount, destination: z.string().min(1).max(128) }),
      responses: { 201: 'Quote' },
      async handler({ body, q, actorLabel }) {
        const quote = await service().quote(q, { ...body, actor: actorLabel });
        return { status: 201, body: quote, subject: quote.quoteId };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/withdrawals', tag: 'withdrawals', roles: ['exchange'],
      summary: 'Confirm a quote: the client acknowledged the warning and consented; amount + maximum fee are held (WDR-03) and the pipeline starts',
      body: z.strictObject({
        quoteId: uuid, clientId: uuid, acknowledgedWarningId: text(64),
        consent: z.strictObject({ method: z.enum(['webauthn', 'otp', 'signed-payload', 'in-app-confirmation']), reference: text(256), at: z.iso.datetime({ offset: true }) }),
        initiatorUserId: signedText(128),
        destinationType: z.enum(['vasp', 'self_hosted']),
        beneficiary: z.strictObject({ name: text(200), vaspName: text(200).optional(), accountReference: text(128).optional() }),
        ownershipProof: z.strictObject({ message: z.string().min(1).max(2000), signature: z.string().min(1).max(500) }).optional(),
      }),
      responses: { 202: 'Accepted: the pipeline works it; follow it with GET or the events feed' },
      async handler({ body, q, idempotencyId, actorLabel }) {
        const w = await service().confirm(q, { ...body, acknowledgedWarningId: body.acknowledgedWarningId, idempotencyId, actor: actorLabel });
        return { status: 202, body: presentWithdrawal(assets, w), subject: w.id };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/withdrawals/:withdrawalId', tag: 'withdrawals', roles: READ_ROLES, summary: 'A withdrawal and where it is in the pipeline',
      params: z.strictObject({ withdrawalId: uuid }),
      async handler({ params, q }) {
        return { status: 200, body: presentWithdrawal(assets, await service().get(q, params.withdrawalId)) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v1/withdrawals', tag: 'withdrawals', roles: READ_ROLES, summary: 'Withdrawals, newest first',
      query: z.strictObject({ clientId: uuid.optional(), state: z.enum(['requested', 'screening', 'policy', 'travel_rule', 'approvals', 'signing', 'broadcast', 'confirming', 'completed', 'rejected', 'failed', 'cancelled']).optional(), limit }),
      async handler({ query, q }) {
        return { status: 200, body: { withdrawals: (await service().list(q, query)).map((w) => presentWithdrawal(assets, w)) } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/withdrawals/:withdrawalId/cancel', tag: 'withdrawals', roles: ['exchange', 'admin'],
      summary: 'Cancel a withdrawal that is not signed yet; its hold is released',
      params: z.strictObject({ withdrawalId: uuid }),
      async handler({ params, q, actorLabel }) {
        const w = await service().cancel(q, params.withdrawalId, actorLabel);
        return { status: 200, body: presentWithdrawal(assets, w), subject: w.id };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/clients/:clientId/kyc', tag: 'clients', roles: ['exchange'],
      summary: 'The client’s verified identity data for the Travel Rule (TR-02/TR-04), stored encrypted',
      params: z.strictObject({ clientId: uuid }),
      body: z.strictObject({
        name: z.strictObject({ primary: text(200), secondary: text(200).optional() }), verified: z.boolean(),
        dateOfBirth: isoDate.optional(), placeOfBirth: text(200).optional(), nationalId: text(64).optional(),
        geographicAddress: z.strictObject({ street: text(200).optional(), town: text(100), country: z.string().regex(/^[A-Z]{2}$/), postcode: text(20).optional() }).optional(),
      }),
      async handler({ params, body, q }) {
        await clients.get(q, params.clientId);
        if (!deps.travelRule) throw new Error('travel rule is not configured');
        await deps.travelRule.storeKyc(q, params.clientId, body);
        return { status: 200, body: { clientId: params.clientId, kycVerified: body.verified }, subject: params.clientId };
      },
    }),
    defineRoute({
      method: 'post', path: '/v1/clients/:clientId/address-book', tag: 'withdrawals', roles: ['exchange'],
      summary: 'Add a destination to the client’s address book (new entries cool off under the withdrawal policy)',
      params: z.strictObject({ clientId: uuid }),
      body: z.strictObject({ asset: assetCode, address: z.string().min(1).max(128), label: text(100).optional(), destinationType: z.enum(['vasp', 'self_hosted']), vaspName: text(200).optional() }),
      responses: { 201: 'Added' },
      async handler({ params, body, q }) {
        await clients.requireActive(q, params.clientId);
        const asset = assets.get(body.asset);
        const address = service().normalizeDestination(asset, body.address);
        const { rows } = await q.query<{ id: string; added_at: Date }>(
          `insert into address_book (client_id, chain, address, label, destination_type, vasp_name) values ($1, $2, $3, $4, $5, $6)
           on conflict (client_id, chain, address) do update set label = excluded.label returning id, added_at`,
          [params.clientId, asset.chain, address, body.label ?? null, body.destinationType, body.vaspName ?? null]);
        return { status: 201, body: { id: rows[0]!.id, chain: asset.chain, address, destinationType: body.destinationType, addedAt: rows[0]!.added_at.toISOString() }, subject: rows[0]!.id };
      },
    }),
  ];
}
