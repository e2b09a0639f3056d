import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import { processIsGone, userCacheDir, writeFileAtomic } from "../util/index.ts";
import type { S3Connection } from "./client.ts";
import type { S3Target } from "./target.ts";
import { isNotFound } from "./retry.ts";
import { isOrphan, liveUploads } from "./holders.ts";

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
  return join(userCacheDir(env), "download-models", "s3-uploads");
}

// One folder per run: two fills of the same volume by the same user never share (or resume) each other's records.
const RUN_DIR = /^(.+)-(\d+)-([0-9a-f]{8})$/;

/** The resume records of one run: `<base>/<host>-<pid>-<random>`. */
export function runStateDir(base: string): string {
  return join(base, runId());
}

/** `<host>-<pid>-<random>`: names one run's folders and markers; runIsDead tells whether its process is gone. */
export function runId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

export function runIsDead(name: string): boolean {
  const m = RUN_DIR.exec(name);
  if (!m || m[1] !== hostname()) return false;
  return processIsGone(Number(m[2]));
}

/**
 * Before resuming: when this run has no record at `path`, take the same file's record from a run that died (or
 * from the flat folder older versions wrote). A rename moves it, so only one live run can take it.
 */
export async function adoptRecord(path: string): Promise<void> {
  const dir = dirname(path);
  if (!RUN_DIR.test(basename(dir))) return;
  const base = dirname(dir);
  const names = await readdir(base).catch(() => [] as string[]);
  const from = [join(base, basename(path)), ...names.filter(runIsDead).map((n) => join(base, n, basename(path)))];
  for (const candidate of from) {
    try {
      await mkdir(dir, { recursive: true });
      await rename(candidate, path);
      return;
    } catch {
      // Not there, or another run took it first.
    }
  }
}

export interface UploadOf {
  /** The folder of upload records. */
  dir: string;
  target: Pick<S3Target, "endpoint" | "bucket">;
  key: string;
}

/** One record file per (endpoint, bucket, key): the name is a hash, so keys need no escaping. */
export function statePath({ dir, target, key }: UploadOf): string {
  const endpoint = target.endpoint ?? "aws";
  const id = createHash("sha256").update(`${endpoint}\0${target.bucket}\0${key}`).digest("hex").slice(0, 40);
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

/** Multipart uploads in progress under a prefix, the target's by default (all pages). */
export async function listUploads(conn: Pick<S3Connection, "client" | "target" | "signal">, prefix = conn.target.prefix): Promise<PendingUpload[]> {
  const { client, target, signal } = conn;
  const found: PendingUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: target.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), { abortSignal: signal });
    for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) found.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated });
    if (!page.IsTruncated || (!page.NextKeyMarker && !page.NextUploadIdMarker)) return found;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

async function abort(client: S3Client, bucket: string, key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), { abortSignal: signal });
  } catch (error) {
    // Already gone (completed or aborted elsewhere) is the outcome we wanted.
    if (!isNotFound(error) && (error as { name?: string }).name !== "NoSuchUpload") throw error;
  }
}

/**
 * Abort the other multipart uploads of exactly this key (staged parts take volume space until aborted), keeping
 * `keep` and every upload a live process on the volume holds (another fill may be writing the same key). Run after
 * the key was written successfully. Returns how many were aborted.
 */
export async function abortStaleUploads(conn: S3Connection, key: string, keep?: string): Promise<number> {
  const { client, target, signal } = conn;
  const others = (await listUploads(conn, key)).filter((u) => u.key === key && u.uploadId !== keep);
  if (others.length === 0) return 0;
  const live = await liveUploads(conn);
  const stale = others.filter((u) => isOrphan(u, live));
  for (const u of stale) await abort(client, target.bucket, u.key, u.uploadId, signal);
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
  const { client, target, signal } = conn;
  const cutoff = (options.now ?? Date.now()) - (options.olderThanMs ?? 86_400_000);
  const pending = await listUploads(conn);
  // Old is not enough: a long fill on another machine may still be writing it.
  const live = pending.length ? await liveUploads(conn) : undefined;
  const old = pending.filter((u) => (!u.initiated || u.initiated.getTime() < cutoff) && (!live || !live.held.has(u.uploadId)));
  for (const u of old) {
    await abort(client, target.bucket, u.key, u.uploadId, signal);
    await rm(statePath({ dir: options.stateDir, target, key: u.key }), { force: true });
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
  // The folders of runs that are gone, one level down.
  for (const name of names.filter(runIsDead)) await dropOrphanRecords(join(dir, name), target, aborted);
}
