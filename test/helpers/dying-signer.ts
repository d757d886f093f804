// A worker that dies between the signer's answer and the commit that stores it: the real signer
// (SoftHSM, its replay log) signs, then this client throws as a killed process would, so the
// pipeline step's database transaction is rolled back with nothing stored.
import { SignerClient } from '../../src/signer-client/signer-client.ts';

export class DyingSignerClient extends SignerClient {
  /** Request ids the signer answered and the "dead" worker never stored. */
  readonly signedThenLost: string[] = [];

  constructor(socketPath: string, private readonly dieAfter: (requestId: string) => boolean) {
    super(socketPath);
  }

  override async sign<T = Record<string, unknown>>(request: Record<string, unknown>): Promise<T> {
    const answer = await super.sign<T>(request);
    const requestId = String(request.requestId);
    if (this.dieAfter(requestId)) {
      this.signedThenLost.push(requestId);
      throw new Error(`the worker died after the signer signed ${requestId}`);
    }
    return answer;
  }
}
