import { UsageError } from "../errors.ts";
import type { Env } from "../store/index.ts";
import { RateLimit, type TransferOptions } from "../transfer/index.ts";
import type { ByteRate } from "./options.ts";

/** The flags every command that moves bytes shares (absent ones take the engine's defaults). */
export interface RunFlags {
  concurrency?: number;
  connections?: number;
  maxRate?: ByteRate;
}

/** What a command hands the core to move or remove bytes: one shape for download, fill, repair, lock, prune, bake. */
export interface RunOptions {
  /** Files at once (`--concurrency`). */
  concurrency?: number;
  /** `--connections`: the one budget of connections, downloads and upload requests together. */
  connections?: number;
  /** Engine settings: connections, the cap, and the tuning knobs of the environment. */
  transfer: Partial<TransferOptions>;
  /** `--max-rate`: one budget for every byte of the run, downloaded or uploaded. */
  rate?: RateLimit;
  /** `--max-rate` as given (`10M`), for messages. */
  maxRateText?: string;
  signal: AbortSignal;
}

const MiB = 1024 * 1024;

/** A knob of the environment: a whole number in [min, max], or a UsageError naming it (as DOWNLOAD_MODELS_S3_PART_MB). */
function knob(env: Env, name: string, unit: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new UsageError(`${name}="${raw}" must be a whole number of ${unit} from ${min} to ${max}.`);
  return n;
}

/** Undocumented knobs for benchmarks and experiments, checked before any request. */
function tuning(env: Env): Partial<TransferOptions> {
  const chunkMb = knob(env, "DOWNLOAD_MODELS_CHUNK_MB", "MiB", 1, 1024);
  const checkpointMs = knob(env, "DOWNLOAD_MODELS_CHECKPOINT_MS", "ms", 1, 3_600_000);
  const writeBudgetMb = knob(env, "DOWNLOAD_MODELS_WRITE_BUDGET_MB", "MiB", 1, 4096);
  const staleMs = knob(env, "DOWNLOAD_MODELS_LOCK_STALE_MS", "ms", 100, 86_400_000);
  return {
    ...(chunkMb ? { chunkSize: chunkMb * MiB } : {}),
    ...(checkpointMs ? { checkpointMs } : {}),
    ...(writeBudgetMb ? { writeBudget: writeBudgetMb * MiB } : {}),
    ...(staleMs ? { lease: { staleMs, heartbeatMs: staleMs / 5, pollMs: 100 } } : {}),
  };
}

/** Flags + environment → run options: the one builder every command that moves or removes bytes goes through. */
export function runOptions(flags: RunFlags, env: Env, signal: AbortSignal): RunOptions {
  const transfer: Partial<TransferOptions> = {
    ...(flags.connections ? { connections: flags.connections } : {}),
    ...(flags.maxRate ? { maxRate: flags.maxRate.bytesPerSecond } : {}),
    ...tuning(env),
  };
  return {
    ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
    ...(flags.connections ? { connections: flags.connections } : {}),
    transfer,
    ...(flags.maxRate ? { rate: new RateLimit(flags.maxRate.bytesPerSecond), maxRateText: flags.maxRate.text } : {}),
    signal,
  };
}
