import type { Dispatcher } from "undici";
import type { LimitFunction } from "p-limit";
import type { FailedResponse, ResolvedFile } from "../types.ts";
import type { HashPool } from "./hash-pool.ts";
import type { LeaseTiming } from "./lease.ts";
import type { Claims } from "./claim.ts";
import type { WriteBudget } from "./positional-writer.ts";
import type { RateLimit } from "./rate.ts";

// The engine's types, apart from its code: the files that fetch a file see the engine through `Engine`, and the
// outside sees only `Transfer`, so no file of transfer/ imports the one that builds it.

export interface TransferOptions {
  /** Connections open at once across all files of all models (`--connections`). */
  connections: number;
  /** Files downloaded at once across all models (`--concurrency`). */
  files: number;
  /** Files at or above this size are fetched as parallel Range chunks. @default 16 MiB */
  rangeThreshold: number;
  /**
   * Size of one Range chunk; undefined: sized per file so that every connection gets about two (2-8 MiB). Small
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
   * How often the written ranges of a big file are recorded for resume (every eighth time flushed first, with an
   * fdatasync): a kill -9 loses up to this much of the download, a power cut up to eight times this. @default 250
   */
  checkpointMs: number;
  /** Cross-process file leases: heartbeat, staleness and poll intervals. @default 3 s, 30 s, 500 ms */
  lease: LeaseTiming;
  /**
   * How often a connection with nothing queued looks again for a slow remainder to take over; it also wakes when a
   * request of its file ends. @default 150
   */
  idlePollMs: number;
  /** Bytes received but not yet written, across all files, before connections pause. @default 16 MiB */
  writeBudget: number;
  /** Bytes per second for the whole run, across all connections (`--max-rate`); undefined = no cap. */
  maxRate?: number | undefined;
}

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
export interface Engine {
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
   * The fastest rate (bytes/s) one connection of this run has shown, over any file: what a small file's single
   * connection is judged against (it has no other connection of its own to compare with).
   */
  pace: { bestRate: number };
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

/** What the rest of the tool sees of the engine. */
export type Transfer = Pick<Engine, "options" | "dispatcher" | "fetch" | "durable" | "close">;
