import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { S3UploadError } from "./errors.ts";
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

async function putSingle(ctx: UploadContext, file: UploadInput): Promise<UploadedObject> {
  const { client, target } = ctx.conn;
  const body = await readFile(file.localPath);
  if (body.length !== file.size) {
    throw new S3UploadError(`${file.localPath} has ${body.length} bytes, expected ${file.size}.`, { target: target.label, key: file.key });
  }
  if (file.sha256 && createHash("sha256").update(body).digest("hex") !== file.sha256) {
    throw new S3UploadError(`${file.localPath} does not match its sha256 any more; not uploading it.`, { target: target.label, key: file.key });
  }
  const md5 = createHash("md5").update(body).digest("hex");
  let bytesSent = 0;
  // A 32-hex ETag that is not our MD5 means the store kept other bytes: send once more, then give up loudly.
  for (let tries = 1; ; tries++) {
    const out = await ctx
      .limit(() =>
        withRetry(
          () => {
            bytesSent += body.length;
            const cmd = new PutObjectCommand({ Bucket: target.bucket, Key: file.key, Body: body, ContentLength: body.length });
            return client.send(cmd, { requestTimeout: transferTimeoutMs(body.length) });
          },
          ctx.retry ?? DEFAULT_RETRY,
          retryListener(ctx, file.key),
        ),
      )
      .catch((error: unknown) => rethrowFull(ctx, file.key, error));
    ctx.onEvent?.({ type: "upload-progress", target: target.label, key: file.key, bytes: body.length, size: file.size, delta: body.length });
    const etag = cleanEtag(out.ETag);
    if (isMd5Hex(etag) && etag !== md5) {
      if (tries < 2) continue;
      throw new S3UploadError(`${file.key} on ${target.label}: the store's ETag ${etag} is not the MD5 ${md5} of what was sent, twice.`, {
        target: target.label,
        key: file.key,
      });
    }
    const seen = await headUntilPresent(ctx, file.key, file.size);
    return { key: file.key, size: file.size, etag: seen || etag, etagCheck: etag === md5 ? "md5" : "unverified", bytesSent };
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
  const done = multipart ? await putMultipart(ctx, file, plan.partSize) : await putSingle(ctx, file);
  ctx.onEvent?.({ type: "upload-done", target: label, key: file.key, size: file.size, etag: done.etag, etagCheck: done.etagCheck });
  return done;
}
