import { readSync } from "node:fs";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { Verifier } from "../verify.ts";

const BLOCK = 1 << 20;

/**
 * Hashes a file that is written out of order, without a second full read: bytes written exactly at the hashed
 * frontier are hashed as they arrive; bytes that landed ahead of it (other chunks) are read back from the page
 * cache once the frontier reaches them. One 1 MiB buffer is the only allocation.
 */
export class PrefixHasher {
  /** Bytes `[0, pos)` are hashed. */
  pos = 0;
  private reading: Promise<void> | undefined;
  private buffer: Buffer | undefined;

  constructor(
    private readonly fd: number,
    private readonly verifier: Verifier,
  ) {}

  /** Offer bytes that were just written at `start`: hashed now when they continue the prefix. */
  feed(start: number, bytes: Uint8Array): void {
    if (start !== this.pos) return;
    this.verifier.update(bytes);
    this.pos += bytes.length;
  }

  /** Start (or join) reading back `[pos, upTo())`; `upTo` is asked again as more completes meanwhile. */
  catchUp(upTo: () => number): Promise<void> {
    if (!this.reading) {
      const run = this.readBack(upTo);
      this.reading = run;
      run.then(
        () => this.reading === run && (this.reading = undefined),
        () => this.reading === run && (this.reading = undefined),
      );
    }
    return this.reading;
  }

  /** Hash everything up to `size`; every byte below `upTo()` must be on disk. */
  async finish(upTo: () => number, size: number): Promise<void> {
    while (this.pos < size) {
      const before = this.pos;
      await this.catchUp(upTo);
      if (this.pos === before && upTo() <= before) throw new Error(`bytes from ${before} on are not on disk`);
    }
  }

  reset(): void {
    this.pos = 0;
    this.verifier.reset();
  }

  private async readBack(upTo: () => number): Promise<void> {
    this.buffer ??= Buffer.allocUnsafe(BLOCK);
    while (this.pos < upTo()) {
      const at = this.pos;
      const n = readSync(this.fd, this.buffer, 0, Math.min(BLOCK, upTo() - at), at);
      if (n <= 0) throw new Error(`short read at ${at} while verifying`);
      // a feed() may have advanced pos while we were reading: keep only what lies beyond it
      if (this.pos === at) {
        this.verifier.update(this.buffer.subarray(0, n));
        this.pos += n;
      }
      await yieldToLoop();
    }
  }
}
