import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { S3UploadError } from "./errors.ts";
import { withBody } from "./paced-body.ts";
import { putMultipart } from "./multipart.ts";
import { partPlan } from "./part-size.ts";
import { DEFAULT_RETRY, withRetry } from "./retry.ts";
import {
  cleanEtag,
  headUntilPresent,
  isMd5Hex,
  rethrowFull,
  retryListener,
  transferTimeoutMs,
  type UploadContext,
  type UploadedObject,
  type UploadInput,
} from "./upload-common.ts";

export type { UploadContext, UploadedObject, UploadInput } from "./upload-common.ts";

async function readWhole(ctx: UploadContext, file: UploadInput): Promise<Buffer> {
  const label = ctx.conn.target.label;
  const body = await readFile(file.localPath);
  if (body.length !== file.size) throw new S3UploadError(`${file.localPath} has ${body.length} bytes, expected ${file.size}.`, { target: label, key: file.key });
  if (file.sha256 && createHash("sha256").update(body).digest("hex") !== file.sha256) {
    throw new S3UploadError(`${file.localPath} does not match its sha256 any more; not uploading it.`, { target: label, key: file.key });
  }
  return body;
}

/**
 * Write `body` to `key` with one PutObject (retried), check the ETag against its MD5 and HEAD it. A 32-hex ETag
 * that is not our MD5 means the store kept other bytes: send once more, then give up loudly.
 */
export async function uploadBytes(ctx: UploadContext, key: string, body: Buffer): Promise<UploadedObject> {
  const { client, target } = ctx.conn;
  const md5 = createHash("md5").update(body).digest("hex");
  let bytesSent = 0;
  for (let tries = 1; ; tries++) {
    const out = await ctx
      .limit(() =>
        withRetry(
          async () => {
            bytesSent += body.length;
            const cmd = withBody(new PutObjectCommand({ Bucket: target.bucket, Key: key, ContentLength: body.length }), body, ctx.rate, ctx.conn.signal);
            return client.send(cmd, { requestTimeout: transferTimeoutMs(body.length), abortSignal: ctx.conn.signal });
          },
          { policy: ctx.retry ?? DEFAULT_RETRY, onRetry: retryListener(ctx, key), signal: ctx.conn.signal },
        ),
      )
      .catch((error: unknown) => rethrowFull(ctx, key, error));
    ctx.onEvent?.({ type: "upload-progress", target: target.label, key, bytes: body.length, size: body.length, delta: body.length });
    const etag = cleanEtag(out.ETag);
    if (isMd5Hex(etag) && etag !== md5) {
      if (tries < 2) continue;
      throw new S3UploadError(`${key} on ${target.label}: the store's ETag ${etag} is not the MD5 ${md5} of what was sent, twice.`, { target: target.label, key });
    }
    const seen = await headUntilPresent(ctx, key, body.length);
    return { key, size: body.length, etag: seen || etag, etagCheck: etag === md5 ? "md5" : "unverified", bytesSent };
  }
}

/**
 * Upload one local file to `file.key`: a single PUT up to the threshold, else a resumable multipart upload with
 * checked part ETags. Proven by a HEAD with the right size before it returns. Throws VolumeFullError on 507.
 */
export async function uploadFile(ctx: UploadContext, file: UploadInput): Promise<UploadedObject> {
  const plan = partPlan(file.size, ctx.env);
  const multipart = file.size > plan.singlePutMax;
  const label = ctx.conn.target.label;
  if (!multipart) ctx.onEvent?.({ type: "upload-start", target: label, key: file.key, size: file.size, multipart, resumedBytes: 0 });
  const done = multipart ? await putMultipart(ctx, file, plan.partSize) : await uploadBytes(ctx, file.key, await readWhole(ctx, file));
  ctx.onEvent?.({ type: "upload-done", target: label, key: file.key, size: file.size, etag: done.etag, etagCheck: done.etagCheck });
  return done;
}
