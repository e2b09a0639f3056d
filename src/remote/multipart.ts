import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
  type Part,
} from "@aws-sdk/client-s3";
import { S3UploadError } from "./errors.ts";
import { LocalFileChangedError } from "../errors.ts";
import { withBody } from "./paced-body.ts";
import { partCount, partRange } from "./part-size.ts";
import { backoffDelay, sleep } from "../net/index.ts";
import { removeCutShortWrites } from "../util/index.ts";
import { DEFAULT_RETRY, isNotFound, isRetryable, s3Code, withRetry } from "./retry.ts";
import { cleanEtag, headUntilPresent, isMd5Hex, rethrowFull, retryListener, transferTimeoutMs, type UploadContext, type UploadedObject, type UploadInput } from "./upload-common.ts";
import { abortStaleUploads, adoptRecord, fileIdentity, loadRecord, sameSource, statePath, UploadState, type FileIdentity } from "./upload-state.ts";

async function readRange(fh: FileHandle, start: number, end: number, path: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(end - start);
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await fh.read(buffer, done, buffer.length - done, start + done);
    if (bytesRead === 0) throw new LocalFileChangedError(`${path} ended at byte ${start + done} while it was uploaded (expected ${end}): another process changed it; run the command again.`);
    done += bytesRead;
  }
  return buffer;
}

const md5 = (data: Buffer): string => createHash("md5").update(data).digest("hex");

/** The ETag S3 gives a multipart object: MD5 of the binary part MD5s, dash, part count. */
export function multipartEtag(partMd5s: string[]): string {
  const digest = createHash("md5");
  for (const m of partMd5s) digest.update(Buffer.from(m, "hex"));
  return `${digest.digest("hex")}-${partMd5s.length}`;
}

async function fileDigest(path: string, algorithm: "md5" | "sha256"): Promise<string> {
  const digest = createHash(algorithm);
  for await (const chunk of createReadStream(path)) digest.update(chunk as Buffer);
  return digest.digest("hex");
}

async function listedParts(ctx: UploadContext, key: string, uploadId: string): Promise<Part[] | undefined> {
  const parts: Part[] = [];
  let marker: string | undefined;
  try {
    for (;;) {
      const cmd = new ListPartsCommand({ Bucket: ctx.conn.target.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker });
      const page = await withRetry(() => ctx.conn.client.send(cmd, { abortSignal: ctx.conn.signal }), { policy: ctx.retry ?? DEFAULT_RETRY, signal: ctx.conn.signal });
      parts.push(...(page.Parts ?? []));
      if (!page.IsTruncated || !page.NextPartNumberMarker || page.NextPartNumberMarker === marker) return parts;
      marker = page.NextPartNumberMarker;
    }
  } catch (error) {
    if (s3Code(error) === "NoSuchUpload" || isNotFound(error)) return undefined;
    throw error;
  }
}

async function startUpload(ctx: UploadContext, file: UploadInput, partSize: number, source: FileIdentity): Promise<UploadState> {
  const { client, target } = ctx.conn;
  const created = await withRetry(() => client.send(new CreateMultipartUploadCommand({ Bucket: target.bucket, Key: file.key }), { abortSignal: ctx.conn.signal }), { policy: ctx.retry ?? DEFAULT_RETRY, signal: ctx.conn.signal })
    .catch((error: unknown) => rethrowFull(ctx, file.key, error));
  if (!created.UploadId) throw new S3UploadError(`CreateMultipartUpload for ${file.key} returned no upload id.`, { target: target.label, key: file.key });
  // Named on the volume before any part goes out: another fill finishing this key must not abort it.
  await ctx.holder?.hold(created.UploadId);
  const path = statePath({ dir: ctx.stateDir, target, key: file.key });
  const state = new UploadState(path, {
    version: 1, endpoint: target.endpoint ?? "aws", bucket: target.bucket, key: file.key, uploadId: created.UploadId,
    createdAt: new Date().toISOString(), size: file.size, partSize, source, parts: {},
  });
  await state.save();
  return state;
}

/**
 * Reopen the recorded upload of this same file, keeping the parts the store really has: a listed part counts
 * when its size is right and its ETag is the MD5 we recorded, or the MD5 of that byte range now.
 */
