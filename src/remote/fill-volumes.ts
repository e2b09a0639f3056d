import { mkdir, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import pLimit from "p-limit";
import { DEFAULT_CONNECTIONS } from "../util/index.ts";
import { consumerEnv, layoutOf, resolveRoots, type Env, type Roots } from "../store/index.ts";
import { runDownload, type DownloadEvent, type RunDownloadOptions, type Summary } from "../download/index.ts";
import type { Lock } from "../lockfile/index.ts";
import type { Registry } from "../sources/index.ts";
import type { RateLimit } from "../transfer/index.ts";
import type { ModelRequest } from "../types.ts";
import type { S3Connection } from "./client.ts";
import type { S3Event } from "./events.ts";
import { completeOnVolume, createUploader, type ModelOnVolumes, type TargetTally } from "./fill.ts";
import { VolumeHolder, type HolderTiming } from "./holders.ts";
import type { UploadContext } from "./upload.ts";
import { runId, runIsDead, runStateDir, uploadStateDir } from "./upload-state.ts";

/** Where serverless workers mount a RunPod volume's model root: the consumer lines of a fill point there. */
const WORKER_MODEL_ROOT = "/runpod-volume/models";

/** Progress of a fill as data: the download's events, the uploads' events, and models every target already holds. */
export type FillEvent = DownloadEvent | S3Event | { type: "volume-present"; model: ModelRequest };

export interface FillVolumesOptions {
  models: ModelRequest[];
  /** Checked, usable targets. */
  targets: S3Connection[];
  /** The store models wait in between download and upload; removed after a fully successful run unless `keep`. */
  staging: { registry: Registry; roots: Roots; root: string; keep: boolean };
  env: Env;
  /** A lockfile to follow: locked models are fetched at their locked commit. */
  lock?: Lock;
  /** Stops downloads, uploads and every wait; the summary still comes back. */
  signal?: AbortSignal;
  onEvent?: (event: FillEvent) => void;
  /** The download's settings (token, force, dry run, files at once, engine settings). */
  download?: Pick<RunDownloadOptions, "token" | "force" | "dryRun" | "skipSpaceCheck" | "concurrency" | "transfer" | "redactor">;
  /** One bandwidth budget for the downloads and the uploads (`--max-rate`). */
  rate?: RateLimit;
  /** Requests that carry bytes at once, across targets. @default DEFAULT_CONNECTIONS */
  connections?: number;
  /** ModelScope: full copies where modelscope 1.12–1.22 look. */
  modelscopeCopies?: boolean;
  /** Folder of upload resume records (each run uses its own folder in it). @default uploadStateDir(env) */
  stateDir?: string;
  holderTiming?: HolderTiming;
}

export interface FillSummary {
  download: Summary;
  /** Complete on every target before the run: neither downloaded nor sent. */
  there: ModelRequest[];
  tallies: TargetTally[];
  placed: ModelOnVolumes[];
  /** How serverless workers that mount a RunPod target load the models (empty for s3:// targets only). */
  consumers: { lines: string[]; vars: Record<string, string> };
  failed: boolean;
  interrupted: boolean;
}

/** Models every target already holds complete: they are neither downloaded nor sent again. */
async function alreadyThere(models: ModelRequest[], targets: S3Connection[], copies: boolean): Promise<ModelRequest[]> {
  const limit = pLimit(4);
  const on = await Promise.all(models.map((m) => limit(async () => (await Promise.all(targets.map((c) => completeOnVolume(c, m, copies).catch(() => false)))).every(Boolean))));
  return models.filter((_, i) => on[i]);
}

/**
 * Fill volumes over S3: each model is downloaded once into the staging store and sent to every target as soon as
 * it is complete; what every target already holds is neither fetched nor sent. Several fills of one volume may run
 * at once (holder records keep each other's uploads alive). A failing target never stops the others.
 */
export async function fillVolumes(options: FillVolumesOptions): Promise<FillSummary> {
  const { staging, env, signal } = options;
  const emit = (e: FillEvent) => options.onEvent?.(e);
  const targets = options.targets.map((c) => ({ ...c, ...(signal ? { signal } : {}) }));
  const copies = Boolean(options.modelscopeCopies);
  const force = Boolean(options.download?.force);
  const dryRun = Boolean(options.download?.dryRun);
  const there = force ? [] : await alreadyThere(options.models, targets, copies);
  for (const m of there) emit({ type: "volume-present", model: m });
  const todo = options.models.filter((m) => !there.includes(m));
  const holders = dryRun || todo.length === 0 ? [] : targets.map((c) => new VolumeHolder(c, options.holderTiming));
  const stateDir = runStateDir(options.stateDir ?? uploadStateDir(env as NodeJS.ProcessEnv));
  const budget = pLimit(options.connections ?? DEFAULT_CONNECTIONS);
  const contexts: UploadContext[] = targets.map((conn, i) => ({
    conn, limit: budget, env: env as NodeJS.ProcessEnv, stateDir, onEvent: emit,
    ...(holders[i] ? { holder: holders[i] } : {}), ...(options.rate ? { rate: options.rate } : {}),
  }));
  const uploader = createUploader({ contexts, registry: staging.registry, roots: staging.roots, stagingRoot: staging.root, modelscopeCopies: copies, ...(signal ? { signal } : {}) });
  for (const t of uploader.tallies) t.skipped += there.length;
  const marker = dryRun || staging.keep ? undefined : await markStaging(staging.root);
  try {
    await Promise.all(holders.map((h) => h.start()));
    const download = await runDownload({
      ...options.download, models: todo, registry: staging.registry, roots: staging.roots, env,
      ...(options.rate ? { rate: options.rate } : {}), ...(signal ? { signal } : {}), ...(options.lock ? { lock: options.lock } : {}),
      onEvent: (e) => {
        emit(e);
        if (!dryRun && (e.type === "model-done" || e.type === "model-skip")) uploader.add(e.model);
      },
    });
    const placed = dryRun ? [] : await uploader.done();
    const interrupted = Boolean(signal?.aborted);
    const failed = download.failed > 0 || uploader.tallies.some((t) => t.failed > 0);
    if (!dryRun && !failed && !interrupted && !staging.keep) await removeStaging(staging.root, marker);
    return { download, there, tallies: uploader.tallies, placed, consumers: workerEnv(options), failed, interrupted };
  } finally {
    await Promise.all(holders.map((h) => h.stop()));
    await rmdir(stateDir).catch(() => {}); // only when empty: records left resume next time
    if (marker) {
      await rm(marker, { force: true });
      await rmdir(dirname(marker)).catch(() => {});
    }
  }
}

// Two fills on one machine share the default staging store: the one that ends first must not remove it under the other.
const FILLS = ".fills";

export async function markStaging(root: string): Promise<string> {
  const marker = join(root, FILLS, runId());
  await mkdir(dirname(marker), { recursive: true });
  await writeFile(marker, "");
  return marker;
}

export async function removeStaging(root: string, marker: string | undefined): Promise<void> {
  if (marker) await rm(marker, { force: true });
  const others = (await readdir(join(root, FILLS)).catch(() => [] as string[])).filter((n) => !runIsDead(n));
  if (others.length === 0) await rm(root, { recursive: true, force: true });
}

function workerEnv(options: FillVolumesOptions): FillSummary["consumers"] {
  if (!options.targets.some((c) => c.target.kind === "runpod")) return { lines: [], vars: {} };
  const kinds = new Set(options.models.map((m) => layoutOf(options.staging.registry.get(m.source))));
  return consumerEnv(resolveRoots({ root: WORKER_MODEL_ROOT, env: {} }), { huggingface: kinds.has("huggingface"), modelscope: kinds.has("modelscope") });
}
