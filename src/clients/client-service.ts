import { DomainError } from '../platform/errors.ts';
import type { Queryable } from '../platform/tx.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';

export type Classification = 'retail' | 'professional' | 'market_counterparty';

export interface Client {
  id: string;
  externalRef: string;
  classification: Classification;
  kzResident: boolean;
  state: 'active' | 'frozen' | 'closed';
  createdAt: Date;
}

interface ClientRow {
  id: string; external_ref: string; classification: Classification; kz_resident: boolean;
  state: Client['state']; created_at: Date;
}
const toClient = (r: ClientRow): Client => ({
  id: r.id, externalRef: r.external_ref, classification: r.classification, kzResident: r.kz_resident,
  state: r.state, createdAt: r.created_at,
});

export class ClientService {
  constructor(private readonly ledger: LedgerService) {}

  /** Creates a client and opens its trust accounts for every asset. Same externalRef twice: CLIENT_EXISTS. */
  async create(q: Queryable, input: { externalRef: string; classification: Classification; kzResident: boolean }): Promise<Client> {
    const { rows } = await q.query<ClientRow>(
      `insert into clients (external_ref, classification, kz_resident) values ($1, $2, $3)
       on conflict (external_ref) do nothing returning *`,
      [input.externalRef, input.classification, input.kzResident]);
    if (rows.length === 0) throw new DomainError('CLIENT_EXISTS', `a client with externalRef ${input.externalRef} exists`, { externalRef: input.externalRef });
    const client = toClient(rows[0]!);
    await this.ledger.openClientAccounts(q, client.id);
    return client;
  }

  async get(q: Queryable, id: string): Promise<Client> {
    const { rows } = await q.query<ClientRow>('select * from clients where id = $1', [id]);
    if (rows.length === 0) throw new DomainError('CLIENT_NOT_FOUND', `no client ${id}`, { clientId: id });
    return toClient(rows[0]!);
  }

  async requireActive(q: Queryable, id: string): Promise<Client> {
    const client = await this.get(q, id);
    if (client.state !== 'active') throw new DomainError('CLIENT_NOT_ACTIVE', `client ${id} is ${client.state}`, { clientId: id });
    return client;
  }

  /** The client's state, locked for the caller's transaction (a freeze and its case commit together). */
  async lockState(q: Queryable, id: string): Promise<Client['state'] | undefined> {
    const { rows } = await q.query<{ state: Client['state'] }>('select state from clients where id = $1 for update', [id]);
    return rows[0]?.state;
  }

  /** Moves the client from one state to another; false when it was not in `from`. */
  async setState(q: Queryable, id: string, from: Client['state'], to: Client['state']): Promise<boolean> {
    const { rows } = await q.query('update clients set state = $3 where id = $1 and state = $2 returning id', [id, from, to]);
    return rows.length === 1;
  }

  /** Stores the client's KYC record, sealed (encrypted) by the caller, and whether it is verified. */
  async storeKyc(q: Queryable, id: string, sealed: unknown, verified: boolean): Promise<void> {
    const { rows } = await q.query('update clients set kyc = $2, kyc_verified = $3 where id = $1 returning id', [id, sealed, verified]);
    if (rows.length === 0) throw new DomainError('CLIENT_NOT_FOUND', `no client ${id}`, { clientId: id });
  }

  async list(q: Queryable, filter: { externalRef?: string; afterCreatedId?: string; limit: number }): Promise<Client[]> {
    const { rows } = await q.query<ClientRow>(
      `select * from clients where ($1::text is null or external_ref = $1) and ($2::uuid is null or id > $2)
       order by id limit $3`,
      [filter.externalRef ?? null, filter.afterCreatedId ?? null, Math.min(Math.max(filter.limit, 1), 500)]);
    return rows.map(toClient);
  }
}
