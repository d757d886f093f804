// The Travel Rule step of an outgoing transfer (TR-02, TR-03, TR-04, DEP-05 outgoing): originator
// data from the client's verified KYC record, beneficiary data from the request, the data set the
// USD value requires, and for a self-hosted destination at or above USD 1,000 a verified proof that
// the client controls it. Everything personal is stored encrypted (SEG-11). The exchange of the
// data with the beneficiary VASP comes later: its state is `pending` until then.
import type { Queryable } from '../platform/tx.ts';
import type { Asset } from '../assets/asset-registry.ts';
import {
  buildBeneficiary, buildOriginator, buildTravelRulePayload, decryptJson, encryptJson, ownershipChallenge, requiredDataSet,
  validateTravelRule, vaspPerson, verifyOwnershipProof, ownershipProofRequired, type ClientKyc, type Keyring, type PiiEnvelope,
} from '../travel-rule/index.ts';

/** The challenge nonce of a quote: server-issued, unique, bound to one withdrawal. */
export function ownershipNonce(quoteId: string): string {
  return `q${quoteId.replace(/-/g, '')}`;
}

/** What the client signs with the destination's key to prove it controls it (DEP-05). */
export function ownershipMessage(destination: string, quoteId: string): string {
  return ownershipChallenge(destination, ownershipNonce(quoteId));
}
import type { BitcoinNetworkName } from '../chains/bitcoin/networks.ts';
import type { WithdrawalRow } from './withdrawal-store.ts';
import type { ClientService } from '../clients/client-service.ts';

export interface TravelRuleResult {
  ok: true; status: 'not_required' | 'pending' | 'self_hosted_info_held' | 'sent' | 'acked'; tier: 'full' | 'reduced'; payload: Record<string, unknown>;
}
export interface TravelRuleRefusal { ok: false; code: string; detail: string }

export interface KycInput {
  name: { primary: string; secondary?: string | undefined };
  verified: boolean;
  dateOfBirth?: string | undefined;
  placeOfBirth?: string | undefined;
  nationalId?: string | undefined;
  geographicAddress?: { street?: string | undefined; town: string; country: string; postcode?: string | undefined } | undefined;
}

export class TravelRule {
  constructor(private readonly deps: {
    keyring: Keyring; activeKid: string; bitcoinNetwork: BitcoinNetworkName; ethereumChainId: bigint; originatingVasp: string;
    /** Where KYC records are stored (storeKyc). */
    clients?: Pick<ClientService, 'storeKyc'>;
  }) {}

  sealRequest(context: string, value: Record<string, unknown>): Record<string, unknown> {
    return encryptJson(this.deps.keyring, this.deps.activeKid, value, `withdrawal-request:${context}`) as unknown as Record<string, unknown>;
  }

  /** Seals the client's KYC record (SEG-11) and stores it with the client (the clients context owns the row). */
  async storeKyc(q: Queryable, clientId: string, kyc: KycInput): Promise<void> {
    if (!this.deps.clients) throw new Error('TravelRule: no client service to store KYC with');
    const sealed = encryptJson(this.deps.keyring, this.deps.activeKid, kyc, `client-kyc:${clientId}`);
    await this.deps.clients.storeKyc(q, clientId, sealed, kyc.verified);
  }

  /** The client's stored KYC record, unsealed (statements of account, CLI-04); undefined when none is on file. */
  async readKyc(q: Queryable, clientId: string): Promise<KycInput | undefined> {
    const { rows } = await q.query<{ kyc: PiiEnvelope | null }>('select kyc from clients where id = $1', [clientId]);
    const sealed = rows[0]?.kyc;
    return sealed ? decryptJson(this.deps.keyring, sealed, `client-kyc:${clientId}`) as KycInput : undefined;
  }

