import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import { writeFileAtomic } from "../util/index.ts";
import type { S3Connection } from "./client.ts";
import { isNotFound } from "./retry.ts";

/** Which local file an upload was made from; a changed file never resumes an old upload. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  sha256?: string;
}

export interface PartRecord {
  size: number;
  /** MD5 hex of the part's bytes, computed while reading them. */
  md5: string;
  /** ETag the store returned, unquoted. */
  etag: string;
}

/** The resume record of one multipart upload, kept on the uploading machine (never on the volume). */
export interface UploadRecord {
  version: 1;
  endpoint: string;
  bucket: string;
  key: string;
  uploadId: string;
  createdAt: string;
  size: number;
  partSize: number;
  source: FileIdentity;
  /** By part number. */
  parts: Record<string, PartRecord>;
}

/** `$XDG_CACHE_HOME/download-models/s3-uploads`, else `~/.cache/download-models/s3-uploads`. */
export function uploadStateDir(env: NodeJS.ProcessEnv): string {
  const cacheHome = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cacheHome, "download-models", "s3-uploads");
}

/** One record file per (endpoint, bucket, key): the name is a hash, so keys need no escaping. */
export function statePath(dir: string, endpoint: string, bucket: string, key: string): string {
  const id = createHash("sha256").update(`${endpoint}\0${bucket}\0${key}`).digest("hex").slice(0, 40);
  return join(dir, `${id}.json`);
}

export async function fileIdentity(path: string, sha256?: string): Promise<FileIdentity> {
  const st = await stat(path);
  return { path, size: st.size, mtimeMs: st.mtimeMs, ...(sha256 ? { sha256 } : {}) };
}

export function sameSource(a: FileIdentity, b: FileIdentity): boolean {
  return a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs && a.sha256 === b.sha256;
}

export async function loadRecord(path: string): Promise<UploadRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(path, "utf8")) as UploadRecord;
    return record.version === 1 && typeof record.uploadId === "string" ? record : undefined;
  } catch {
    // Missing or torn: start a new upload; the stale one is aborted after success.
    return undefined;
  }
}

/** The record of an upload in progress; part writes are serialised so concurrent parts never lose each other. */
export class UploadState {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    readonly record: UploadRecord,
  ) {}

  save(): Promise<void> {
    const text = JSON.stringify(this.record);
    this.writing = this.writing.then(() => writeFileAtomic(this.path, text));
    return this.writing;
  }

  recordPart(partNumber: number, part: PartRecord): Promise<void> {
    this.record.parts[String(partNumber)] = part;
    return this.save();
  }

  forgetPart(partNumber: number): void {
    delete this.record.parts[String(partNumber)];
  }

  async remove(): Promise<void> {
    await this.writing.catch(() => {});
    await rm(this.path, { force: true });
  }
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated: Date | undefined;
}

/** Multipart uploads in progress under a prefix (all pages). */
export async function listUploads(client: S3Client, bucket: string, prefix: string): Promise<PendingUpload[]> {
  const found: PendingUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
    for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) found.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated });
    if (!page.IsTruncated || (!page.NextKeyMarker && !page.NextUploadIdMarker)) return found;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

async function abort(client: S3Client, bucket: string, key: string, uploadId: string): Promise<void> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  } catch (error) {
    // Already gone (completed or aborted elsewhere) is the outcome we wanted.
    if (!isNotFound(error) && (error as { name?: string }).name !== "NoSuchUpload") throw error;
  }
}

/**
 * Abort the other multipart uploads of exactly this key (staged parts take volume space until aborted), keeping
 * `keep`. Run after the key was written successfully. Returns how many were aborted.
 */
export async function abortStaleUploads(client: S3Client, bucket: string, key: string, keep?: string): Promise<number> {
  const stale = (await listUploads(client, bucket, key)).filter((u) => u.key === key && u.uploadId !== keep);
  for (const u of stale) await abort(client, bucket, u.key, u.uploadId);
  return stale.length;
}

export interface PruneOptions {
  stateDir: string;
  /** Only uploads started longer ago than this; younger ones may belong to a run still going. @default 86_400_000 */
  olderThanMs?: number;
  now?: number;
}

/**
 * For `prune --volume`: abort abandoned multipart uploads under the target's prefix and drop their local
 * records. Returns the keys whose uploads were aborted.
 */
export async function pruneUploads(conn: S3Connection, options: PruneOptions): Promise<string[]> {
  const { client, target } = conn;
  const cutoff = (options.now ?? Date.now()) - (options.olderThanMs ?? 86_400_000);
  const old = (await listUploads(client, target.bucket, target.prefix)).filter((u) => !u.initiated || u.initiated.getTime() < cutoff);
  for (const u of old) {
    await abort(client, target.bucket, u.key, u.uploadId);
    await rm(statePath(options.stateDir, target.endpoint ?? "aws", target.bucket, u.key), { force: true });
  }
  await dropOrphanRecords(options.stateDir, target, new Set(old.map((u) => u.uploadId)));
  return old.map((u) => u.key);
}

// Records whose upload id was just aborted but that were filed under another endpoint spelling.
async function dropOrphanRecords(dir: string, target: S3Connection["target"], aborted: Set<string>): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  // Temp files of record writes cut short by a killed process.
  for (const name of names.filter((n) => n.endsWith(".incomplete"))) await rm(join(dir, name), { force: true });
  for (const name of names.filter((n) => n.endsWith(".json"))) {
    const record = await loadRecord(join(dir, name));
    if (record && record.bucket === target.bucket && aborted.has(record.uploadId)) await rm(join(dir, name), { force: true });
  }
}