async function resumeUpload(ctx: UploadContext, file: UploadInput, partSize: number, source: FileIdentity, fh: FileHandle): Promise<UploadState | undefined> {
  const { target } = ctx.conn;
  const path = statePath({ dir: ctx.stateDir, target, key: file.key });
  await adoptRecord(path);
  await removeCutShortWrites(path);
  const record = await loadRecord(path);
  if (!record || !sameSource(record.source, source) || record.partSize !== partSize || record.size !== file.size) return undefined;
  const listed = await listedParts(ctx, file.key, record.uploadId);
  if (!listed) return undefined;
  await ctx.holder?.hold(record.uploadId);
  const state = new UploadState(path, { ...record, parts: {} });
  for (const part of listed) {
    const n = part.PartNumber ?? 0;
    const { start, end } = partRange(n, file.size, partSize);
    const etag = cleanEtag(part.ETag);
    if (n < 1 || n > partCount(file.size, partSize) || part.Size !== end - start) continue;
    // The ETag we recorded for it proves it, even from a store whose part ETags are not MD5s; else re-hash.
    const known = record.parts[String(n)];
    if (known && known.etag === etag) state.record.parts[String(n)] = known;
    else {
      const partMd5 = md5(await readRange(fh, start, end, file.localPath));
      if (partMd5 === etag) state.record.parts[String(n)] = { size: end - start, md5: partMd5, etag };
    }
  }
  await state.save();
  return state;
}

async function sendPart(ctx: UploadContext, file: UploadInput, state: UploadState, fh: FileHandle, n: number): Promise<number> {
  const { client, target } = ctx.conn;
  const { start, end } = partRange(n, file.size, state.record.partSize);
  const body = await readRange(fh, start, end, file.localPath);
  const partMd5 = md5(body);
  let sent = 0;
  for (let tries = 1; ; tries++) {
    const out = await withRetry(
      async () => {
        sent += body.length;
        const input = { Bucket: target.bucket, Key: file.key, UploadId: state.record.uploadId, PartNumber: n, ContentLength: body.length };
        const cmd = withBody(new UploadPartCommand(input), body, ctx.rate, ctx.conn.signal);
        return client.send(cmd, { requestTimeout: transferTimeoutMs(body.length), abortSignal: ctx.conn.signal });
      },
      { policy: ctx.retry ?? DEFAULT_RETRY, onRetry: retryListener(ctx, file.key), signal: ctx.conn.signal },
    ).catch((error: unknown) => rethrowFull(ctx, file.key, error));
    const etag = cleanEtag(out.ETag);
    // A part ETag that is an MD5 but not ours means other bytes arrived; the same part number overwrites.
    if (isMd5Hex(etag) && etag !== partMd5 && tries < 3) continue;
    if (isMd5Hex(etag) && etag !== partMd5) {
      throw new S3UploadError(`Part ${n} of ${file.key} on ${target.label} keeps coming back with ETag ${etag}, not its MD5 ${partMd5}.`, { target: target.label, key: file.key });
    }
    await state.recordPart(n, { size: body.length, md5: partMd5, etag });
    ctx.onEvent?.({ type: "upload-progress", target: target.label, key: file.key, bytes: partBytes(state), size: file.size, delta: body.length });
    return sent;
  }
}

function partBytes(state: UploadState): number {
  return Object.values(state.record.parts).reduce((sum, p) => sum + p.size, 0);
}

/** Complete with a timeout that doubles per try; after a timeout or 52x the merge may have finished anyway. */
async function complete(ctx: UploadContext, file: UploadInput, state: UploadState): Promise<string | undefined> {
  const { singleTry: client, target } = ctx.conn;
  const policy = ctx.retry ?? DEFAULT_RETRY;
  const parts = Object.entries(state.record.parts)
    .map(([n, p]) => ({ PartNumber: Number(n), ETag: `"${p.etag}"` }))
    .sort((a, b) => a.PartNumber - b.PartNumber);
  let timeout = ctx.completeTimeoutMs ?? Math.max(60_000, Math.ceil(file.size / 1e9) * 5_000);
  for (let attempt = 1; ; attempt++) {
    try {
      const cmd = new CompleteMultipartUploadCommand({ Bucket: target.bucket, Key: file.key, UploadId: state.record.uploadId, MultipartUpload: { Parts: parts } });
      return cleanEtag((await client.send(cmd, { requestTimeout: timeout, abortSignal: ctx.conn.signal })).ETag);
    } catch (error) {
      // No such upload after a timed-out try (ours, or the SDK's own retry): that try went through; HEAD decides.
      if (s3Code(error) === "NoSuchUpload") return undefined;
      if (ctx.conn.signal?.aborted) throw ctx.conn.signal.reason;
      if (attempt >= policy.attempts || !isRetryable(error)) rethrowFull(ctx, file.key, error);
      const delayMs = backoffDelay(attempt, { baseMs: policy.baseDelayMs, capMs: policy.maxDelayMs });
      retryListener(ctx, file.key)(attempt, delayMs, error);
      await sleep(delayMs, ctx.conn.signal);
      timeout *= 2;
    }
  }
}

