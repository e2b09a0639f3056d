import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { text } from "node:stream/consumers";
import type { S3Store, StoredObject } from "./store.ts";
import { parseCompleteParts, sendS3Error, sendXml } from "./xml.ts";

/** The operations of RunPod's S3 subset that this server answers. */
export type S3Operation =
  | "ListBuckets"
  | "HeadBucket"
  | "ListObjectsV2"
  | "ListMultipartUploads"
  | "PutObject"
  | "GetObject"
  | "HeadObject"
  | "DeleteObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "ListParts"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "Unknown";

/** Listing failures seen on RunPod volumes with many files: a repeated token, a cut-off 200, a sporadic 403. */
export type ListingFault = "repeat-token" | "truncated-body" | "access-denied";

export interface OpContext {
  store: S3Store;
  req: IncomingMessage;
  res: ServerResponse;
  bucket: string;
  key: string;
  query: URLSearchParams;
  /** Page size cap of listings. */
  maxKeys: number;
  /** Applied to listings without a delimiter only, so that per-directory listing is the way out. */
  listingFault: ListingFault | undefined;
  /** HEADs of a just-completed key still to answer 404 (RunPod's asynchronous merge). */
  headMisses: Map<string, number>;
  headMissesAfterComplete: number;
  completeReplyDelayMs: number;
  /** True when this part is to be stored damaged. */
  takeCorruption: () => boolean;
  /** Stored bytes allowed in all; beyond it 507 like a full volume. */
  byteBudget: number;
  /** Adds received body bytes to the request log. */
  countBytes: (bytes: number) => void;
  /** Checks the body against the signed payload hash; false when it answered with an error. */
  payloadMatches: (sha256: string) => boolean;
}

export function operationOf(method: string, key: string, query: URLSearchParams, hasBucket: boolean): S3Operation {
  if (!hasBucket) return method === "GET" ? "ListBuckets" : "Unknown";
  if (!key) {
    if (method === "HEAD") return "HeadBucket";
    if (method === "GET" && query.has("uploads")) return "ListMultipartUploads";
    if (method === "GET" && query.get("list-type") === "2") return "ListObjectsV2";
    return "Unknown";
  }
  const uploadId = query.has("uploadId");
  if (method === "PUT") return uploadId && query.has("partNumber") ? "UploadPart" : "PutObject";
  if (method === "POST") return query.has("uploads") ? "CreateMultipartUpload" : uploadId ? "CompleteMultipartUpload" : "Unknown";
  if (method === "DELETE") return uploadId ? "AbortMultipartUpload" : "DeleteObject";
  if (method === "GET") return uploadId ? "ListParts" : "GetObject";
  if (method === "HEAD") return "HeadObject";
  return "Unknown";
}

const quoted = (etag: string): string => `"${etag}"`;
const resource = (c: OpContext): string => `/${c.bucket}/${c.key}`;

function objectHeaders(o: StoredObject): Record<string, string> {
  return { etag: quoted(o.etag), "last-modified": o.lastModified.toUTCString(), "content-length": String(o.size), "accept-ranges": "bytes" };
}

function noSuchKey(c: OpContext): void {
  sendS3Error(c.res, c.req.method ?? "GET", 404, "NoSuchKey", "The specified key does not exist.", resource(c));
}

function volumeFull(c: OpContext): void {
  sendS3Error(c.res, c.req.method ?? "PUT", 507, "InsufficientStorage", "Insufficient storage space on the volume.", resource(c));
}

async function putObject(c: OpContext): Promise<void> {
  const received = await c.store.receive(c.req, c.countBytes);
  if (!c.payloadMatches(received.sha256)) return c.store.discard(received);
  if (c.store.usedBytes + received.size > c.byteBudget) {
    await c.store.discard(received);
    return volumeFull(c);
  }
  const o = await c.store.putObject(c.bucket, c.key, { path: received.path, size: received.size, etag: received.md5 });
  c.res.writeHead(200, { etag: quoted(o.etag) }).end();
}