  async evaluate(q: Queryable, w: WithdrawalRow, _asset: Asset): Promise<TravelRuleResult | TravelRuleRefusal> {
    const { rows } = await q.query<{ kyc: PiiEnvelope | null; kyc_verified: boolean; external_ref: string }>(
      'select kyc, kyc_verified, external_ref from clients where id = $1', [w.client_id]);
    const client = rows[0]!;
    const request = decryptJson(this.deps.keyring, w.travel_rule_payload as unknown as PiiEnvelope, `withdrawal-request:${w.quote_id}`) as {
      beneficiary: { name: string; vaspName?: string; accountReference?: string }; ownershipProof: { message: string; signature: string } | null };
    if (!client.kyc) return { ok: false, code: 'ORIGINATOR_NOT_VERIFIED', detail: 'the client has no KYC record for the Travel Rule' };
    const kyc = decryptJson(this.deps.keyring, client.kyc, `client-kyc:${w.client_id}`) as KycInput;
    const { rows: source } = await q.query<{ address: string }>(
      `select a.address from wallet_addresses a join wallets wl on wl.id = a.wallet_id
       where wl.client_id = $1 and wl.chain = $2 order by a.id limit 1`, [w.client_id, w.chain]);
    const originatorKyc: ClientKyc = {
      clientId: w.client_id, name: { primary: kyc.name.primary, ...(kyc.name.secondary ? { secondary: kyc.name.secondary } : {}) },
      kycVerified: client.kyc_verified, customerId: client.external_ref,
      ...(kyc.geographicAddress ? { geographicAddress: { addressType: 'HOME', townName: kyc.geographicAddress.town, country: kyc.geographicAddress.country,
        ...(kyc.geographicAddress.street ? { streetName: kyc.geographicAddress.street } : {}),
        ...(kyc.geographicAddress.postcode ? { postCode: kyc.geographicAddress.postcode } : {}) } } : {}),
      ...(kyc.nationalId ? { nationalId: { nationalIdentifier: kyc.nationalId, nationalIdentifierType: 'IDCD' } } : {}),
      ...(kyc.dateOfBirth ? { dateOfBirth: kyc.dateOfBirth } : {}),
      ...(kyc.placeOfBirth ? { placeOfBirth: kyc.placeOfBirth } : {}),
    };
    // The counterparty VASP as the request names it, else as the VASP directory identified it (WDR-04).
    const directoryVasp = (w.screening as { result?: { vasp?: { name: string } } } | null)?.result?.vasp?.name;
    const beneficiaryVaspName = request.beneficiary.vaspName ?? (w.destination_type === 'vasp' ? directoryVasp : undefined);
    const payload = buildTravelRulePayload({
      originator: buildOriginator(originatorKyc, source[0]?.address ?? 'unassigned', client.external_ref),
      beneficiary: buildBeneficiary({ natural: { primary: request.beneficiary.name } }, w.destination, request.beneficiary.accountReference),
      beneficiaryWalletAddress: w.destination, destinationType: w.destination_type, originatingVasp: vaspPerson(this.deps.originatingVasp),
      ...(beneficiaryVaspName ? { beneficiaryVasp: vaspPerson(beneficiaryVaspName) } : {}),
    });
    const check = validateTravelRule(payload, w.usd_cents);
    if (!check.ok) {
      return { ok: false, code: check.code, detail: `Travel Rule data set (${check.tier}) incomplete: ${[...check.missing, ...('issues' in check ? check.issues : [])].join(', ')}` };
    }
    let status: TravelRuleResult['status'];
    if (w.destination_type === 'self_hosted') {
      if (ownershipProofRequired('self_hosted', w.usd_cents)) {
        const proof = request.ownershipProof;
        if (!proof) return { ok: false, code: 'OWNERSHIP_PROOF_REQUIRED', detail: 'a self-hosted destination at USD 1,000 or more needs a signed ownership proof (the quote carries the challenge)' };
        const verified = verifyOwnershipProof({
          chain: w.chain, network: w.chain === 'bitcoin' ? this.deps.bitcoinNetwork : this.deps.ethereumChainId.toString(),
          address: w.destination, message: proof.message, signature: proof.signature, nonce: ownershipNonce(w.quote_id ?? w.id), // only a withdrawal (which has a quote) reaches the Travel Rule
        });
        if (!verified.ok) return { ok: false, code: 'OWNERSHIP_PROOF_REQUIRED', detail: `the ownership proof does not verify: ${verified.reason ?? 'invalid'}` };
      }
      status = 'self_hosted_info_held';
    } else {
      status = 'pending';
    }
    const sealed = encryptJson(this.deps.keyring, this.deps.activeKid, payload, `travel-rule:${w.id}`) as unknown as Record<string, unknown>;
    return { ok: true, status, tier: requiredDataSet(w.usd_cents), payload: sealed };
  }
}
