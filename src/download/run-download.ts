import pLimit from "p-limit";
import { DownloadModelsError, errorKind } from "../errors.ts";
import type { Dispatcher } from "undici";
import type { DownloadEvent, EventSink, ModelResult } from "./events.ts";
import type { Registry } from "../sources/index.ts";
import type { Env, Roots } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { DEFAULT_FILES, DEFAULT_MODELS } from "../util/index.ts";
import { createDisk } from "../util/index.ts";
import { createRedactor, type Redactor } from "../util/index.ts";
import { SpaceReservations } from "./space.ts";
import { createTransfer, type RateLimit, type TransferOptions } from "../transfer/index.ts";
import { commitModel } from "./commit.ts";
import { missingBytes, type RunContext } from "./context.ts";
import { fetchModel } from "./fetch.ts";
import { planModel } from "./plan.ts";
import type { Lock, LockEntry } from "../lockfile/index.ts";

export interface RunDownloadOptions {
  models: ModelRequest[];
  registry: Registry;
  roots: Roots;
  env: Env;
  /** `--token`: used for every source instead of its env var. */
  token?: string;
  /** Download even when a complete copy is on disk. */
  force?: boolean;
  /** Resolve and report what would be downloaded; write nothing. */
  dryRun?: boolean;
  /** Skip the free-space check (for filesystems that report it wrongly). @default false */
  skipSpaceCheck?: boolean;
  /** Files downloaded at once, across all models. @default 32 */
  concurrency?: number;
  /** Connections, ranged chunks, stall and retry settings of the transfer engine. */
  transfer?: Partial<TransferOptions>;
  /** Models resolved at once (API calls). @default 4 */
  modelConcurrency?: number;
  dispatcher?: Dispatcher;
  /** A bandwidth budget shared with the rest of the run (uploads of a volume fill); else `transfer.maxRate`'s own. */
  rate?: RateLimit;
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** Hides the run's secrets in results and events; one is created per run when not given. */
  redactor?: Redactor;
  /** A lockfile to follow: locked models are fetched at their locked commit and checked against its hashes. */
  lock?: Lock;
}

export interface Summary {
  models: ModelResult[];
  downloaded: number;
  /** Complete again without a byte fetched: every file was on disk, only links or records were missing. */
  relinked: number;
  skipped: number;
  failed: number;
  planned: number;
  /** Models the run's signal stopped before they finished (kept for the next run, not failed). */
  interrupted: number;
  /** Bytes moved over the network. */
  downloadedBytes: number;
  /** Total size of every model's files. */
  totalBytes: number;
  seconds: number;
  /** Lock entries for the models of this run the lock did not have (empty without a lock). */
  lockAdded: LockEntry[];
}