/** The ETag check of a finished multipart object: the S3 form, or a whole-file MD5 that some stores give. */
async function checkFinalEtag(target: string, file: UploadInput, state: UploadState, etag: string): Promise<UploadedObject["etagCheck"]> {
  const n = partCount(file.size, state.record.partSize);
  const md5s = Array.from({ length: n }, (_, i) => state.record.parts[String(i + 1)]!.md5);
  if (etag === multipartEtag(md5s)) return "multipart";
  if (isMd5Hex(etag)) {
    if (etag === (await fileDigest(file.localPath, "md5"))) return "md5";
    throw new S3UploadError(`${file.key}: the store's ETag ${etag} matches neither the file's MD5 nor its parts.`, { target, key: file.key });
  }
  return "unverified";
}

/** Resumable multipart upload of one file; see uploadFile. */
export async function putMultipart(ctx: UploadContext, file: UploadInput, partSize: number): Promise<UploadedObject> {
  const { target } = ctx.conn;
  const source = await fileIdentity(file.localPath, file.sha256);
  if (source.size !== file.size) throw new S3UploadError(`${file.localPath} has ${source.size} bytes, expected ${file.size}.`, { target: target.label, key: file.key });
  const fh = await open(file.localPath, "r");
  try {
    const state = (await resumeUpload(ctx, file, partSize, source, fh)) ?? (await startUpload(ctx, file, partSize, source));
    // Hashed in one sequential pass beside the parts: the object must not become visible with other bytes.
    const sha256 = file.sha256 ? fileDigest(file.localPath, "sha256") : undefined;
    sha256?.catch(() => {});
    const resumedBytes = partBytes(state);
    ctx.onEvent?.({ type: "upload-start", target: target.label, key: file.key, size: file.size, multipart: true, resumedBytes });
    const missing = Array.from({ length: partCount(file.size, partSize) }, (_, i) => i + 1).filter((n) => !state.record.parts[String(n)]);
    // Once a part failed for good (507 above all), parts still queued are not sent.
    let stop = false;
    const send = (n: number): Promise<number> =>
      stop ? Promise.resolve(0) : sendPart(ctx, file, state, fh, n).catch((error: unknown) => ((stop = true), Promise.reject(error)));
    const results = await Promise.allSettled(missing.map((n) => ctx.limit(() => send(n))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const bytesSent = results.reduce((sum, r) => sum + (r.status === "fulfilled" ? r.value : 0), 0);
    if (!sameSource(await fileIdentity(file.localPath, file.sha256), source)) {
      throw new S3UploadError(`${file.localPath} changed while it was being uploaded; run again.`, { target: target.label, key: file.key });
    }
    if (sha256 && (await sha256) !== file.sha256) {
      await state.remove();
      await abortStaleUploads(ctx.conn, file.key);
      throw new S3UploadError(`${file.localPath} does not match its sha256; not completing the upload of ${file.key}.`, { target: target.label, key: file.key });
    }
    const completed = await complete(ctx, file, state);
    await state.remove();
    const seen = await headUntilPresent(ctx, file.key, file.size);
    const etag = seen || completed || "";
    const etagCheck = await checkFinalEtag(target.label, file, state, etag);
    ctx.holder?.release(state.record.uploadId);
    await abortStaleUploads(ctx.conn, file.key, state.record.uploadId);
    return { key: file.key, size: file.size, etag, etagCheck, bytesSent };
  } finally {
    await fh.close();
  }
}
