import { setMaxListeners } from "node:events";
import pLimit from "p-limit";
import type { Dispatcher } from "undici";
import type { Downloader, ResolveContext } from "./downloader.ts";
import type { DownloadEvent, EventSink, ModelResult } from "./events.ts";
import type { Registry } from "./registry.ts";
import type { Env, Roots } from "./roots.ts";
import type { ModelRequest, ResolvedFile, Snapshot } from "./types.ts";
import { DownloadModelsError, HubError } from "./errors.ts";
import { fetchFile } from "./transfer/fetch-file.ts";
import { createTransfer, type TransferOptions } from "./transfer/transfer.ts";
import { unsafePathReason } from "./fs-utils.ts";
import { openStore } from "./layouts/index.ts";
import { findComplete, writeManifest } from "./manifest.ts";
import { matchesFilters } from "./patterns.ts";
import { redact, registerSecret } from "./redact.ts";
import { confine } from "./confine.ts";
import { SpaceReservations } from "./space.ts";
import { dirname } from "node:path";
import { acquireLock } from "./transfer/lock.ts";
import { ensureDir } from "./transfer/dirs.ts";

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
  signal?: AbortSignal;
  onEvent?: EventSink;
}

export interface Summary {
  models: ModelResult[];
  downloaded: number;
  skipped: number;
  failed: number;
  planned: number;
  /** Bytes moved over the network. */
  downloadedBytes: number;
  /** Total size of every model's files. */
  totalBytes: number;
  seconds: number;
}

export function tokenFor(downloader: Downloader, options: { token?: string; env: Env }): string | undefined {
  if (options.token) return options.token;
  for (const name of downloader.tokenEnv ?? []) if (options.env[name]) return options.env[name];
  return undefined;
}

