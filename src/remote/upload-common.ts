import { HeadObjectCommand } from "@aws-sdk/client-s3";
import type { LimitFunction } from "p-limit";
import type { S3Connection } from "./client.ts";
import { S3UploadError, VolumeFullError } from "./errors.ts";
import type { EtagCheck, S3EventSink } from "./events.ts";
import { sleep } from "../net/index.ts";
import type { RateLimit } from "../transfer/index.ts";
import type { VolumeHolder } from "./holders.ts";
import { DEFAULT_RETRY, describeS3Error, isNotFound, isVolumeFull, withRetry, type RetryPolicy } from "./retry.ts";

/** What uploadFile needs besides the file: where, with which budget, how to report. */
export interface UploadContext {
  conn: S3Connection;
  /** Shared budget of requests that carry bytes (parts and PUTs), across files and targets. */
  limit: LimitFunction;
  env: NodeJS.ProcessEnv;
  /** Folder of resume records (uploadStateDir(env) unless a test says otherwise). */
  stateDir: string;
  /** @default DEFAULT_RETRY */
  retry?: RetryPolicy;
  /** Waits between HEADs that still answer 404 after a write. @default [1000, 5000, 15000, 60000, 120000] */
  headRetryDelaysMs?: number[];
  /** First CompleteMultipartUpload timeout; doubles per retry. @default max(60 s, 5 s per GB) */
  completeTimeoutMs?: number;
  /** This process's holder record on the volume: the multipart uploads it names are never aborted by others. */
  holder?: VolumeHolder;
  /** The run's one bandwidth budget (`--max-rate`), shared with its downloads: every body goes out through it, chunk by chunk. */
  rate?: RateLimit;
  onEvent?: S3EventSink;
}

export interface UploadInput {
  localPath: string;
  key: string;
  size: number;
  /** When known, the file's bytes are checked against it before the object becomes visible (PUT or Complete). */
  sha256?: string;
}

export interface UploadedObject {
  key: string;
  size: number;
  etag: string;
  etagCheck: EtagCheck;
  /** Body bytes sent in this call (retries included), 0 when every part was already there. */
  bytesSent: number;
}

const HEAD_DELAYS = [1000, 5000, 15000, 60000, 120000];

export function cleanEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/"/g, "").trim().toLowerCase();
}

export const isMd5Hex = (etag: string): boolean => /^[0-9a-f]{32}$/.test(etag);

/** Request timeout for a body of `bytes`: half a minute plus 256 KiB/s. */
export function transferTimeoutMs(bytes: number): number {
  return 30_000 + Math.ceil((bytes / 262_144) * 1000);
}

export function retryListener(ctx: UploadContext, key: string) {
  return (attempt: number, delayMs: number, error: unknown): void =>
    ctx.onEvent?.({ type: "upload-retry", target: ctx.conn.target.label, key, attempt, delayMs, reason: describeS3Error(error) });
}

/** Turn a 507 into the error that stops every write to this volume. */
export function rethrowFull(ctx: UploadContext, key: string, error: unknown): never {
  if (isVolumeFull(error)) throw new VolumeFullError(ctx.conn.target.label, key, { cause: error });
  throw error;
}

/**
 * HEAD the key until it answers with the expected size: a 200 Complete on RunPod may be followed by 404s while
 * the merge finishes. Returns the ETag it shows.
 */
export async function headUntilPresent(ctx: UploadContext, key: string, size: number): Promise<string> {
  const { client, target } = ctx.conn;
  const delays = ctx.headRetryDelaysMs ?? HEAD_DELAYS;
  let last = "";
  for (let i = 0; ; i++) {
    try {
      const head = await withRetry(
        () => client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }), { requestTimeout: 600_000, abortSignal: ctx.conn.signal }),
        { policy: ctx.retry ?? DEFAULT_RETRY, onRetry: retryListener(ctx, key), signal: ctx.conn.signal },
      );
      if (head.ContentLength === size) return cleanEtag(head.ETag);
      last = `it has ${head.ContentLength} bytes instead of ${size}`;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      last = "HEAD answers 404 Not Found";
    }
    const delay = delays[i];
    if (delay === undefined) {
      throw new S3UploadError(`${key} on ${target.label} was written but ${last} after ${delays.length + 1} checks.`, { target: target.label, key });
    }
    await sleep(delay, ctx.conn.signal);
  }
}

