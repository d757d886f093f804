// The comparison itself (REC-01, REC-02), pure: what the node says against the holdings book.
//
// A line is one holdings account (a client's hot or cold wallet of an asset, or a house wallet
// account) with the addresses that feed it. For each line and each transaction key (a txid, or a
// journal entry that names none) the net change the node shows (N) is matched against the net change
// the journal booked on that account (J):
//   N and J equal .............................. matched
//   N without J, a deposit/withdrawal in flight .. timing (explained: it will clear)
//   N in ETH on a client line, an ERC-20 payout's gas top-up or gas .. gas_float (explained: house ETH, house_gas_float)
//   N > 0 without J ............................. unknown_inflow
//   N < 0 without J ............................. unknown_outflow
//   J without N (older than the grace period) ... missing_movement (younger: timing)
//   N and J differ .............................. amount_mismatch
// Because both sides start at zero, chain − book = Σ (N − J); whatever is left over (a balance edited
// by hand, a movement the node does not show as a transaction) is one balance_mismatch on the line.
import type { ChainMovement } from './chain-readers.ts';

export type BreakClass = 'timing' | 'gas_float' | 'unknown_inflow' | 'unknown_outflow' | 'missing_movement' | 'amount_mismatch' | 'balance_mismatch';

export interface ReconLine {
  /** Holdings account code (client_trust/<client>/<asset>/client_wallet_hot, house/<asset>/house_wallet_gas ...). */
  account: string;
  owner: 'client' | 'house';
  clientId: string | null;
  asset: string;
  chain: 'bitcoin' | 'ethereum';
  /** 'hot' | 'cold' for a client line; the house account kind for a house line. */
  tier: string;
  addresses: string[];
  /** The holdings book as of the cut-off. */
  book: bigint;
}

export interface JournalDelta {
  account: string;
  /** The txid the entry names (cause.txid), or `entry:<id>` for an entry that names none. */
  key: string;
  txid: string | null;
  amount: bigint;
  bookedAt: Date;
  entryIds: number[];
}

export interface Break {
  key: string;
  class: BreakClass;
  owner: 'client' | 'house';
  clientId: string | null;
  asset: string;
  tier: string;
  chain: string;
  account: string;
  txid: string | null;
  /** What the book says (J, or the book balance for a balance_mismatch). */
  expected: bigint;
  /** What the node says (N, or the chain balance). */
  actual: bigint;
  difference: bigint;
  explained: boolean;
  explanation: string;
}

export interface LineResult extends ReconLine {
  onChain: bigint;
  difference: bigint;
  matched: boolean;
}

export interface MatchCounts { chainMovements: number; journalItems: number; matched: number; timing: number; unmatchedChain: number; unmatchedJournal: number; amountMismatches: number }

export interface ReconcileInput {
  lines: ReconLine[];
  /** Balance at the cut-off height per `${asset}:${address}` (Ethereum addresses lower-case). */
  balances: Map<string, bigint>;
  movements: ChainMovement[];
  journal: JournalDelta[];
  /** txids of items in flight at the cut-off: deposits seen but not credited, withdrawals sent but not posted. */
  inFlight: Map<string, string>;
  /** txids whose native-coin movement on a client line is house gas float (a top-up for an ERC-20 payout, and that payout's gas). */
  gasFloat?: Map<string, string>;
  cutoff: Date;
  /** A journal entry with no movement is timing while younger than this. */
  missingMovementGraceMs: number;
}

export const addressKey = (asset: string, address: string, chain: string): string => `${asset}:${chain === 'ethereum' ? address.toLowerCase() : address}`;

