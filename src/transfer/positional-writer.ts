import { writev } from "node:fs";
import { DiskSpaceError, DownloadModelsError } from "../errors.ts";

/**
 * Bytes received but not yet written, across every file of the run: past `limit` the connections pause, and
 * they resume once half of it has drained. On a slow network volume this is what keeps memory bounded however
 * many files are in flight.
 */
export class WriteBudget {
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  /** Streams gathering pieces: when the budget runs out they all write what they hold, or slow streams that are
   * still gathering would keep it full while the fast ones wait for it. */
  readonly gathering = new Set<{ flush(): void }>();

  /** When the budget last ran out (performance.now()): since then the disk, not the network, may set the pace. */
  fullAt = -Infinity;

  constructor(private readonly limit: number) {}

  take(bytes: number): void {
    this.inFlight += bytes;
    if (this.inFlight < this.limit) return;
    this.fullAt = performance.now();
    for (const g of this.gathering) g.flush();
  }

  give(bytes: number): void {
    this.inFlight -= bytes;
    if (this.inFlight <= this.limit / 2 && this.waiting.length > 0) {
      const waiting = this.waiting;
      this.waiting = [];
      for (const resume of waiting) resume();
    }
  }

  hasRoom(): boolean {
    return this.inFlight < this.limit;
  }

  whenRoom(resume: () => void): void {
    if (this.inFlight <= this.limit / 2) resume();
    else this.waiting.push(resume);
  }
}

/** Pieces gathered per write: 1 MiB at 64 KiB a piece is 16, well below IOV_MAX (1024). */
const GATHER_BYTES = 1 << 20;
const MAX_PIECES = 512;
/** A slow stream writes at least this often: what it holds is lost to a kill -9 and fetched again. */
const GATHER_MS = 100;

/**
 * Asynchronous positional writes (libuv thread pool) of one file, drawing on the run's shared WriteBudget. Socket
 * pieces of one stream are gathered into one `writev` of ~1 MiB: a thread-pool round trip per MiB, not per 64 KiB.
 */
export class PositionalWriter {
  private inFlight = 0;
  private idle: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** The first write error (ENOSPC, EIO…): everything after it fails. */
  error: Error | undefined;

  constructor(
    private readonly fd: number,
    private readonly budget: WriteBudget,
    private readonly onWritten: (start: number, end: number) => void,
    /** Names the file in error messages. */
    private readonly label: string,
  ) {}

  /** Write `buf` at `position` now. */
  write(buf: Buffer, position: number): void {
    this.writeAll([buf], buf.length, position);
  }

  /** A gatherer for one contiguous stream starting at `position`: `push` pieces, `done` at its end. */
  stream(position: number): Gather {
    const g = new Gather(this, position);
    this.budget.gathering.add(g);
    return g;
  }

  /** @internal */
  forget(g: Gather): void {
    this.budget.gathering.delete(g);
  }

  /** @internal Bytes held by a gatherer count against the budget from the moment they arrive. */
  hold(bytes: number): void {
    if (this.error) throw this.error;
    this.inFlight += bytes;
    this.budget.take(bytes);
  }

  /**
   * @internal Write pieces already counted by `hold`; short writes continue where they stopped. `returned` is told
   * once all of them are written (or failed).
   */
  writeHeld(pieces: Buffer[], bytes: number, position: number, returned?: () => void): void {
    writev(this.fd, pieces, position, (err, n) => {
      if (!err && n < bytes) {
        if (n > 0) this.onWritten(position, position + n);
        this.inFlight -= n;
        this.budget.give(n);
        return this.writeHeld(rest(pieces, n), bytes - n, position + n, returned);
      }
      this.inFlight -= bytes;
      if (err && !this.error) {
        this.error = err.code === "ENOSPC"
          ? new DiskSpaceError(`${this.label}: the disk is full (writing at byte ${position}); free space and run again: the bytes written so far are kept`, this.label, 0, 0, { cause: err })
          : new DownloadModelsError(`${this.label}: writing the file failed: ${err.message}`, { cause: err });
      }
      if (!err) this.onWritten(position, position + bytes);
      this.budget.give(bytes);
      returned?.();
      if (this.inFlight === 0) this.settle();
    });
  }

  private writeAll(pieces: Buffer[], bytes: number, position: number): void {
    this.hold(bytes);
    this.writeHeld(pieces, bytes, position);
  }

  hasRoom(): boolean {
    return this.budget.hasRoom();
  }

  whenRoom(resume: () => void): void {
    this.budget.whenRoom(resume);
  }

  /** Resolves when every write so far returned; rejects with the write error if one failed. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return this.error ? Promise.reject(this.error) : Promise.resolve();
    return new Promise((resolve, reject) => this.idle.push({ resolve, reject }));
  }

  private settle(): void {
    const idle = this.idle;
    this.idle = [];
    for (const w of idle) (this.error ? w.reject(this.error) : w.resolve());
  }
}

/** The pieces after the first `n` bytes. */
function rest(pieces: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const p of pieces) {
    if (n >= p.length) n -= p.length;
    else {
      out.push(n > 0 ? p.subarray(n) : p);
      n = 0;
    }
  }
  return out;
}

/** Consecutive pieces of one stream, written together once ~1 MiB has arrived (or at the stream's end). */
export class Gather {
  private pieces: Buffer[] = [];
  private bytes = 0;
  private since = 0;
  /** This stream's writes not yet returned: its request waits for these alone, not for other streams' writes. */
  private writing = 0;
  private idle: Array<() => void> = [];
  private readonly returned = () => {
    if (--this.writing > 0) return;
    const idle = this.idle;
    this.idle = [];
    for (const resume of idle) resume();
  };

  constructor(private readonly writer: PositionalWriter, private position: number) {}

  push(buf: Buffer): void {
    this.writer.hold(buf.length);
    if (this.bytes === 0) this.since = performance.now();
    this.pieces.push(buf);
    this.bytes += buf.length;
    if (this.bytes >= GATHER_BYTES || this.pieces.length >= MAX_PIECES || performance.now() - this.since >= GATHER_MS) this.flush();
  }

  /** The stream ended, failed or was cut short: write what is gathered. */
  done(): void {
    this.flush();
    this.writer.forget(this);
  }

  /** Write what is gathered now. */
  flush(): void {
    if (this.bytes === 0) return;
    const { pieces, bytes, position } = this;
    this.pieces = [];
    this.bytes = 0;
    this.position += bytes;
    this.writing++;
    this.writer.writeHeld(pieces, bytes, position, this.returned);
  }

  /**
   * Resolves once every write of this stream returned; rejects with the file's write error if one failed. Waiting
   * on the whole file instead would hold a finished request (and its connection) until every other stream of the
   * file is quiet at the same instant, which a busy file may not be for many seconds.
   */
  drained(): Promise<void> {
    const settled = () => (this.writer.error ? Promise.reject(this.writer.error) : Promise.resolve());
    if (this.writing === 0) return settled();
    return new Promise<void>((resolve) => this.idle.push(resolve)).then(settled);
  }
}
