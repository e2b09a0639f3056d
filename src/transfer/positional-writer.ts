import { write } from "node:fs";
import { DownloadModelsError } from "../errors.ts";

/**
 * Bytes received but not yet written, across every file of the run: past `limit` the connections pause, and
 * they resume once half of it has drained. On a slow network volume this is what keeps memory bounded however
 * many files are in flight.
 */
export class WriteBudget {
  private inFlight = 0;
  private waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  take(bytes: number): void {
    this.inFlight += bytes;
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

/** Asynchronous positional writes (libuv thread pool) of one file, drawing on the run's shared WriteBudget. */
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

  write(buf: Buffer, position: number): void {
    if (this.error) throw this.error;
    this.inFlight += buf.length;
    this.budget.take(buf.length);
    write(this.fd, buf, 0, buf.length, position, (err) => {
      this.inFlight -= buf.length;
      if (err && !this.error) {
        this.error = new DownloadModelsError(
          err.code === "ENOSPC"
            ? `${this.label}: the disk is full (writing at byte ${position}); free space and run again: the bytes written so far are kept`
            : `${this.label}: writing the file failed: ${err.message}`,
          { cause: err },
        );
      }
      if (!err) this.onWritten(position, position + buf.length);
      this.budget.give(buf.length);
      if (this.inFlight === 0) this.settle();
    });
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
