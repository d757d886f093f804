// The signer's own append-only replay log (JSON lines, hash-chained, fdatasync'd before any
// signature leaves the process). It is the signer's slashing protection: an outpoint or an
// (key, chain, nonce) once signed for one intent is never signed for another, a request id is
// bound to one intent, and a repeated request returns the first answer. It also holds the coins:
// the value and script of every outpoint as declared when it was first signed. BIP-143 commits an
// input's signature to that input's own value only, so two signings of one transaction that each
// lie about another input would combine into a valid transaction with a hidden fee; any later
// request that declares another value or script for a known outpoint is refused.
import { createHash } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { SignerError } from './errors.ts';

/** A coin as declared when it was first signed: value in satoshi (decimal), P2WPKH script (hex). */
export interface SignedInput {
  outpoint: string;
  value: string;
  script: string;
}

export interface ReplayEntry {
  requestId: string;
  intentId: string;
  intentHash: string;
  keyId: string;
  chain: 'bitcoin' | 'ethereum';
  /** BTC: "txid:vout" of every input signed. */
  outpoints: string[];
  /** BTC: value and script of every input signed, as declared (empty for ETH). */
  inputs: SignedInput[];
  /** ETH: "keyId:chainId:nonce". */
  nonce: string | null;
}

interface StoredEntry extends Omit<ReplayEntry, 'inputs'> {
  /** Absent in lines written before coin values were recorded. */
  inputs?: SignedInput[];
  seq: number;
  at: string;
  response: unknown;
  prev: string;
}

export type ReplayDecision = { kind: 'repeat'; response: unknown } | { kind: 'new'; reservation: Reservation };

export interface Reservation {
  commit(response: unknown): Promise<void>;
  abort(): void;
}

const MAX_QUEUE = 100_000;
const GENESIS = '0'.repeat(64);

/**
 * Lines written before coin values were recorded: the values and scripts the signature committed
 * to are in the signed PSBT of the stored answer. Unknown (and so first-declared-wins) only if
 * that PSBT is missing or does not parse.
 */
