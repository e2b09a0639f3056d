import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import type { S3Connection } from "./client.ts";
import type { S3EventSink } from "./events.ts";
import { cleanEtag } from "./upload-common.ts";
import { sleep } from "../net/index.ts";
import { DEFAULT_RETRY, describeS3Error, s3Status, withRetry, type RetryPolicy } from "./retry.ts";

export interface ListedObject {
  key: string;
  size: number;
  /** Unquoted, lower-case. */
  etag: string;
}

/** A listing that cannot be trusted: a continuation token seen twice, a cut-off body, a 403 mid-way. */
class ListingFault extends Error {
  override name = "ListingFault";
}

export interface ListOptions {
  retry?: RetryPolicy;
  /** Pause before listing again after a fault (the volume may still be computing ETags). @default 5000 */
  faultPauseMs?: number;
  onEvent?: S3EventSink;
}

// Staged multipart parts and directory placeholders are not objects of ours.
function wanted(key: string): boolean {
  return !key.endsWith("/") && !key.includes(".s3compat_uploads/");
}

function looksLikeListingFault(error: unknown): boolean {
  const status = s3Status(error);
  if (status === 403 || status === 200) return true;
  const name = (error as { name?: string }).name ?? "";
  return /Deserializ|XML|Syntax|parse/i.test(`${name} ${error instanceof Error ? error.message : ""}`);
}

/** All pages of one listing; delimiter listings also return their common prefixes. */
async function pages(conn: S3Connection, prefix: string, delimiter: string | undefined, options: ListOptions): Promise<{ objects: ListedObject[]; dirs: string[] }> {
  const objects: ListedObject[] = [];
  const dirs: string[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  for (;;) {
    const cmd = new ListObjectsV2Command({ Bucket: conn.target.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token });
    let page: ListObjectsV2CommandOutput;
    try {
      page = await withRetry(() => conn.client.send(cmd, { requestTimeout: 600_000, abortSignal: conn.signal }), { policy: options.retry ?? DEFAULT_RETRY, signal: conn.signal });
    } catch (error) {
      if (looksLikeListingFault(error)) throw new ListingFault(describeS3Error(error), { cause: error });
      throw error;
    }
    for (const o of page.Contents ?? []) if (o.Key && wanted(o.Key)) objects.push({ key: o.Key, size: o.Size ?? 0, etag: cleanEtag(o.ETag) });
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix && !p.Prefix.includes(".s3compat_uploads/")) dirs.push(p.Prefix);
    if (!page.IsTruncated) return { objects, dirs };
    const next = page.NextContinuationToken;
    if (!next) throw new ListingFault("a truncated page without a continuation token");
    if (seen.has(next)) throw new ListingFault("the same continuation token was received twice");
    seen.add(next);
    token = next;
  }
}

/** RunPod's own way around its pagination bug: one directory level at a time. */
async function listByDirectory(conn: S3Connection, prefix: string, options: ListOptions): Promise<ListedObject[]> {
  const found: ListedObject[] = [];
  const queue = [prefix];
  for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) {
    const { objects, dirs } = await pages(conn, dir, "/", options);
    found.push(...objects);
    queue.push(...dirs);
  }
  return found;
}

/**
 * Every object under `prefix` with size and ETag: one flat listing (paged), listed again after a pause when it
 * looks broken, and per directory when it breaks again.
 */
export async function listPrefix(conn: S3Connection, prefix: string, options: ListOptions = {}): Promise<Map<string, ListedObject>> {
  const byKey = (list: ListedObject[]): Map<string, ListedObject> => new Map(list.map((o) => [o.key, o]));
  let reason = "";
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      return byKey((await pages(conn, prefix, undefined, options)).objects);
    } catch (error) {
      if (!(error instanceof ListingFault)) throw error;
      reason = error.message;
      if (attempt === 1) await sleep(options.faultPauseMs ?? 5000, conn.signal);
    }
  }
  options.onEvent?.({ type: "listing-fallback", target: conn.target.label, prefix, reason });
  return byKey(await listByDirectory(conn, prefix, options));
}