/** The checks the core owes the filesystem, whatever the downloader says: safe, unique paths; sane sizes; http(s). */
function checkSnapshot(snapshot: Snapshot, model: ModelRequest): void {
  const label = `${model.id}@${model.revision}`;
  if (!snapshot.commit || unsafePathReason(snapshot.commit)) throw new DownloadModelsError(`${label}: the source resolved no usable commit`);
  const seen = new Set<string>();
  for (const f of snapshot.files) {
    const reason = unsafePathReason(f.path);
    if (reason) throw new DownloadModelsError(`${label}: refusing listed file ${JSON.stringify(f.path)}: ${reason}`);
    if (seen.has(f.path)) throw new DownloadModelsError(`${label}: the listing names ${f.path} twice`);
    seen.add(f.path);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new DownloadModelsError(`${label}: ${f.path} has no valid size`);
    if (!/^https?:\/\//.test(f.url)) throw new DownloadModelsError(`${label}: ${f.path} has a non-HTTP URL`);
  }
  for (const p of seen) {
    for (let i = p.indexOf("/"); i > 0; i = p.indexOf("/", i + 1)) {
      if (seen.has(p.slice(0, i))) throw new DownloadModelsError(`${label}: ${p.slice(0, i)} is listed both as a file and as a folder`);
    }
  }
}

function describeNoMatch(model: ModelRequest, all: ResolvedFile[]): string {
  const sample = all.slice(0, 8).map((f) => f.path).join(", ");
  return (
    `${model.id}@${model.revision}: no file matches include [${model.include.join(", ")}]` +
    (model.exclude.length ? ` / exclude [${model.exclude.join(", ")}]` : "") +
    ` (the repo has ${all.length} files${all.length ? `: ${sample}${all.length > 8 ? ", …" : ""}` : ""})`
  );
}

/**
 * Download every model: skip complete ones with zero network requests, resolve the rest through their downloader,
 * move and verify the bytes, lay them out, and write each model's manifest last. A failed model does not stop the others.
 */
export async function runDownload(options: RunDownloadOptions): Promise<Summary> {
  const started = performance.now();
  const emit = (e: DownloadEvent) => options.onEvent?.(e);
  const transfer = createTransfer(options.transfer, options.dispatcher);
  const dispatcher = transfer.dispatcher;
  const fileLimit = pLimit(options.concurrency ?? 32);
  const modelLimit = pLimit(options.modelConcurrency ?? 4);
  // Two models can share a blob (same id, other filters): one download, both wait on it.
  const inFlight = new Map<string, Promise<void>>();
  const space = new SpaceReservations();
  registerSecret(options.token);
  emit({ type: "start", models: options.models.length });

  async function runModel(model: ModelRequest): Promise<ModelResult> {
    const t0 = performance.now();
    const result: ModelResult = {
      source: model.source, id: model.id, revision: model.revision, status: "failed",
      files: 0, bytes: 0, downloadedBytes: 0, reusedFiles: 0, projects: model.projects, seconds: 0,
    };
    const abort = new AbortController();
    setMaxListeners(Infinity, abort.signal); // one listener per file in flight
    const stop = () => abort.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      options.signal?.throwIfAborted();
      const downloader = options.registry.get(model.source);
      const store = openStore(downloader, model, options.roots);
      if (!options.force) {
        const manifest = await findComplete(store, model);
        if (manifest) {
          Object.assign(result, {
            status: "skipped", commit: manifest.commit, files: manifest.files.length,
            bytes: manifest.files.reduce((n, f) => n + f.size, 0), reusedFiles: manifest.files.length,
            path: store.snapshotDir(manifest.commit),
          });
          result.seconds = (performance.now() - t0) / 1000;
          emit({ type: "model-skip", model, result });
          return result;
        }
      }
      emit({ type: "model-resolving", model });
      const token = tokenFor(downloader, options);
      registerSecret(token);
      const ctx: ResolveContext = { env: options.env, dispatcher, signal: abort.signal, ...(token ? { token } : {}) };
      const snapshot = await downloader.resolve(model, ctx);
      checkSnapshot(snapshot, model);
      const files = snapshot.files.filter((f) => matchesFilters(f.path, model.include, model.exclude));
      if (files.length === 0) throw new DownloadModelsError(describeNoMatch(model, snapshot.files));
      const reusable = await Promise.all(files.map((f) => store.canReuse(f)));
      const missing = files.filter((_, i) => !reusable[i]);
      Object.assign(result, {
        commit: snapshot.commit, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0),
        reusedFiles: files.length - missing.length, path: store.snapshotDir(snapshot.commit),
      });
      emit({
        type: "model-resolved", model, commit: snapshot.commit, files: files.length, bytes: result.bytes,
        missingBytes: missing.reduce((n, f) => n + f.size, 0),
      });
      if (options.dryRun) {
        result.status = "planned";
        result.downloadedBytes = missing.reduce((n, f) => n + f.size, 0);
        return result;
      }
      if (!options.skipSpaceCheck) await space.reserve(model, store, missing);
      if (missing.length > 0) await store.prepare?.(snapshot.commit);

      const label = (f: ResolvedFile) => `${f.path} of ${model.id}@${model.revision}`;
      // Fetch one file under its cross-process lock; the blob may also turn up finished by another process.
      const fetchBlob = async (file: ResolvedFile, dest: string): Promise<void> => {
        abort.signal.throwIfAborted();
        await ensureDir(dirname(store.tempPath(file)));
        const finished = () => store.canReuse(file);
        const lock = await acquireLock(`${store.tempPath(file)}.lock`, transfer.options.lock, finished, abort.signal, (holder) =>
          emit({ type: "file-wait", model, path: file.path, holder }),
        );
        if (!lock || (await finished())) return lock?.release();
        try {
          emit({ type: "file-start", model, path: file.path, size: file.size });
          let bytes = 0;
          await fetchFile({
            file, dest, temp: store.tempPath(file), transfer, signal: abort.signal, label: label(file),
            isCancelled: () => lock.lost,
            onResume: (reused) => emit({ type: "file-resume", model, path: file.path, bytes: reused, size: file.size }),
            describeError: (r) =>
              downloader.describeError?.(r, model, { path: file.path, env: options.env, hasToken: Boolean(token) }),
            onProgress: (delta) => {
              bytes += delta;
              result.downloadedBytes += delta;
              emit({ type: "file-progress", model, path: file.path, bytes, size: file.size, delta });
            },
            onRetry: (attempt, delayMs, reason) =>
              emit({ type: "file-retry", model, path: file.path, attempt, delayMs, reason: redact(reason) }),
          });
        } finally {
          await lock.release();
        }
      };
      const getFile = async (file: ResolvedFile): Promise<void> => {
        const dest = store.blobPath(file);
        await confine(store.root, dirname(dest));
        await ensureDir(dirname(dest));
        let pending = inFlight.get(dest);
        if (!pending) {
          pending = fileLimit(() => fetchBlob(file, dest)).finally(() => inFlight.delete(dest));
          inFlight.set(dest, pending);
        }
        await pending;
        await store.link(snapshot.commit, file);
        emit({ type: "file-done", model, path: file.path, size: file.size, reused: false });
      };
      const linkReused = async (file: ResolvedFile) => {
        await store.link(snapshot.commit, file);
        emit({ type: "file-done", model, path: file.path, size: file.size, reused: true });
      };
      const tasks = files.map((f, i) => (reusable[i] ? linkReused(f) : getFile(f)));
      // First failure stops this model's queued files; the model fails, the others go on.
      tasks.forEach((t) => t.catch(() => abort.abort(new Error("another file of this model failed"))));
      const settled = await Promise.allSettled(tasks);
      const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => s.reason as unknown);
      if (rejected.length > 0) throw rejected.find((r) => !isSecondary(r)) ?? rejected[0];

      await store.finish(model, { ...snapshot, files });
      await confine(store.root, store.manifestDir);
      await writeManifest(store, {
        format: 1, tool: "download-models", source: model.source, id: model.id, revision: model.revision,
        commit: snapshot.commit, include: model.include, exclude: model.exclude, completedAt: new Date().toISOString(),
        files: files.map((f) => ({
          path: f.path, size: f.size,
          ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitSha1 ? { gitSha1: f.gitSha1 } : {}), ...(f.etag ? { etag: f.etag } : {}),
        })),
      });
      result.status = "downloaded";
      result.seconds = (performance.now() - t0) / 1000;
      emit({ type: "model-done", model, result });
      return result;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      result.status = "failed";
      result.error = redact(err.message);
      result.seconds = (performance.now() - t0) / 1000;
      emit({ type: "model-error", model, result, error: err });
      return result;
    } finally {
      options.signal?.removeEventListener("abort", stop);
      space.release(model);
    }
  }

  try {
    const results = await Promise.all(options.models.map((m) => modelLimit(() => runModel(m))));
    const count = (s: ModelResult["status"]) => results.filter((r) => r.status === s).length;
    return {
      models: results,
      downloaded: count("downloaded"), skipped: count("skipped"), failed: count("failed"), planned: count("planned"),
      downloadedBytes: results.reduce((n, r) => n + (r.status === "planned" ? 0 : r.downloadedBytes), 0),
      totalBytes: results.reduce((n, r) => n + r.bytes, 0),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await transfer.close();
  }
}

/** Errors caused by stopping the model after another file failed: not the reason to report. */
function isSecondary(reason: unknown): boolean {
  if (reason instanceof HubError || reason instanceof DownloadModelsError) return false;
  const msg = (reason as Error)?.message ?? "";
  return msg.includes("another file of this model failed") || (reason as Error)?.name === "AbortError";
}
