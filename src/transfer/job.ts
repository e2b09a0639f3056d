import { fdatasync } from "node:fs";
import { promisify } from "node:util";
import type { ResolvedFile } from "../types.ts";
import { Verifier } from "./verify.ts";
import type { BackgroundHash } from "./hash-pool.ts";
import { PositionalWriter } from "./positional-writer.ts";
import { RangeSet } from "./ranges.ts";
import { writeState } from "./state.ts";
import type { Engine } from "./engine.ts";

const fdatasyncAsync = promisify(fdatasync);

export interface JobHooks {
  /** Bytes moved over the network (negative when discarded). */
  onProgress?: (delta: number) => void;
  onRetry?: (attempt: number, delayMs: number, reason: string) => void;
}

/** The record of a partial file names what its bytes must hash to: a different remote file starts over. */
export const identityOf = (f: ResolvedFile) => f.sha256 ?? f.gitSha1 ?? f.etag ?? `size:${f.size}`;

/**
 * The mutable state of one file download, in one place: which ranges are written, what is hashed (inline for one
 * stream, on a worker for chunked files), what is recorded for resume, and the progress owed to the listener.
 * `reset()` is the only way to start over from byte 0.
 */
export class FileJob {
  readonly size: number;
  readonly identity: string;
  /** Big files go as parallel Range chunks and keep a resume record; small ones are one stream. */
  readonly ranged: boolean;
  done: RangeSet;
  /** Total of `done` when the resume record was last written (-1: the record must be rewritten). */
  private recorded: number;
  /** Prefix handed to the background hash so far. */
  private advancedTo = 0;
  readonly verifier: Verifier;
  readonly writer: PositionalWriter;
  private networkBytes = 0;
  private pendingProgress = 0;
  private checkpointing: Promise<void> | undefined;

  constructor(
    readonly file: ResolvedFile,
    readonly temp: string,
    readonly fd: number,
    readonly transfer: Engine,
    readonly label: string,
    readonly hooks: JobHooks,
    prior: RangeSet,
    readonly background: BackgroundHash | undefined,
  ) {
    this.size = file.size;
    this.identity = identityOf(file);
    this.ranged = file.size >= transfer.options.rangeThreshold;
    this.done = prior;
    this.recorded = prior.total;
    this.verifier = new Verifier(file);
    this.writer = new PositionalWriter(fd, transfer.writes, (start, end) => this.written(start, end), label);
    if (background && prior.prefixEnd() > 0) this.advanceHash();
  }

  /** A range counts as on disk (`done`) only once its write returned. */
  private written(start: number, end: number): void {
    this.done.add(start, end);
    if (this.background && this.done.prefixEnd() - this.advancedTo >= 4 << 20) this.advanceHash();
  }

  private advanceHash(): void {
    this.advancedTo = this.done.prefixEnd();
    this.background!.advance(this.advancedTo);
  }

  /** Progress goes out per MiB, not per 64 KiB piece: fewer events, less garbage on the hot path. */
  addProgress(bytes: number): void {
    this.networkBytes += bytes;
    this.pendingProgress += bytes;
    if (this.pendingProgress >= 1 << 20) this.flushProgress();
  }

  flushProgress(): void {
    if (this.pendingProgress !== 0) this.hooks.onProgress?.(this.pendingProgress);
    this.pendingProgress = 0;
  }

  /** Start over from byte 0: every byte fetched so far is discarded and the resume record is rewritten. */
  reset(): void {
    this.flushProgress();
    this.hooks.onProgress?.(-this.networkBytes);
    this.networkBytes = 0;
    this.done = new RangeSet();
    this.recorded = -1;
    this.advancedTo = 0;
    this.verifier.reset();
    this.background?.reset();
  }

  /** Flush written ranges and record them, so a killed run resumes from them. A missed checkpoint only costs bytes. */
  checkpoint(): Promise<void> | undefined {
    if (!this.ranged || this.checkpointing || this.done.total === this.recorded) return this.checkpointing;
    const ranges = this.done.ranges;
    const total = this.done.total;
    this.checkpointing = fdatasyncAsync(this.fd)
      .then(() => writeState(this.temp, this.identity, this.size, ranges))
      .then(() => void (this.recorded = total))
      .catch(() => {})
      .finally(() => (this.checkpointing = undefined));
    return this.checkpointing;
  }

  /** Wait for a checkpoint in progress. */
  async settled(): Promise<void> {
    await this.checkpointing;
  }
}
