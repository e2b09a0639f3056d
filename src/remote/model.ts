import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import pLimit from "p-limit";
import { DownloadModelsError } from "../errors.ts";
import { S3UploadError, VolumeFullError } from "./errors.ts";
import { describeS3Error, s3Status } from "./retry.ts";
import { listPrefix, type ListedObject } from "./listing.ts";
import { multipartEtag } from "./multipart.ts";
import { partPlan, partRange, partCount } from "./part-size.ts";
import { uploadBytes, uploadFile, type UploadContext, type UploadInput } from "./upload.ts";
import { readRecord, type RecordedObject, type VolumeRecord } from "./volume-record.ts";

export interface ModelFile extends UploadInput {
  /**
   * Files of a lower phase are all written before any of a higher one, so that markers readers trust (HF refs,
   * ModelScope `.msc`) appear after the data they announce. @default 0
   */
  phase?: number;
}

/** One model as it goes to a volume. */
export interface VolumeModel {
  /** e.g. `huggingface:org/name@main`. */
  label: string;
  files: ModelFile[];
  /** Where the model's record goes (see recordKeyFor); written last. */
  recordKey: string;
  /** The caller's manifest content, stored in the record as given. */
  manifest: unknown;
  /** Prefix to list for what is already there. @default the deepest directory common to all keys */
  listPrefix?: string;
  /**
   * More prefixes to list besides `listPrefix`, for models whose keys sit in separate folders (ModelScope: the
   * model directory and the records folder): listing their common parent would walk every other model too.
   */
  extraPrefixes?: string[];
}

export interface ModelUploadOptions {
  /** Files uploaded at once per target (parts are limited by the context's limiter). @default 4 */
  fileConcurrency?: number;
  /** Pause before re-listing after a broken listing. @default 5000 */
  listingFaultPauseMs?: number;
}

export interface ModelUploadResult {
  target: string;
  label: string;
  /** `skipped`: everything and the record were already there, nothing was written. */
  status: "skipped" | "uploaded";
  uploaded: number;
  present: number;
  bytesSent: number;
}

/** The deepest `/`-ended directory shared by every key. */
export function commonDir(keys: string[]): string {
  if (keys.length === 0) return "";
  let prefix = keys[0]!.slice(0, keys[0]!.lastIndexOf("/") + 1);
  for (const key of keys) while (!key.startsWith(prefix)) prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf("/") + 1);
  return prefix;
}

async function md5Range(path: string, start: number, end: number): Promise<string> {
  const digest = createHash("md5");
  if (end > start) for await (const chunk of createReadStream(path, { start, end: end - 1 })) digest.update(chunk as Buffer);
  return digest.digest("hex");
}

/** The ETag this file would get from us: MD5 for a single PUT, the multipart form above the threshold. */
async function localEtags(file: ModelFile, env: NodeJS.ProcessEnv): Promise<string[]> {
  const plan = partPlan(file.size, env);
  const whole = await md5Range(file.localPath, 0, file.size);
  if (file.size <= plan.singlePutMax) return [whole];
  const parts: string[] = [];
  for (let n = 1; n <= partCount(file.size, plan.partSize); n++) {
    const { start, end } = partRange(n, file.size, plan.partSize);
    parts.push(await md5Range(file.localPath, start, end));
  }
  return [multipartEtag(parts), whole];
}

/**
 * Whether the listed object is this file. Trusted without reading when our record has this key with the same
 * size, ETag and sha256; otherwise the local copy's ETag must equal the listed one (reading the local file is
 * far cheaper than sending it). Pod-written objects' lazily computed ETags are never taken on size alone.
 */
async function isPresent(file: ModelFile, listed: ListedObject | undefined, recorded: RecordedObject | undefined, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (!listed || listed.size !== file.size) return false;
  if (recorded && recorded.size === file.size && recorded.etag === listed.etag && (file.sha256 === undefined || recorded.sha256 === file.sha256)) return true;
  return (await localEtags(file, env)).includes(listed.etag);
}

// Our own errors already say what and where; SDK errors get the target and key.
export function rethrowNamed(target: string, key: string, error: unknown): never {
  if (error instanceof DownloadModelsError) throw error;
  const status = s3Status(error);
  throw new S3UploadError(`Uploading ${key} to ${target} failed: ${describeS3Error(error)}.`, { target, key, ...(status ? { status } : {}) }, { cause: error });
}

