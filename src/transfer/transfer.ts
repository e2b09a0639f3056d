import pLimit, { type LimitFunction } from "p-limit";
import { Agent, type Dispatcher } from "undici";
import { HashPool } from "./hash-pool.ts";
import type { LockTiming } from "./lock.ts";
import { WriteBudget } from "./positional-writer.ts";

export interface TransferOptions {
  /** Connections open at once across all files of all models (`--connections`). @default 32 */
  connections: number;
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
  connections: 32,
  rangeThreshold: 16 * 1024 * 1024,
  chunkSize: 8 * 1024 * 1024,
  stallMs: 30_000,
  attempts: 6,
  baseDelayMs: 1000,
  checkpointMs: 100,
  lock: { heartbeatMs: 3000, staleMs: 30_000, pollMs: 500 },
  writeBudget: 16 * 1024 * 1024,
};

/** The one owner of connections: a keep-alive pool and a budget shared by every request of every file. */
export interface Transfer {
  options: TransferOptions;
  dispatcher: Dispatcher;
  /** Run one HTTP exchange inside the connection budget. */
  connection: LimitFunction;
  /** Background hashing of big files. */
  hashes: HashPool;
  /** Received-but-unwritten bytes across all files. */
  writes: WriteBudget;
  close(): Promise<void>;
}

export function createTransfer(options: Partial<TransferOptions> = {}, dispatcher?: Dispatcher): Transfer {
  const o = { ...defaultTransferOptions, ...options };
  const own = dispatcher
    ? undefined
    : new Agent({ connections: o.connections, keepAliveTimeout: 30_000, headersTimeout: o.stallMs, bodyTimeout: o.stallMs * 2 });
  const hashes = new HashPool();
  return {
    options: o,
    dispatcher: dispatcher ?? own!,
    connection: pLimit(o.connections),
    hashes,
    writes: new WriteBudget(o.writeBudget),
    close: async () => {
      await Promise.all([own?.close(), hashes.close()]);
    },
  };
}
