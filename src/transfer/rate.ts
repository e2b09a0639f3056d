/**
 * The run's bandwidth cap (`maxRate`), shared by every connection of every file: a token bucket that goes into
 * debt as bytes arrive, and the connections that find it in debt pause until it is paid back. Pausing a read
 * stops the socket, so TCP slows the sender down: the cap holds on the wire, not only on disk.
 */
export class RateLimit {
  private tokens: number;
  private at = performance.now();
  private waiting: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  /** A burst of 50 ms of the rate (at least 64 KiB): small enough to stay near the cap over any second. */
  private readonly burst: number;

  constructor(readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new RangeError("`maxRate` must be > 0 bytes per second");
    this.burst = Math.max(64 * 1024, bytesPerSecond / 20);
    this.tokens = this.burst;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.bytesPerSecond) / 1000);
    this.at = now;
  }

  /** Count `bytes` as received; false when the bucket is in debt and the connection should pause. */
  take(bytes: number): boolean {
    this.refill();
    this.tokens -= bytes;
    return this.tokens > 0;
  }

  /** Call `resume` once the debt is paid back. */
  whenAllowed(resume: () => void): void {
    this.refill();
    if (this.tokens > 0 && this.waiting.length === 0) return resume();
    this.waiting.push(resume);
    this.schedule();
  }

  /**
   * For senders that write a body chunk by chunk (S3 parts and PUTs): count `bytes` and, when that puts the
   * bucket in debt, wait until it is paid back before the next chunk goes out. Bursts are one chunk.
   */
  async acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.take(bytes)) return;
    // The bucket's timer does not keep the process alive (sockets do, for downloads): this wait must.
    const alive = setInterval(() => {}, 60_000);
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal!.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        this.whenAllowed(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    } finally {
      clearInterval(alive);
    }
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(1, ((1 - this.tokens) * 1000) / this.bytesPerSecond);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      if (this.tokens <= 0) return this.schedule();
      // Every paused connection goes on: what they read past the burst is debt that the next pause pays back,
      // so the average holds however many there are.
      const waiting = this.waiting;
      this.waiting = [];
      for (const resume of waiting) resume();
    }, wait);
    this.timer.unref();
  }
}
