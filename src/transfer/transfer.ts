import { dirname } from "node:path";
import pLimit from "p-limit";
import type { Dispatcher } from "undici";
import { Agent } from "../net/index.ts";
import { createDisk, type Disk } from "../util/index.ts";
import { DEFAULT_CONNECTIONS, DEFAULT_FILES, DEFAULT_RANGE_THRESHOLD } from "../util/index.ts";
import { fetchFile } from "./fetch-file.ts";
import { HashPool } from "./hash-pool.ts";
import { acquireLease } from "./lease.ts";
import { Claims } from "./claim.ts";
import { WriteBudget } from "./positional-writer.ts";
import { RateLimit } from "./rate.ts";
import { isRanged } from "./ranges.ts";
import type { Engine, FetchOutcome, FetchRequest, TransferEvent, TransferOptions } from "./engine.ts";

export type { Engine, FetchOutcome, FetchRequest, Transfer, TransferEvent, TransferOptions } from "./engine.ts";

export const defaultTransferOptions: TransferOptions = {
  connections: DEFAULT_CONNECTIONS,
  files: DEFAULT_FILES,
  rangeThreshold: DEFAULT_RANGE_THRESHOLD,
  stallMs: 30_000,
  attempts: 6,
  baseDelayMs: 1000,
  checkpointMs: 250,
  idlePollMs: 150,
  lease: { heartbeatMs: 3000, staleMs: 30_000, pollMs: 500 },
  writeBudget: 16 * 1024 * 1024,
};

/**
 * `using.rate`: a bandwidth budget shared with other work of the run (S3 uploads of a `--volume` fill); without it
 * `maxRate` makes one for this engine alone.
 */
export function createTransfer(options: Partial<TransferOptions> = {}, using: { dispatcher?: Dispatcher; disk?: Disk; rate?: RateLimit } = {}): Engine {
  const o = { ...defaultTransferOptions, ...options };
  const own = using.dispatcher
    ? undefined
    : new Agent({ connections: o.connections, keepAliveTimeout: 30_000, headersTimeout: o.stallMs, bodyTimeout: o.stallMs * 2 });
  const disk = using.disk ?? createDisk();
  const files = pLimit(o.files);
  // Two models can share a blob (same id, other filters): one download, both wait on it.
  const inFlight = new Map<string, Promise<FetchOutcome>>();
  const transfer: Engine = {
    options: o,
    dispatcher: using.dispatcher ?? own!,
    connection: pLimit(o.connections),
    hashes: new HashPool(),
    writes: new WriteBudget(o.writeBudget),
    rate: using.rate ?? (o.maxRate ? new RateLimit(o.maxRate) : undefined),
    claims: new Claims(o.lease),
    flushes: new Map(),
    pace: { bestRate: 0 },
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
 * Fetch one file under a cross-process lease: its own for a big file, its directory's claim for a small one. The
 * file may also turn up finished by another process.
 */
async function lockedFetch(transfer: Engine, disk: Disk, request: FetchRequest): Promise<FetchOutcome> {
  const signal = request.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  const emit = (e: TransferEvent) => request.onEvent?.(e);
  const onWait = (holder: string) => emit({ type: "wait", holder });
  await disk.makeDir(request.root, dirname(request.temp));
  const small = !isRanged(request.file.size, transfer.options);
  const { temp, isDone } = request;
  const claim = small ? await transfer.claims.enter({ temp, isDone, signal, onWait }) : undefined;
  const lock = small ? claim : await acquireLease({ path: `${temp}.lock`, timing: transfer.options.lease, isDone, signal, onWait });
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
