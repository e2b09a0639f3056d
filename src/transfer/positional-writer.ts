import { write } from "node:fs";
import { DownloadModelsError } from "../errors.ts";

/**
 * Asynchronous positional writes (libuv thread pool) with a byte budget: `hasRoom()` turns false past
 * `limit` bytes in flight and `whenRoom` resumes producers once half of it has drained.
 */
export class PositionalWriter {
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  private idle: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** The first write error (ENOSPC, EIO…): everything after it fails. */
  error: Error | undefined;

  constructor(
    private readonly fd: number,
    private readonly limit: number,
    private readonly onWritten: (start: number, end: number) => void,
    /** Names the file in error messages. */
    private readonly label: string,
  ) {}

  write(buf: Buffer, position: number): void {
    if (this.error) throw this.error;
    this.inFlight += buf.length;
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
      if (this.inFlight <= this.limit / 2) this.wake();
      if (this.inFlight === 0) this.settle();
    });
  }

  hasRoom(): boolean {
    return this.inFlight < this.limit;
  }

  whenRoom(resume: () => void): void {
    if (this.inFlight <= this.limit / 2) resume();
    else this.waiting.push(resume);
  }

  /** Resolves when every write so far returned; rejects with the write error if one failed. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return this.error ? Promise.reject(this.error) : Promise.resolve();
    return new Promise((resolve, reject) => this.idle.push({ resolve, reject }));
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resume of waiting) resume();
  }

  private settle(): void {
    const idle = this.idle;
    this.idle = [];
    for (const w of idle) (this.error ? w.reject(this.error) : w.resolve());
  }
}