function inputsOfLegacyEntry(entry: StoredEntry): SignedInput[] {
  if (entry.chain !== 'bitcoin') return [];
  const psbtBase64 = (entry.response as { psbt?: unknown } | undefined)?.psbt;
  if (typeof psbtBase64 !== 'string') return [];
  try {
    const psbt = bitcoin.Psbt.fromBase64(psbtBase64);
    return psbt.data.inputs.flatMap((input, index) => {
      const txInput = psbt.txInputs[index];
      if (!txInput || !input.witnessUtxo) return [];
      return [{
        outpoint: `${Buffer.from(txInput.hash).reverse().toString('hex')}:${txInput.index}`,
        value: input.witnessUtxo.value.toString(), script: Buffer.from(input.witnessUtxo.script).toString('hex'),
      }];
    });
  } catch {
    return [];
  }
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && new Set([...a, ...b]).size === a.length && new Set(a).size === a.length;

export class ReplayLog {
  private readonly byRequest = new Map<string, { intentHash: string; response: unknown }>();
  private readonly intentOfIntentId = new Map<string, string>();
  private readonly intentOfOutpoint = new Map<string, string>();
  private readonly intentOfNonce = new Map<string, string>();
  private readonly coinOfOutpoint = new Map<string, { value: string; script: string }>();
  private readonly signingsOfIntent = new Map<string, { outpoints: string[]; nonce: string | null }[]>();
  private seq = 0;
  private lastHash = GENESIS;
  private queue: { line: string; done: (error?: Error) => void }[] = [];
  private flushing = false;

  private constructor(private readonly path: string, private readonly file: FileHandle) {}

  static async open(path: string, log: (message: string) => void): Promise<ReplayLog> {
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
    let validBytes = 0;
    const entries: StoredEntry[] = [];
    let prev = GENESIS;
    for (const [index, line] of lines.entries()) {
      const isLast = index === lines.length - 1;
      if (isLast && line === '') break;
      let entry: StoredEntry;
      try {
        entry = JSON.parse(line) as StoredEntry;
      } catch {
        // fdatasync precedes every answer, so a torn final line was never answered.
        if (isLast) { log(`replay log: ignoring a torn final line (${line.length} bytes)`); break; }
        throw new Error(`replay log ${path} is corrupt at line ${index + 1}`);
      }
      if (entry.prev !== prev) throw new Error(`replay log ${path}: hash chain broken at line ${index + 1}`);
      prev = createHash('sha256').update(line).digest('hex');
      validBytes += Buffer.byteLength(line) + 1;
      entries.push(entry);
    }
    if (existsSync(path) && validBytes < Buffer.byteLength(lines.join('\n'))) {
      // Cut the torn tail so new entries start on a clean line.
      const fd = openSync(path, 'r+');
      try { ftruncateSync(fd, validBytes); fdatasyncSync(fd); } finally { closeSync(fd); }
    }
    const file = await open(path, 'a', 0o600);
    const replay = new ReplayLog(path, file);
    for (const entry of entries) {
      replay.index({ ...entry, inputs: entry.inputs ?? inputsOfLegacyEntry(entry) }, entry.response);
      replay.seq = entry.seq;
    }
    replay.lastHash = prev;
    log(`replay log ${path}: ${entries.length} entries read back`);
    return replay;
  }

  get size(): number {
    return this.seq;
  }

  private index(entry: ReplayEntry, response: unknown): () => void {
    const added: (() => void)[] = [];
    const put = <K, V>(map: Map<K, V>, key: K, value: V): void => {
      if (map.has(key)) return;
      map.set(key, value);
      added.push(() => map.delete(key));
    };
    put(this.byRequest, entry.requestId, { intentHash: entry.intentHash, response });
    put(this.intentOfIntentId, entry.intentId, entry.intentHash);
    for (const outpoint of entry.outpoints) put(this.intentOfOutpoint, outpoint, entry.intentHash);
    for (const input of entry.inputs) put(this.coinOfOutpoint, input.outpoint, { value: input.value, script: input.script });
    if (entry.nonce !== null) put(this.intentOfNonce, entry.nonce, entry.intentHash);
    const signings = this.signingsOfIntent.get(entry.intentHash) ?? [];
    const signing = { outpoints: entry.outpoints, nonce: entry.nonce };
    signings.push(signing);
    this.signingsOfIntent.set(entry.intentHash, signings);
    added.push(() => {
      const at = signings.indexOf(signing);
      if (at >= 0) signings.splice(at, 1);
      if (signings.length === 0) this.signingsOfIntent.delete(entry.intentHash);
    });
    return () => { for (const undo of added.reverse()) undo(); };
  }

  /** The stored answer for the same request id and intent, if it was already signed. */
  previous(requestId: string, intentHash: string): unknown {
    const earlier = this.byRequest.get(requestId);
    return earlier && earlier.intentHash === intentHash ? earlier.response : undefined;
  }

  /** Check and reserve atomically (no await between check and reservation). */
  begin(entry: ReplayEntry): ReplayDecision {
    const conflict = (message: string): never => { throw new SignerError('REPLAY_CONFLICT', message); };
    const earlier = this.byRequest.get(entry.requestId);
    if (earlier) {
      if (earlier.intentHash !== entry.intentHash) conflict(`request ${entry.requestId} was already used for another intent`);
      if (earlier.response === undefined) throw new SignerError('REQUEST_IN_FLIGHT', `request ${entry.requestId} is being signed`);
      return { kind: 'repeat', response: earlier.response };
    }
    const intentForId = this.intentOfIntentId.get(entry.intentId);
    if (intentForId !== undefined && intentForId !== entry.intentHash) conflict(`intent id ${entry.intentId} was already signed with different content`);
    // The coins are the signer's: a known outpoint keeps the value and script it was first signed with.
    for (const input of entry.inputs) {
      const known = this.coinOfOutpoint.get(input.outpoint);
      if (known === undefined) continue;
      if (known.value !== input.value) {
        throw new SignerError('INPUT_VALUE_MISMATCH', `outpoint ${input.outpoint} was signed as ${known.value} sat; this request says ${input.value} sat`,
          { outpoint: input.outpoint, signedValue: known.value, declaredValue: input.value });
      }
      if (known.script !== input.script) {
        throw new SignerError('INPUT_VALUE_MISMATCH', `outpoint ${input.outpoint} was signed with another script than this request declares`,
          { outpoint: input.outpoint, signedScript: known.script, declaredScript: input.script });
      }
    }
    for (const outpoint of entry.outpoints) {
      const other = this.intentOfOutpoint.get(outpoint);
      if (other !== undefined && other !== entry.intentHash) conflict(`outpoint ${outpoint} was already signed for another intent`);
    }
    if (entry.nonce !== null) {
      const other = this.intentOfNonce.get(entry.nonce);
      if (other !== undefined && other !== entry.intentHash) conflict(`nonce ${entry.nonce} was already signed for another intent`);
    }
    // A second signing of the same intent (a fee bump) must conflict with every earlier one on-chain,
    // or both could confirm and pay twice: ETH the same nonce; BTC exactly the same outpoints (the
    // service's replacements spend the original inputs, spendAll), so no coin the approvers never
    // saw is brought in and every signing of the intent commits to the same coin values.
    for (const prior of this.signingsOfIntent.get(entry.intentHash) ?? []) {
      if (entry.chain === 'ethereum' && prior.nonce !== entry.nonce) conflict(`intent already signed with nonce ${prior.nonce ?? '?'}: a replacement must reuse it`);
      if (entry.chain === 'bitcoin' && !sameSet(prior.outpoints, entry.outpoints)) {
        conflict(`intent already signed spending ${prior.outpoints.length} outpoint(s): a replacement must spend exactly the same outpoints`);
      }
    }
    const undo = this.index(entry, undefined);
    let settled = false;
    return {
      kind: 'new',
      reservation: {
        commit: async (response: unknown) => {
          if (settled) throw new Error('reservation already settled');
          settled = true;
          const slot = this.byRequest.get(entry.requestId);
          this.seq += 1;
          const stored: StoredEntry = { seq: this.seq, at: new Date().toISOString(), ...entry, response, prev: this.lastHash };
          const line = JSON.stringify(stored);
          this.lastHash = createHash('sha256').update(line).digest('hex');
          try {
            await this.append(line);
          } catch (error) {
            undo();
            throw error;
          }
          if (slot) slot.response = response;
        },
        abort: () => {
          if (settled) return;
          settled = true;
          undo();
        },
      },
    };
  }

  /** Group commit: every line queued while a write is in progress goes out with the next fdatasync. */
  private append(line: string): Promise<void> {
    if (this.queue.length >= MAX_QUEUE) return Promise.reject(new Error('replay log queue is full'));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.file.write(batch.map((item) => `${item.line}\n`).join(''));
          await this.file.datasync();
          for (const item of batch) item.done();
        } catch (error) {
          for (const item of batch) item.done(error instanceof Error ? error : new Error(String(error)));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /** For tests and tools: the raw file path. */
  get filePath(): string {
    return this.path;
  }
}
