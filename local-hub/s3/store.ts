import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface StoredObject {
  key: string;
  /** Data file on disk. */
  path: string;
  size: number;
  /** Without quotes: MD5 hex for PutObject, `md5(part md5s)-N` for multipart. */
  etag: string;
  lastModified: Date;
}

export interface StoredPart {
  partNumber: number;
  path: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface MultipartUpload {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: Date;
  parts: Map<number, StoredPart>;
}

export interface Received {
  path: string;
  size: number;
  md5: string;
  sha256: string;
}

export interface ListQuery {
  prefix: string;
  delimiter?: string;
  /** Keys strictly after this one (continuation token or start-after). */
  after?: string;
  maxKeys: number;
}

export interface ListPage {
  contents: StoredObject[];
  commonPrefixes: string[];
  /** Last key or common prefix returned, when more follow. */
  nextAfter?: string;
}

/** Why Complete refused the part list, as an S3 error code. */
export type CompleteFailure = "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall";

/**
 * Objects of each bucket, data on disk and the index in memory. Byte usage counts stored objects and staged
 * parts, like a volume whose hidden upload folder takes space until Complete or Abort.
 */
export class S3Store {
  readonly buckets = new Map<string, Map<string, StoredObject>>();
  readonly uploads = new Map<string, MultipartUpload>();
  usedBytes = 0;

  constructor(readonly dir: string, buckets: string[]) {
    for (const b of buckets) this.buckets.set(b, new Map());
  }

  private tempPath(): string {
    return join(this.dir, "data", randomBytes(12).toString("hex"));
  }

  /** Stream a request body to a new data file, hashing it on the way. */
  async receive(body: Readable, onBytes: (bytes: number) => void = () => {}): Promise<Received> {
    const path = this.tempPath();
    await mkdir(dirname(path), { recursive: true });
    const md5 = createHash("md5");
    const sha256 = createHash("sha256");
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      onBytes(chunk.length);
      md5.update(chunk);
      sha256.update(chunk);
    });
    try {
      await pipeline(body, createWriteStream(path));
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
    return { path, size, md5: md5.digest("hex"), sha256: sha256.digest("hex") };
  }

  /** Flip the first byte of received data, as a store that damaged it would keep it. */
  async damage(received: Received): Promise<Received> {
    const bytes = await readFile(received.path);
    if (bytes.length > 0) bytes[0] = bytes[0]! ^ 0xff;
    await writeFile(received.path, bytes);
    return { ...received, md5: createHash("md5").update(bytes).digest("hex"), sha256: createHash("sha256").update(bytes).digest("hex") };
  }

  async discard(received: Received): Promise<void> {
    await rm(received.path, { force: true });
  }

  async putObject(bucket: string, key: string, data: { path: string; size: number; etag: string }): Promise<StoredObject> {
    const objects = this.buckets.get(bucket)!;
    await this.deleteObject(bucket, key);
    const object: StoredObject = { key, path: data.path, size: data.size, etag: data.etag, lastModified: new Date() };
    objects.set(key, object);
    this.usedBytes += data.size;
    return object;
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    const objects = this.buckets.get(bucket)!;
    const old = objects.get(key);
    if (!old) return;
    objects.delete(key);
    this.usedBytes -= old.size;
    await rm(old.path, { force: true });
  }

  createUpload(bucket: string, key: string): MultipartUpload {
    const upload: MultipartUpload = { uploadId: randomBytes(16).toString("base64url"), bucket, key, initiated: new Date(), parts: new Map() };
    this.uploads.set(upload.uploadId, upload);
    return upload;
  }

  async putPart(upload: MultipartUpload, partNumber: number, received: Received): Promise<StoredPart> {
    const old = upload.parts.get(partNumber);
    if (old) {
      this.usedBytes -= old.size;
      await rm(old.path, { force: true });
    }
    const part: StoredPart = { partNumber, path: received.path, size: received.size, etag: received.md5, lastModified: new Date() };
    upload.parts.set(partNumber, part);
    this.usedBytes += received.size;
    return part;
  }

  async abortUpload(upload: MultipartUpload): Promise<void> {
    this.uploads.delete(upload.uploadId);
    for (const part of upload.parts.values()) {
      this.usedBytes -= part.size;
      await rm(part.path, { force: true });
    }
  }

  /** Parts named by Complete, checked against the staged ones; a string says why they are refused. */
  pickParts(upload: MultipartUpload, wanted: { partNumber: number; etag: string }[]): StoredPart[] | CompleteFailure {
    const picked: StoredPart[] = [];
    for (const [i, w] of wanted.entries()) {
      if (i > 0 && w.partNumber <= wanted[i - 1]!.partNumber) return "InvalidPartOrder";
      const part = upload.parts.get(w.partNumber);
      if (!part || part.etag !== w.etag.toLowerCase()) return "InvalidPart";
      picked.push(part);
    }
    if (picked.length === 0) return "InvalidPart";
    return picked;
  }

  /** Merge the picked parts into the object; the ETag is MD5 of the binary part MD5s, dash, part count. */
  async completeUpload(upload: MultipartUpload, parts: StoredPart[]): Promise<StoredObject> {
    const path = this.tempPath();
    const out = createWriteStream(path);
    for (const part of parts) {
      for await (const chunk of createReadStream(part.path)) if (!out.write(chunk)) await once(out, "drain");
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const digest = createHash("md5");
    for (const part of parts) digest.update(Buffer.from(part.etag, "hex"));
    const size = parts.reduce((sum, p) => sum + p.size, 0);
    await this.abortUpload(upload);
    return this.putObject(upload.bucket, upload.key, { path, size, etag: `${digest.digest("hex")}-${parts.length}` });
  }

  /** One page of keys in order, rolling keys up to common prefixes at the delimiter like S3. */
  list(bucket: string, q: ListQuery): ListPage {
    const keys = [...this.buckets.get(bucket)!.keys()].filter((k) => k.startsWith(q.prefix)).sort();
    const page: ListPage = { contents: [], commonPrefixes: [] };
    let count = 0;
    for (const key of keys) {
      const rest = key.slice(q.prefix.length);
      const cut = q.delimiter ? rest.indexOf(q.delimiter) : -1;
      const entry = cut >= 0 ? q.prefix + rest.slice(0, cut + q.delimiter!.length) : key;
      if (q.after !== undefined && entry <= q.after) continue;
      if (cut >= 0 && page.commonPrefixes.at(-1) === entry) continue;
      if (count === q.maxKeys) {
        page.nextAfter = lastOf(page);
        return page;
      }
      if (cut >= 0) page.commonPrefixes.push(entry);
      else page.contents.push(this.buckets.get(bucket)!.get(key)!);
      count++;
    }
    return page;
  }

  /** Write a bucket's objects as a directory tree, the way a Pod would see the volume. */
  async materialize(bucket: string, dir: string): Promise<void> {
    for (const object of this.buckets.get(bucket)!.values()) {
      const target = join(dir, ...object.key.split("/"));
      await mkdir(dirname(target), { recursive: true });
      await copyFile(object.path, `${target}.tmp`);
      await rename(`${target}.tmp`, target);
    }
  }
}

function lastOf(page: ListPage): string | undefined {
  const lastKey = page.contents.at(-1)?.key;
  const lastPrefix = page.commonPrefixes.at(-1);
  if (lastKey === undefined) return lastPrefix;
  if (lastPrefix === undefined) return lastKey;
  return lastKey > lastPrefix ? lastKey : lastPrefix;
}
