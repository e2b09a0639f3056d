import { dirname } from "node:path";
import pLimit, { type LimitFunction } from "p-limit";
import { Agent, type Dispatcher } from "undici";
import type { FailedResponse } from "../downloader.ts";
import type { ResolvedFile } from "../types.ts";
import { createDisk, type Disk } from "../path-safety.ts";
import { DEFAULT_CONNECTIONS, DEFAULT_FILES, DEFAULT_RANGE_THRESHOLD } from "../defaults.ts";
import { fetchFile } from "./fetch-file.ts";
import { HashPool } from "./hash-pool.ts";
import { acquireLock, type LockTiming } from "./lock.ts";
import { Claims } from "./claim.ts";
import { WriteBudget } from "./positional-writer.ts";
import { RateLimit } from "./rate.ts";

export interface TransferOptions {
  /** Connections open at once across all files of all models (`--connections`). */
  connections: number;
  /** Files downloaded at once across all models (`--concurrency`). */
  files: number;
  /** Files at or above this size are fetched as parallel Range chunks. @default 16 MiB */
  rangeThreshold: number;
  /**
   * Size of one Range chunk; undefined: sized per file so that every connection gets about four (1-8 MiB). Small
   * chunks balance uneven connections by themselves: a slow one holds little, the fast ones drain the queue.
   */
  chunkSize?: number | undefined;
  /** A request that delivers no byte for this long is aborted and retried. @default 30 s */
  stallMs: number;
  /** Attempts per chunk for network errors, stalls, 408/429/5xx (reset when a try made progress). @default 6 */
  attempts: number;
  /** First backoff delay; doubles per attempt with jitter, capped at 30 s. @default 1000 */
  baseDelayMs: number;
  /**
   * How often the written ranges of a big file are flushed and recorded for resume: each costs an fdatasync, and a
   * kill -9 loses up to this much of the download. @default 250
   */
  checkpointMs: number;
  /** Cross-process file locks: heartbeat, staleness and poll intervals. @default 3 s, 30 s, 500 ms */
  lock: LockTiming;
  /** Bytes received but not yet written, across all files, before connections pause. @default 16 MiB */
  writeBudget: number;
  /** Bytes per second for the whole run, across all connections (`--max-rate`); undefined = no cap. */
  maxRate?: number | undefined;
}

export const defaultTransferOptions: TransferOptions = {
  connections: DEFAULT_CONNECTIONS,
  files: DEFAULT_FILES,
  rangeThreshold: DEFAULT_RANGE_THRESHOLD,
  stallMs: 30_000,
  attempts: 6,
  baseDelayMs: 1000,
  checkpointMs: 250,
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
  /** The run's bandwidth cap, shared by every connection (`maxRate`). */
  rate: RateLimit | undefined;
  /** Directory claims that stand in for the lock files of small files. */
  claims: Claims;
  /** Small files are renamed into place before their flush to disk finishes; these flushes are still running. */
  flushes: Map<string, Promise<void>>;
  /**
   * Put one verified file at `dest`: directories, the cross-process lock, the check that another process finished it
   * meanwhile, one download per destination in this run, ranged download, verification, the atomic rename.
   */
  fetch(request: FetchRequest): Promise<FetchOutcome>;
  /**
   * The barrier before a manifest names these files: resolves once each of them fetched by this run is flushed to
   * disk (rejects with the flush's error), and the claims no file holds any more are given up.
   */
  durable(dests: readonly string[]): Promise<void>;
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
    rate: o.maxRate ? new RateLimit(o.maxRate) : undefined,
    claims: new Claims(o.lock),
    flushes: new Map(),
    async fetch(request) {
      request.signal?.throwIfAborted();
      await disk.makeDir(request.root, dirname(request.dest));
      const pending = inFlight.get(request.dest);
      if (pending) return pending.then(() => "shared");
      const job = files(() => lockedFetch(transfer, disk, request)).finally(() => inFlight.delete(request.dest));
      inFlight.set(request.dest, job);
      return job;
    },
    async durable(dests) {
      await Promise.all(dests.map((d) => transfer.flushes.get(d)));
      for (const d of dests) transfer.flushes.delete(d);
      await transfer.claims.settled();
    },
    close: async () => {
      await Promise.all([own?.close(), transfer.hashes.close(), transfer.claims.close(), ...[...transfer.flushes.values()].map((p) => p.catch(() => {}))]);
    },
  };
  return transfer;
}

/**
 * Fetch one file under a cross-process lock: its own for a big file, its directory's claim for a small one. The
 * file may also turn up finished by another process.
 */
async function lockedFetch(transfer: Transfer, disk: Disk, request: FetchRequest): Promise<FetchOutcome> {
  const signal = request.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  const emit = (e: TransferEvent) => request.onEvent?.(e);
  const onWait = (holder: string) => emit({ type: "wait", holder });
  await disk.makeDir(request.root, dirname(request.temp));
  const small = request.file.size < transfer.options.rangeThreshold;
  const claim = small ? await transfer.claims.enter(request.temp, request.isDone, signal, onWait) : undefined;
  const lock = small ? claim : await acquireLock(`${request.temp}.lock`, transfer.options.lock, request.isDone, signal, onWait);
  if (!lock) return "shared";
  try {
    // Planning saw the file missing: unless the claim had to be waited for, no other process can have finished it
    // since (at worst one that ran and ended in between did: that costs bandwidth, never correctness).
    if ((!claim || claim.contended) && (await request.isDone())) return "shared";
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
