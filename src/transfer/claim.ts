import { dirname, join } from "node:path";
import { acquireLease, type FileLease, type LeaseTiming } from "./lease.ts";

/** What a small file's download holds while it runs: its directory's claim, shared with the other small files in it. */
export interface ClaimHold {
  readonly lost: boolean;
  /** The claim had to be waited for: another process worked here, so what it may have finished is worth a look. */
  readonly contended: boolean;
  release(): void;
}

export interface ClaimRequest {
  /** A small file's temp path: its directory is what is claimed. */
  temp: string;
  isDone: () => Promise<boolean>;
  signal: AbortSignal;
  onWait: (holder: string) => void;
}

interface DirClaim {
  /** The lease being taken, or held. */
  lock: Promise<FileLease | undefined>;
  holders: number;
  contended: boolean;
  /** Waiters told who holds it (each file reports its own wait). */
  onWait: Set<(holder: string) => void>;
  idle?: NodeJS.Immediate;
  releasing?: Promise<void>;
}

/**
 * One file lease per temp directory (`.claim.lock`) stands in for the `<file>.lock` leases of every small file in it:
 * the same safety against a second process (it waits, or takes the claim over when its heartbeat stops) for one
 * lease per model instead of one per file. Held while any small file of the directory is in flight in this run, and
 * given up as soon as none is, so another process is not kept waiting for files this one is not fetching.
 */
export class Claims {
  private dirs = new Map<string, DirClaim>();

  constructor(private readonly timing: LeaseTiming) {}

  /**
   * Hold the claim on `temp`'s directory; undefined when `isDone` says another process finished the file while
   * this one waited.
   */
  async enter({ temp, isDone, signal, onWait }: ClaimRequest): Promise<ClaimHold | undefined> {
    const dir = dirname(temp);
    for (;;) {
      signal.throwIfAborted();
      let claim = this.dirs.get(dir);
      if (claim?.releasing) {
        await claim.releasing;
        continue;
      }
      if (!claim) claim = this.take(dir, isDone, signal);
      if (claim.idle) clearImmediate(claim.idle);
      claim.idle = undefined;
      claim.holders++;
      claim.onWait.add(onWait);
      const lock = await claim.lock.catch((error: unknown) => {
        this.leave(dir, claim);
        throw error;
      });
      claim.onWait.delete(onWait);
      if (lock) return this.hold(dir, claim, lock);
      // The file the claim was taken for is done by another process: this one may be too; if not, take it anew.
      this.leave(dir, claim);
      if (this.dirs.get(dir) === claim) this.dirs.delete(dir);
      if (await isDone()) return undefined;
    }
  }

  /** Resolves once the claims no file holds any more are released (before a model's temp folders are tidied). */
  async settled(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([...this.dirs.values()].map((c) => c.releasing));
  }

  /** Give up every claim (the run ends). */
  async close(): Promise<void> {
    await Promise.all([...this.dirs.values()].map(async (c) => (await c.lock.catch(() => undefined))?.release()));
    this.dirs.clear();
  }

  private take(dir: string, isDone: () => Promise<boolean>, signal: AbortSignal): DirClaim {
    const claim: DirClaim = { holders: 0, contended: false, onWait: new Set(), lock: Promise.resolve(undefined) };
    const onWait = (holder: string) => {
      claim.contended = true;
      for (const tell of claim.onWait) tell(holder);
    };
    claim.lock = acquireLease({ path: join(dir, ".claim.lock"), timing: this.timing, isDone, signal, onWait });
    claim.lock.catch(() => this.dirs.delete(dir));
    this.dirs.set(dir, claim);
    return claim;
  }

  private hold(dir: string, claim: DirClaim, lock: FileLease): ClaimHold {
    let released = false;
    return {
      get lost() {
        return lock.lost;
      },
      contended: claim.contended,
      release: () => {
        if (released) return;
        released = true;
        this.leave(dir, claim);
      },
    };
  }

  /** The last holder gone: release after this turn of the event loop, unless the next file of the directory comes. */
  private leave(dir: string, claim: DirClaim): void {
    if (--claim.holders > 0) return;
    claim.idle = setImmediate(() => {
      claim.idle = undefined;
      if (claim.holders > 0 || this.dirs.get(dir) !== claim) return;
      claim.releasing = claim.lock
        .then((lock) => lock?.release())
        .catch(() => {})
        .finally(() => {
          if (this.dirs.get(dir) === claim) this.dirs.delete(dir);
        });
    });
  }
}