/** One model through its three phases (plan, fetch, commit); a failure is the model's result, never the run's. */
async function runModel(model: ModelRequest, run: RunContext): Promise<ModelResult> {
  const t0 = performance.now();
  const result: ModelResult = {
    source: model.source, id: model.id, revision: model.revision, status: "failed",
    files: 0, bytes: 0, downloadedBytes: 0, reusedFiles: 0, projects: model.projects, seconds: 0,
    ...(model.include.length ? { include: model.include } : {}), ...(model.exclude.length ? { exclude: model.exclude } : {}),
    ...(model.localDir ? { localDir: model.localDir } : {}),
  };
  const signal = run.signal ?? new AbortController().signal;
  const done = (status: ModelResult["status"]) => {
    result.status = status;
    result.seconds = (performance.now() - t0) / 1000;
    return result;
  };
  let plan: Awaited<ReturnType<typeof planModel>> | undefined;
  try {
    plan = await planModel(model, run, signal);
    if (plan.kind === "skip") {
      Object.assign(result, { commit: plan.commit, files: plan.files, bytes: plan.bytes, reusedFiles: plan.files, path: plan.store.snapshotDir(plan.commit) });
      run.emit({ type: "model-skip", model, result: done("skipped") });
      return result;
    }
    Object.assign(result, {
      commit: plan.snapshot.commit, files: plan.files.length, bytes: plan.files.reduce((n, f) => n + f.size, 0),
      reusedFiles: plan.reused.size, path: plan.store.snapshotDir(plan.snapshot.commit),
      ...(plan.lockUse ? { lock: plan.lockUse } : {}),
    });
    if (run.dryRun) {
      result.downloadedBytes = missingBytes(plan);
      return done("planned");
    }
    const fetching = plan;
    await fetchModel({ plan: fetching, run, result, signal });
    await commitModel(fetching, run, (missing) => fetchModel({ plan: { ...fetching, files: missing, reused: new Set() }, run, result, signal }));
    // Nothing had to be fetched (a deleted snapshot link, a lost manifest): the files were only linked again.
    run.emit({ type: "model-done", model, result: done(result.downloadedBytes === 0 && fetching.reused.size === fetching.files.length ? "relinked" : "downloaded") });
    return result;
  } catch (error) {
    const err = error instanceof Error ? error : new DownloadModelsError(String(error));
    result.error = run.redactor.redact(err.message);
    // Stopped by the run's signal: the model is not broken, the run was cut short; its bytes are kept.
    if (signal.aborted) {
      result.errorKind = "InterruptedError";
      run.emit({ type: "model-interrupted", model, result: done("interrupted") });
      return result;
    }
    result.errorKind = errorKind(err);
    run.emit({ type: "model-error", model, result: done("failed"), error: err });
    return result;
  } finally {
    if (plan?.kind === "fetch") await plan.hold?.release();
    run.space.release(model);
  }
}

/**
 * Download every model: skip complete ones with zero network requests, resolve the rest through their downloader,
 * move and verify the bytes, lay them out, and write each model's manifest last. A failed model does not stop the
 * others. Only schedules: each model's work is its three phases (plan, fetch, commit) in this folder.
 */
export async function runDownload(options: RunDownloadOptions): Promise<Summary> {
  const started = performance.now();
  const disk = createDisk();
  const transfer = createTransfer(
    { files: options.concurrency ?? DEFAULT_FILES, ...options.transfer },
    { ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}), ...(options.rate ? { rate: options.rate } : {}), disk },
  );
  const redactor = options.redactor ?? createRedactor();
  redactor.add(options.token);
  const run: RunContext = {
    registry: options.registry, roots: options.roots, env: options.env,
    ...(options.token ? { token: options.token } : {}),
    force: Boolean(options.force), dryRun: Boolean(options.dryRun), skipSpaceCheck: Boolean(options.skipSpaceCheck),
    transfer, disk, redactor, space: new SpaceReservations(transfer.options), hashing: pLimit(4),
    ...(options.signal ? { signal: options.signal } : {}),
    emit: (e: DownloadEvent) => options.onEvent?.(e),
    ...(options.lock ? { lock: { lock: options.lock, added: [] } } : {}),
  };
  const modelLimit = pLimit(options.modelConcurrency ?? DEFAULT_MODELS);
  run.emit({ type: "start", models: options.models.length });
  try {
    const results = await Promise.all(options.models.map((m) => modelLimit(() => runModel(m, run))));
    const count = (s: ModelResult["status"]) => results.filter((r) => r.status === s).length;
    return {
      models: results,
      downloaded: count("downloaded"), relinked: count("relinked"), skipped: count("skipped"), failed: count("failed"), planned: count("planned"), interrupted: count("interrupted"),
      downloadedBytes: results.reduce((n, r) => n + (r.status === "planned" ? 0 : r.downloadedBytes), 0),
      totalBytes: results.reduce((n, r) => n + r.bytes, 0),
      seconds: (performance.now() - started) / 1000,
      lockAdded: run.lock?.added ?? [],
    };
  } finally {
    await transfer.close();
  }
}