function recordedObject(file: ModelFile, etag: string, etagCheck: RecordedObject["etagCheck"]): RecordedObject {
  return { size: file.size, etag, etagCheck, ...(file.sha256 ? { sha256: file.sha256 } : {}) };
}

/**
 * Upload one model to one target: one listing of its prefix decides what is there, only missing or different
 * objects are sent (phase by phase), and the record is written last. A re-run with nothing to do makes two
 * requests (the record and one listing page per 1000 objects). Throws VolumeFullError on 507.
 */
export async function uploadModel(ctx: UploadContext, model: VolumeModel, options: ModelUploadOptions = {}): Promise<ModelUploadResult> {
  const label = ctx.conn.target.label;
  const root = model.listPrefix ?? commonDir(model.files.map((f) => f.key));
  const previous = await readRecord(ctx.conn, model.recordKey, ctx.retry);
  const listOptions = { retry: ctx.retry, faultPauseMs: options.listingFaultPauseMs, onEvent: ctx.onEvent };
  const listed = await listPrefix(ctx.conn, root, listOptions);
  for (const extra of model.extraPrefixes ?? []) for (const [k, o] of await listPrefix(ctx.conn, extra, listOptions)) listed.set(k, o);
  const objects: Record<string, RecordedObject> = {};
  const todo: ModelFile[] = [];
  for (const file of model.files) {
    const seen = listed.get(file.key);
    if (await isPresent(file, seen, previous?.objects[file.key], ctx.env)) {
      const old = previous?.objects[file.key];
      const check = old?.etag === seen!.etag ? old.etagCheck : seen!.etag.includes("-") ? "multipart" : "md5";
      objects[file.key] = recordedObject(file, seen!.etag, check);
      ctx.onEvent?.({ type: "object-present", target: label, key: file.key, size: file.size });
    } else todo.push(file);
  }
  let bytesSent = 0;
  const limitFiles = pLimit(options.fileConcurrency ?? 4);
  for (const phase of [...new Set(todo.map((f) => f.phase ?? 0))].sort((a, b) => a - b)) {
    const batch = todo.filter((f) => (f.phase ?? 0) === phase);
    const results = await Promise.allSettled(batch.map((f) => limitFiles(() => uploadFile(ctx, f).catch((e: unknown) => rethrowNamed(label, f.key, e)))));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) throw failure.reason;
    for (const [i, r] of results.entries()) {
      const done = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof uploadFile>>>).value;
      objects[batch[i]!.key] = recordedObject(batch[i]!, done.etag, done.etagCheck);
      bytesSent += done.bytesSent;
    }
  }
  const present = model.files.length - todo.length;
  if (todo.length === 0 && previous && isDeepStrictEqual(previous.manifest, model.manifest) && isDeepStrictEqual(previous.objects, objects) && previous.root === root && isDeepStrictEqual(previous.extraPrefixes ?? [], model.extraPrefixes ?? [])) {
    ctx.onEvent?.({ type: "model-skip", target: label, model: model.label });
    return { target: label, label: model.label, status: "skipped", uploaded: 0, present, bytesSent: 0 };
  }
  const record: VolumeRecord = {
    formatVersion: 1, label: model.label, root, ...(model.extraPrefixes?.length ? { extraPrefixes: model.extraPrefixes } : {}),
    writtenAt: new Date().toISOString(), manifest: model.manifest, objects,
  };
  bytesSent += (await uploadBytes(ctx, model.recordKey, Buffer.from(JSON.stringify(record, null, 2)))).bytesSent;
  ctx.onEvent?.({ type: "model-uploaded", target: label, model: model.label, uploaded: todo.length, present, bytesSent });
  return { target: label, label: model.label, status: "uploaded", uploaded: todo.length, present, bytesSent };
}

export type TargetResult =
  | { target: string; ok: true; result: ModelUploadResult }
  | { target: string; ok: false; error: Error; volumeFull: boolean };

/**
 * The same model to several targets at once; a target that fails does not stop the others. One result per
 * context, in order. `volumeFull` tells the caller to send nothing more to that target in this run.
 */
export async function uploadModelToTargets(contexts: UploadContext[], model: VolumeModel, options?: ModelUploadOptions): Promise<TargetResult[]> {
  return Promise.all(
    contexts.map(async (ctx): Promise<TargetResult> => {
      const target = ctx.conn.target.label;
      try {
        return { target, ok: true, result: await uploadModel(ctx, model, options) };
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        return { target, ok: false, error: e, volumeFull: e instanceof VolumeFullError };
      }
    }),
  );
}
