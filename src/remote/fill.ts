import pLimit from "p-limit";
import { DownloadModelsError } from "../errors.ts";
import { layoutOf, openCache } from "../store/index.ts";
import type { Registry } from "../sources/index.ts";
import type { Roots } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { selectionKey } from "../util/index.ts";
import type { S3Connection } from "./client.ts";
import type { UploadContext } from "./upload.ts";
import { requestOfRecord, volumeModel, type VolumeManifest } from "./layout.ts";
import { readRecord, recordKeysFor } from "./volume-record.ts";
import { verifyVolumeModel } from "./volume-read.ts";
import { uploadModelToTargets, type VolumeModel } from "./model.ts";

/** What one target got in this run; one summary line each. */
export interface TargetTally {
  target: string;
  uploaded: number;
  skipped: number;
  failed: number;
  objects: number;
  bytesSent: number;
  errors: string[];
  /** 507: nothing more is sent to it in this run. */
  full: boolean;
}

/** One model's outcome across the targets, for the readers' lines. */
export interface ModelOnVolumes {
  model: ModelRequest;
  volumeModel?: VolumeModel;
  /** Targets that hold it complete after the run. */
  targets: string[];
}

/**
 * Is the model already complete on the target: its record says this request (and the same ModelScope copies
 * choice), and one listing shows every object with its size and ETag. Two requests, no download.
 */
export async function completeOnVolume(conn: S3Connection, model: ModelRequest, copies: boolean): Promise<boolean> {
  let record: Awaited<ReturnType<typeof readRecord>>;
  for (const key of recordKeysFor(conn.target.prefix, model)) if ((record = await readRecord(conn, key))) break;
  const recorded = requestOfRecord(record?.manifest);
  if (!record || !recorded || selectionKey(recorded) !== selectionKey(model)) return false;
  const m = record.manifest as Partial<VolumeManifest>;
  if (layoutOf({ layout: m.layout }) === "modelscope" && Boolean(m.modelscopeCopies) !== copies) return false;
  return (await verifyVolumeModel(conn, record)).length === 0;
}

export interface Uploader {
  /** Queue a model complete in the staging store for every target still taking writes. */
  add(model: ModelRequest): void;
  /** Wait for every queued model. */
  done(): Promise<ModelOnVolumes[]>;
  tallies: TargetTally[];
}

export interface UploaderOptions {
  contexts: UploadContext[];
  registry: Registry;
  /** The staging store's roots, and the root its keys are relative to. */
  roots: Roots;
  stagingRoot: string;
  modelscopeCopies: boolean;
  /** Models uploaded at once. @default 2 */
  models?: number;
  /** Once it fires, queued models are not started and what stops is not counted as failed. */
  signal?: AbortSignal;
}

/** Uploads models as the download finishes them, to all targets in parallel; a failing target never stops the others. */
export function createUploader(options: UploaderOptions): Uploader {
  const tallies: TargetTally[] = options.contexts.map((c) => ({
    target: c.conn.target.label, uploaded: 0, skipped: 0, failed: 0, objects: 0, bytesSent: 0, errors: [], full: false,
  }));
  const limit = pLimit(options.models ?? 2);
  const jobs: Promise<ModelOnVolumes>[] = [];

  const cache = openCache({ registry: options.registry, roots: options.roots });

  async function one(model: ModelRequest): Promise<ModelOnVolumes> {
    const complete = await cache.completeModel(model);
    if (!complete) throw new DownloadModelsError(`${model.id}@${model.revision} is not complete in the staging store`);
    const out: ModelOnVolumes = { model, targets: [] };
    const live = options.contexts.filter((_, i) => !tallies[i]!.full);
    if (live.length === 0) return out;
    const byTarget = new Map<string, VolumeModel>();
    for (const ctx of live) {
      const vm = await volumeModel({ complete, stagingRoot: options.stagingRoot, prefix: ctx.conn.target.prefix, modelscopeCopies: options.modelscopeCopies });
      byTarget.set(ctx.conn.target.label, vm);
      out.volumeModel ??= vm;
    }
    // Targets may have different prefixes, so each gets its own key set; the listing and record logic is per target.
    const results = await Promise.all(live.map((ctx) => uploadModelToTargets([ctx], byTarget.get(ctx.conn.target.label)!).then((r) => r[0]!)));
    for (const r of results) {
      const tally = tallies.find((t) => t.target === r.target)!;
      if (r.ok) {
        out.targets.push(r.target);
        if (r.result.status === "skipped") tally.skipped++;
        else tally.uploaded++;
        tally.objects += r.result.uploaded;
        tally.bytesSent += r.result.bytesSent;
      } else if (!options.signal?.aborted) {
        tally.failed++;
        tally.errors.push(`${model.source}:${model.id}@${model.revision}: ${r.error.message}`);
        if (r.volumeFull) tally.full = true;
      }
    }
    return out;
  }

  return {
    tallies,
    add(model) {
      jobs.push(
        limit(() =>
          (options.signal?.aborted ? Promise.resolve({ model, targets: [] }) : one(model)).catch((error: unknown) => {
            if (options.signal?.aborted) return { model, targets: [] };
            for (const t of tallies) {
              t.failed++;
              t.errors.push(`${model.id}: ${(error as Error).message}`);
            }
            return { model, targets: [] };
          }),
        ),
      );
    },
    done: () => Promise.all(jobs),
  };
}