export function reconcile(input: ReconcileInput): { lines: LineResult[]; breaks: Break[]; counts: MatchCounts } {
  const lineByAddress = new Map<string, ReconLine>();
  for (const line of input.lines) for (const a of line.addresses) lineByAddress.set(addressKey(line.asset, a, line.chain), line);
  const lineByAccount = new Map(input.lines.map((l) => [l.account, l]));

  // N per (account, txid)
  const chainSide = new Map<string, { line: ReconLine; txid: string; amount: bigint }>();
  for (const m of input.movements) {
    const line = lineByAddress.get(addressKey(m.asset, m.address, m.chain));
    if (!line) continue;
    const k = `${line.account}|${m.txid}`;
    const prior = chainSide.get(k);
    chainSide.set(k, { line, txid: m.txid, amount: (prior?.amount ?? 0n) + m.amount });
  }
  const journalSide = new Map<string, JournalDelta>();
  for (const j of input.journal) {
    if (!lineByAccount.has(j.account)) continue;
    const k = `${j.account}|${j.key}`;
    const prior = journalSide.get(k);
    journalSide.set(k, prior ? { ...prior, amount: prior.amount + j.amount, entryIds: [...prior.entryIds, ...j.entryIds],
      bookedAt: prior.bookedAt < j.bookedAt ? prior.bookedAt : j.bookedAt } : j);
  }

  const breaks: Break[] = [];
  const counts: MatchCounts = { chainMovements: 0, journalItems: 0, matched: 0, timing: 0, unmatchedChain: 0, unmatchedJournal: 0, amountMismatches: 0 };
  const add = (line: ReconLine, cls: BreakClass, txid: string | null, expected: bigint, actual: bigint, explained: boolean, explanation: string) => {
    breaks.push({ key: `${cls}|${line.account}|${txid ?? ''}`, class: cls, owner: line.owner, clientId: line.clientId, asset: line.asset, tier: line.tier,
      chain: line.chain, account: line.account, txid, expected, actual, difference: actual - expected, explained, explanation });
  };
  const keys = new Set([...chainSide.keys(), ...[...journalSide.keys()].filter((k) => journalSide.get(k)!.amount !== 0n)]);
  for (const k of [...keys].sort()) {
    const n = chainSide.get(k);
    const j = journalSide.get(k);
    const line = (n?.line ?? lineByAccount.get(j!.account))!;
    const nAmount = n?.amount ?? 0n;
    const jAmount = j?.amount ?? 0n;
    if (n) counts.chainMovements++;
    if (j && j.amount !== 0n) counts.journalItems++;
    const txid = n?.txid ?? j?.txid ?? null;
    if (nAmount === jAmount) { counts.matched++; continue; }
    if (n && (!j || jAmount === 0n)) {
      const float = line.owner === 'client' ? input.gasFloat?.get(`${line.asset}:${n.txid}`) : undefined;
      const flight = input.inFlight.get(n.txid);
      if (float) {
        counts.timing++;
        add(line, 'gas_float', n.txid, 0n, nAmount, true, float);
      } else if (flight) {
        counts.timing++;
        add(line, 'timing', n.txid, 0n, nAmount, true, flight);
      } else {
        counts.unmatchedChain++;
        add(line, nAmount > 0n ? 'unknown_inflow' : 'unknown_outflow', n.txid, 0n, nAmount, false,
          nAmount > 0n ? 'coins arrived on-chain with no journal entry' : 'coins left on-chain with no journal entry');
      }
      continue;
    }
    if (!n && j) {
      const young = input.cutoff.getTime() - j.bookedAt.getTime() < input.missingMovementGraceMs;
      if (young) {
        counts.timing++;
        add(line, 'timing', txid, jAmount, 0n, true, 'journal entry booked recently; its transaction is not at the cut-off height yet');
      } else {
        counts.unmatchedJournal++;
        add(line, 'missing_movement', txid, jAmount, 0n, false, `journal entries ${j.entryIds.join(', ')} have no on-chain movement`);
      }
      continue;
    }
    counts.amountMismatches++;
    add(line, 'amount_mismatch', txid, jAmount, nAmount, false, 'the journal booked another amount than moved on-chain');
  }

  const lines: LineResult[] = [];
  for (const line of input.lines) {
    const onChain = line.addresses.reduce((s, a) => s + (input.balances.get(addressKey(line.asset, a, line.chain)) ?? 0n), 0n);
    const difference = onChain - line.book;
    const explainedByItems = breaks.filter((b) => b.account === line.account).reduce((s, b) => s + b.difference, 0n);
    const residual = difference - explainedByItems;
    if (residual !== 0n) {
      add(line, 'balance_mismatch', null, line.book + explainedByItems, onChain, false,
        'the book balance differs from the node by more than the listed movements explain (a balance changed without a journal entry)');
    }
    lines.push({ ...line, onChain, difference, matched: difference === 0n });
  }
  return { lines, breaks, counts };
}