function headObject(c: OpContext, withBody: boolean): void {
  const o = c.store.buckets.get(c.bucket)!.get(c.key);
  const misses = c.headMisses.get(c.key) ?? 0;
  if (!withBody && misses > 0) {
    c.headMisses.set(c.key, misses - 1);
    return noSuchKey(c);
  }
  if (!o) return noSuchKey(c);
  c.res.writeHead(200, { ...objectHeaders(o), "content-type": "application/octet-stream" });
  if (!withBody) return void c.res.end();
  createReadStream(o.path).pipe(c.res);
}

async function deleteObject(c: OpContext): Promise<void> {
  await c.store.deleteObject(c.bucket, c.key);
  c.res.writeHead(204).end();
}

function createUpload(c: OpContext): void {
  const u = c.store.createUpload(c.bucket, c.key);
  sendXml(c.res, 200, "InitiateMultipartUploadResult", { Bucket: c.bucket, Key: c.key, UploadId: u.uploadId });
}

function findUpload(c: OpContext): ReturnType<S3Store["uploads"]["get"]> {
  const u = c.store.uploads.get(c.query.get("uploadId") ?? "");
  if (u && u.bucket === c.bucket && u.key === c.key) return u;
  sendS3Error(c.res, c.req.method ?? "GET", 404, "NoSuchUpload", "The specified upload does not exist.", resource(c));
  return undefined;
}

async function uploadPart(c: OpContext): Promise<void> {
  const partNumber = Number(c.query.get("partNumber"));
  const received = await c.store.receive(c.req, c.countBytes);
  const u = findUpload(c);
  if (!u || !c.payloadMatches(received.sha256)) return c.store.discard(received);
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
    await c.store.discard(received);
    return sendS3Error(c.res, "PUT", 400, "InvalidArgument", "Part number must be an integer between 1 and 10000.", resource(c));
  }
  if (c.store.usedBytes + received.size > c.byteBudget) {
    await c.store.discard(received);
    return volumeFull(c);
  }
  const part = await c.store.putPart(u, partNumber, c.takeCorruption() ? await c.store.damage(received) : received);
  c.res.writeHead(200, { etag: quoted(part.etag) }).end();
}

async function completeUpload(c: OpContext): Promise<void> {
  const body = await text(c.req);
  const u = findUpload(c);
  if (!u) return;
  const wanted = parseCompleteParts(body);
  if (!wanted) return sendS3Error(c.res, "POST", 400, "MalformedXML", "The XML you provided was not well-formed.", resource(c));
  const picked = c.store.pickParts(u, wanted);
  if (typeof picked === "string") {
    const message = picked === "InvalidPartOrder" ? "The list of parts was not in ascending order." : "One or more of the specified parts could not be found.";
    return sendS3Error(c.res, "POST", 400, picked, message, resource(c));
  }
  const size = picked.reduce((sum, p) => sum + p.size, 0);
  // Merging writes the whole file next to the staged parts, so a nearly full volume fails here.
  if (c.store.usedBytes + size > c.byteBudget) return volumeFull(c);
  const o = await c.store.completeUpload(u, picked);
  if (c.headMissesAfterComplete > 0) c.headMisses.set(c.key, c.headMissesAfterComplete);
  if (c.completeReplyDelayMs > 0) await new Promise((r) => setTimeout(r, c.completeReplyDelayMs));
  if (c.res.destroyed) return;
  sendXml(c.res, 200, "CompleteMultipartUploadResult", { Location: resource(c), Bucket: c.bucket, Key: c.key, ETag: quoted(o.etag) });
}

async function abortUpload(c: OpContext): Promise<void> {
  const u = findUpload(c);
  if (!u) return;
  await c.store.abortUpload(u);
  c.res.writeHead(204).end();
}

