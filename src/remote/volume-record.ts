import { GetObjectCommand } from "@aws-sdk/client-s3";
import { filtersKey, writtenOrderFiltersKey } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import type { S3Connection } from "./client.ts";
import type { EtagCheck } from "./events.ts";
import { DEFAULT_RETRY, isNotFound, withRetry, type RetryPolicy } from "./retry.ts";

/** Our records live beside the caches, never inside the HF or ModelScope roots (their scanners would flag them). */
export const RECORD_DIR = ".download-models/";

export interface RecordedObject {
  size: number;
  etag: string;
  etagCheck: EtagCheck;
  sha256?: string;
}

/** The manifest object of one model on a volume; written after every object it lists. */
export interface VolumeRecord {
  formatVersion: 1;
  /** e.g. `huggingface:org/name@main`. */
  label: string;
  /** Key prefix the model's files are under; file names in messages are relative to it. */
  root: string;
  /** Other prefixes its keys are under (listed too when checking it). */
  extraPrefixes?: string[];
  writtenAt: string;
  /** The caller's own manifest content (project list, commit, …), stored as given. */
  manifest: unknown;
  /** By key. */
  objects: Record<string, RecordedObject>;
}

/**
 * `<prefix>.download-models/<source>/<id>/<revision>[.<filters hash>].json`, the hash named as in the store's
 * manifests; the revision is escaped, branch names may hold `/`.
 */
export function recordKeyFor(prefix: string, model: Pick<ModelRequest, "source" | "id" | "revision" | "include" | "exclude">): string {
  return keyWith(prefix, model, filtersKey(model.include, model.exclude));
}

/** Where the request's record is: `recordKeyFor`, then the key earlier versions wrote if it differs (filters in written order). */
export function recordKeysFor(prefix: string, model: Pick<ModelRequest, "source" | "id" | "revision" | "include" | "exclude">): string[] {
  const older = writtenOrderFiltersKey(model.include, model.exclude);
  return [recordKeyFor(prefix, model), ...(older === undefined ? [] : [keyWith(prefix, model, older)])];
}

const keyWith = (prefix: string, model: Pick<ModelRequest, "source" | "id" | "revision">, filters: string) =>
  `${prefix}${RECORD_DIR}${model.source}/${model.id}/${encodeURIComponent(`${model.revision}${filters}`)}.json`;

function isRecord(value: unknown): value is VolumeRecord {
  const r = value as VolumeRecord | undefined;
  return !!r && r.formatVersion === 1 && typeof r.label === "string" && typeof r.objects === "object" && r.objects !== null;
}

/** The record at `key`, undefined when absent or not one of ours. */
export async function readRecord(conn: S3Connection, key: string, retry: RetryPolicy = DEFAULT_RETRY): Promise<VolumeRecord | undefined> {
  try {
    const out = await withRetry(() => conn.client.send(new GetObjectCommand({ Bucket: conn.target.bucket, Key: key }), { abortSignal: conn.signal }), { policy: retry, signal: conn.signal });
    const text = (await out.Body?.transformToString()) ?? "";
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? parsed : undefined;
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
