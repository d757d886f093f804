// A fixed pool of items (PKCS#11 sessions) handed out one caller at a time. A session can run one
// cryptographic operation at a time, so parallel signing needs one session per signature.
export class Pool<T> {
  private readonly idle: T[];
  private readonly waiters: ((item: T) => void)[] = [];
  private readonly maxWaiters: number;

  constructor(items: T[], maxWaiters = 10_000) {
    if (items.length === 0) throw new Error('Pool needs at least one item');
    this.idle = [...items];
    this.maxWaiters = maxWaiters;
  }

  async use<R>(work: (item: T) => Promise<R> | R): Promise<R> {
    const item = await this.acquire();
    try {
      return await work(item);
    } finally {
      this.release(item);
    }
  }

  private acquire(): Promise<T> {
    const item = this.idle.pop();
    if (item !== undefined) return Promise.resolve(item);
    if (this.waiters.length >= this.maxWaiters) return Promise.reject(new Error('session pool queue is full'));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(item: T): void {
    const next = this.waiters.shift();
    if (next) next(item);
    else this.idle.push(item);
  }
}