function listParts(c: OpContext): void {
  const u = findUpload(c);
  if (!u) return;
  const marker = Number(c.query.get("part-number-marker") ?? 0);
  const max = Math.min(Number(c.query.get("max-parts") ?? 1000), c.maxKeys);
  const all = [...u.parts.values()].filter((p) => p.partNumber > marker).sort((a, b) => a.partNumber - b.partNumber);
  const page = all.slice(0, max);
  const truncated = all.length > page.length;
  sendXml(c.res, 200, "ListPartsResult", {
    Bucket: c.bucket,
    Key: c.key,
    UploadId: u.uploadId,
    PartNumberMarker: marker,
    NextPartNumberMarker: truncated ? page.at(-1)!.partNumber : undefined,
    MaxParts: max,
    IsTruncated: truncated,
    Part: page.map((p) => ({ PartNumber: p.partNumber, LastModified: p.lastModified.toISOString(), ETag: quoted(p.etag), Size: p.size })),
  });
}

function listUploads(c: OpContext): void {
  const prefix = c.query.get("prefix") ?? "";
  const uploads = [...c.store.uploads.values()].filter((u) => u.bucket === c.bucket && u.key.startsWith(prefix));
  sendXml(c.res, 200, "ListMultipartUploadsResult", {
    Bucket: c.bucket,
    Prefix: prefix,
    MaxUploads: 1000,
    IsTruncated: false,
    Upload: uploads.map((u) => ({ Key: u.key, UploadId: u.uploadId, Initiated: u.initiated.toISOString() })),
  });
}

function listObjects(c: OpContext): void {
  const prefix = c.query.get("prefix") ?? "";
  const delimiter = c.query.get("delimiter") || undefined;
  const token = c.query.get("continuation-token");
  const after = token ? Buffer.from(token, "base64url").toString() : (c.query.get("start-after") ?? undefined);
  const maxKeys = Math.min(Number(c.query.get("max-keys") ?? 1000), c.maxKeys);
  const page = c.store.list(c.bucket, { prefix, delimiter, after, maxKeys });
  let next = page.nextAfter === undefined ? undefined : Buffer.from(page.nextAfter).toString("base64url");
  const fault = delimiter ? undefined : c.listingFault;
  if (fault === "access-denied" && token) return sendS3Error(c.res, "GET", 403, "AccessDenied", "Access Denied", `/${c.bucket}`);
  // RunPod's "same next token received twice": the page claims more follows, under the token just sent.
  if (fault === "repeat-token" && token) next = token;
  const body = {
    Name: c.bucket,
    Prefix: prefix,
    Delimiter: delimiter,
    MaxKeys: maxKeys,
    KeyCount: page.contents.length + page.commonPrefixes.length,
    IsTruncated: next !== undefined,
    ContinuationToken: token ?? undefined,
    NextContinuationToken: next,
    Contents: page.contents.map((o) => ({ Key: o.key, LastModified: o.lastModified.toISOString(), ETag: quoted(o.etag), Size: o.size, StorageClass: "STANDARD" })),
    CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: p })),
  };
  if (fault === "truncated-body" && token) {
    // A 200 whose body stops mid-way, as when the connection is cut behind the proxy.
    c.res.writeHead(200, { "content-type": "application/xml" });
    c.res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${c.bucket}</Name><Conte`);
    return;
  }
  sendXml(c.res, 200, "ListBucketResult", body);
}

export async function runOperation(op: S3Operation, c: OpContext): Promise<void> {
  switch (op) {
    case "HeadBucket":
      return void c.res.writeHead(200, { "x-amz-bucket-region": "local" }).end();
    case "ListObjectsV2":
      return listObjects(c);
    case "ListMultipartUploads":
      return listUploads(c);
    case "PutObject":
      return putObject(c);
    case "GetObject":
      return headObject(c, true);
    case "HeadObject":
      return headObject(c, false);
    case "DeleteObject":
      return deleteObject(c);
    case "CreateMultipartUpload":
      return createUpload(c);
    case "UploadPart":
      return uploadPart(c);
    case "ListParts":
      return listParts(c);
    case "CompleteMultipartUpload":
      return completeUpload(c);
    case "AbortMultipartUpload":
      return abortUpload(c);
    default:
      return sendS3Error(c.res, c.req.method ?? "GET", 501, "NotImplemented", "This operation is not supported by this volume.", resource(c));
  }
}
