import { fdatasync } from "node:fs";
import { promisify } from "node:util";
import type { ResolvedFile } from "../types.ts";
import { Verifier } from "./verify.ts";
import type { BackgroundHash } from "./hash-pool.ts";
import { PositionalWriter } from "./positional-writer.ts";
import { isRanged, RangeSet, type Range } from "./ranges.ts";
import { writeState } from "./state.ts";
import type { Engine } from "./engine.ts";

const fdatasyncAsync = promisify(fdatasync);
/** Every this many checkpoints the written ranges are flushed (fdatasync) before they are recorded. */
const FLUSH_EVERY = 8;

export interface JobHooks {
  /** Bytes moved over the network (negative when discarded). */
  onProgress?: (delta: number) => void;
  onRetry?: (attempt: number, delayMs: number, reason: string) => void;
}

/** The record of a partial file names what its bytes must hash to: a different remote file starts over. */
export const identityOf = (f: ResolvedFile) => f.sha256 ?? f.gitSha1 ?? f.etag ?? `size:${f.size}`;

export interface FileJobParams {
  file: ResolvedFile;
  /** The open temp file's path (its resume record is `<temp>.json`) and descriptor. */
  temp: string;
  fd: number;
  transfer: Engine;
  /** For messages, e.g. `config.json of org/name@main`. */
  label: string;
  hooks: JobHooks;
  /** Ranges an earlier run wrote and this one takes over (empty for a fresh file). */
  prior: RangeSet;
  /** The worker hashing a chunked file as it is written; undefined hashes inline (or not at all). */
  background: BackgroundHash | undefined;
  /** The part of `prior` its record lists as flushed. */
  priorFlushed?: readonly Range[];
}

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
  /** Ranges known flushed to disk, and their total (what a power cut cannot take back). */
  private flushed: Range[];
  private flushedTotal: number;
  private ticks = 0;

  readonly file: ResolvedFile;
  readonly temp: string;
  readonly fd: number;
  readonly transfer: Engine;
  readonly label: string;
  readonly hooks: JobHooks;
  readonly background: BackgroundHash | undefined;

  constructor({ file, temp, fd, transfer, label, hooks, prior, background, priorFlushed = [] }: FileJobParams) {
    this.file = file;
    this.temp = temp;
    this.fd = fd;
    this.transfer = transfer;
    this.label = label;
    this.hooks = hooks;
    this.background = background;
    this.size = file.size;
    this.identity = identityOf(file);
    this.ranged = isRanged(file.size, transfer.options);
    this.done = prior;
    this.recorded = prior.total;
    this.flushed = [...priorFlushed];
    this.flushedTotal = priorFlushed.reduce((n, [a, b]) => n + (b - a), 0);
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
    this.flushed = [];
    this.flushedTotal = -1;
    this.advancedTo = 0;
    this.verifier.reset();
    this.background?.reset();
  }

  /**
   * Record the written ranges, so a killed run resumes from them; every `FLUSH_EVERY`-th time (and with `flush`)
   * flush them first, so that a power cut only loses what came after that. Between flushes the record costs no
   * fdatasync: the ranges it adds are trusted only on this machine before it restarts (see `resumable`), which is
   * where a killed process's writes are still in the page cache. A missed checkpoint only costs bytes.
   */
  async checkpoint(flush = false): Promise<void> {
    if (!this.ranged) return;
    if (this.checkpointing) {
      if (!flush) return this.checkpointing;
      await this.checkpointing;
    }
    const due = flush || ++this.ticks % FLUSH_EVERY === 0;
    const total = this.done.total;
    if (total === this.recorded && (!due || total === this.flushedTotal)) return;
    const ranges = this.done.ranges;
    const flushed = due
      ? fdatasyncAsync(this.fd).then(() => {
          this.flushed = ranges;
          this.flushedTotal = total;
        })
      : Promise.resolve();
    this.checkpointing = flushed
      .then(() => writeState(this.temp, { identity: this.identity, size: this.size, done: this.flushed, written: ranges }))
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
