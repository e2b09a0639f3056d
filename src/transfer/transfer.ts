import { dirname } from "node:path";
import pLimit, { type LimitFunction } from "p-limit";
import { Agent, type Dispatcher } from "undici";
import type { FailedResponse } from "../downloader.ts";
import type { ResolvedFile } from "../types.ts";
import { createDisk, type Disk } from "../path-safety.ts";
import { DEFAULT_CONNECTIONS, DEFAULT_FILES } from "../defaults.ts";
import { fetchFile } from "./fetch-file.ts";
import { HashPool } from "./hash-pool.ts";
import { acquireLock, type LockTiming } from "./lock.ts";
import { WriteBudget } from "./positional-writer.ts";

export interface TransferOptions {
  /** Connections open at once across all files of all models (`--connections`). */
  connections: number;
  /** Files downloaded at once across all models (`--concurrency`). */
  files: number;
  /** Files at or above this size are fetched as parallel Range chunks. @default 16 MiB */
  rangeThreshold: number;
  /** Size of one Range chunk. @default 8 MiB */
  chunkSize: number;
  /** A request that delivers no byte for this long is aborted and retried. @default 30 s */
  stallMs: number;
  /** Attempts per chunk for network errors, stalls, 408/429/5xx (reset when a try made progress). @default 6 */
  attempts: number;
  /** First backoff delay; doubles per attempt with jitter, capped at 30 s. @default 1000 */
  baseDelayMs: number;
  /** How often the written ranges of a big file are flushed and recorded for resume. @default 100 */
  checkpointMs: number;
  /** Cross-process file locks: heartbeat, staleness and poll intervals. @default 3 s, 30 s, 500 ms */
  lock: LockTiming;
  /** Bytes received but not yet written, across all files, before connections pause. @default 16 MiB */
  writeBudget: number;
}

export const defaultTransferOptions: TransferOptions = {
  connections: DEFAULT_CONNECTIONS,
  files: DEFAULT_FILES,
  rangeThreshold: 16 * 1024 * 1024,
  chunkSize: 8 * 1024 * 1024,
  stallMs: 30_000,
  attempts: 6,
  baseDelayMs: 1000,
  checkpointMs: 100,
  lock: { heartbeatMs: 3000, staleMs: 30_000, pollMs: 500 },
  writeBudget: 16 * 1024 * 1024,
};

/** What the engine reports about one file; the caller adds which model it belongs to. */
export type TransferEvent =
  | { type: "wait"; holder: string }
  | { type: "start" }
  | { type: "resume"; bytes: number }
  | { type: "progress"; delta: number }
  | { type: "retry"; attempt: number; delayMs: number; reason: string };

export interface FetchRequest {
  file: ResolvedFile;
  /** Where bytes go while unverified; its `.lock` and `.json` siblings are the engine's. */
  temp: string;
  /** The final name, given only after verification. */
  dest: string;
  /** Directories are created below it, and never through a symbolic link that leads out of it. */
  root: string;
  /** Names the file in messages, e.g. `config.json of org/name@main`. */
  label: string;
  signal?: AbortSignal;
  /** Another process may finish the same file meanwhile: is `dest` complete as it is? */
  isDone: () => Promise<boolean>;
  /** Explains a failed answer in the hub's terms. */
  describeError?: (response: FailedResponse) => Error | undefined;
  onEvent?: (event: TransferEvent) => void;
}

/** `fetched`: this request moved the bytes; `shared`: another process, or another request of this run, did. */
export type FetchOutcome = "fetched" | "shared";

/** The one owner of connections: a keep-alive pool, budgets shared by every request of every file, and the door. */
export interface Transfer {
  options: TransferOptions;
  dispatcher: Dispatcher;
  /** Run one HTTP exchange inside the connection budget. */
  connection: LimitFunction;
  /** Background hashing of big files. */
  hashes: HashPool;
  /** Received-but-unwritten bytes across all files. */
  writes: WriteBudget;
  /**
   * Put one verified file at `dest`: directories, the cross-process lock, the check that another process finished it
   * meanwhile, one download per destination in this run, ranged download, verification, the atomic rename.
   */
  fetch(request: FetchRequest): Promise<FetchOutcome>;
  close(): Promise<void>;
}

export function createTransfer(options: Partial<TransferOptions> = {}, using: { dispatcher?: Dispatcher; disk?: Disk } = {}): Transfer {
  const o = { ...defaultTransferOptions, ...options };
  const own = using.dispatcher
    ? undefined
    : new Agent({ connections: o.connections, keepAliveTimeout: 30_000, headersTimeout: o.stallMs, bodyTimeout: o.stallMs * 2 });
  const disk = using.disk ?? createDisk();
  const files = pLimit(o.files);
  // Two models can share a blob (same id, other filters): one download, both wait on it.
  const inFlight = new Map<string, Promise<FetchOutcome>>();
  const transfer: Transfer = {
    options: o,
    dispatcher: using.dispatcher ?? own!,
    connection: pLimit(o.connections),
    hashes: new HashPool(),
    writes: new WriteBudget(o.writeBudget),
    async fetch(request) {
      request.signal?.throwIfAborted();
      await disk.makeDir(request.root, dirname(request.dest));
      const pending = inFlight.get(request.dest);
      if (pending) return pending.then(() => "shared");
      const job = files(() => lockedFetch(transfer, disk, request)).finally(() => inFlight.delete(request.dest));
      inFlight.set(request.dest, job);
      return job;
    },
    close: async () => {
      await Promise.all([own?.close(), transfer.hashes.close()]);
    },
  };
  return transfer;
}

/** Fetch one file under its cross-process lock; the file may also turn up finished by another process. */
async function lockedFetch(transfer: Transfer, disk: Disk, request: FetchRequest): Promise<FetchOutcome> {
  const signal = request.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  const emit = (e: TransferEvent) => request.onEvent?.(e);
  await disk.makeDir(request.root, dirname(request.temp));
  const lock = await acquireLock(`${request.temp}.lock`, transfer.options.lock, request.isDone, signal, (holder) => emit({ type: "wait", holder }));
  if (!lock) return "shared";
  try {
    if (await request.isDone()) return "shared";
    emit({ type: "start" });
    await fetchFile({
      file: request.file, temp: request.temp, dest: request.dest, transfer, signal, label: request.label,
      isCancelled: () => lock.lost,
      onResume: (bytes) => emit({ type: "resume", bytes }),
      onProgress: (delta) => emit({ type: "progress", delta }),
      onRetry: (attempt, delayMs, reason) => emit({ type: "retry", attempt, delayMs, reason }),
      ...(request.describeError ? { describeError: request.describeError } : {}),
    });
    return "fetched";
  } finally {
    await lock.release();
  }
}
