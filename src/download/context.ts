import type { LimitFunction } from "p-limit";
import type { Downloader } from "../sources/index.ts";
import type { DownloadEvent } from "./events.ts";
import type { ModelStore } from "../store/index.ts";
import type { Disk } from "../util/index.ts";
import type { Redactor } from "../net/index.ts";
import type { Registry } from "../sources/index.ts";
import type { Env, Roots } from "../store/index.ts";
import type { SpaceReservations } from "./space.ts";
import type { Transfer } from "../transfer/index.ts";
import type { ModelRequest, ResolvedFile, Snapshot } from "../types.ts";
import type { Lock, LockEntry } from "../lockfile/index.ts";

/** What every phase of every model of one run shares. Created per run: nothing here outlives it. */
export interface RunContext {
  registry: Registry;
  roots: Roots;
  env: Env;
  /** `--token`: used for every source instead of its env var. */
  token?: string;
  force: boolean;
  dryRun: boolean;
  skipSpaceCheck: boolean;
  transfer: Transfer;
  disk: Disk;
  redactor: Redactor;
  space: SpaceReservations;
  /** Hashing of files on disk while planning (reuse checks): a few at a time, not every big file at once. */
  hashing: LimitFunction;
  signal?: AbortSignal;
  emit(event: DownloadEvent): void;
  /** The lockfile the run follows, if any; entries for models it did not have are collected in `added`. */
  lock?: { lock: Lock; added: LockEntry[] };
}

/** A model the plan phase found complete on disk: nothing to fetch, nothing to commit. */
export interface SkipPlan {
  kind: "skip";
  store: ModelStore;
  commit: string;
  files: number;
  bytes: number;
}

/** A model to fetch: its resolved snapshot, the files selected by its filters, and which of them are missing. */
export interface FetchPlan {
  kind: "fetch";
  model: ModelRequest;
  downloader: Downloader;
  store: ModelStore;
  snapshot: Snapshot;
  files: ResolvedFile[];
  /** Files already on disk as they should be: linked, not fetched. */
  reused: Set<ResolvedFile>;
  token?: string;
  /** How the lock was used: the model was downloaded at its locked commit, or is new to the lock. */
  lockUse?: "locked" | "added";
}

export type ModelPlan = SkipPlan | FetchPlan;

export const missingBytes = (plan: FetchPlan) => plan.files.reduce((n, f) => n + (plan.reused.has(f) ? 0 : f.size), 0);
