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

  async list(q: Queryable, filter: { externalRef?: string; afterCreatedId?: string; limit: number }): Promise<Client[]> {
    const { rows } = await q.query<ClientRow>(
      `select * from clients where ($1::text is null or external_ref = $1) and ($2::uuid is null or id > $2)
       order by id limit $3`,
      [filter.externalRef ?? null, filter.afterCreatedId ?? null, Math.min(Math.max(filter.limit, 1), 500)]);
    return rows.map(toClient);
  }
}
