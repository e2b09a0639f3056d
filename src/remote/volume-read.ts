import type { S3Connection } from "./client.ts";
import { listPrefix, type ListOptions } from "./listing.ts";
import { commonDir } from "./model.ts";
import { readRecord, RECORD_DIR, type VolumeRecord } from "./volume-record.ts";

export interface RecordedModel {
  key: string;
  record: VolumeRecord;
}

/** Every model recorded on the volume: one listing of the record folder, then one GET per record. */
export async function listVolumeModels(conn: S3Connection, options: ListOptions = {}): Promise<RecordedModel[]> {
  const listed = await listPrefix(conn, `${conn.target.prefix}${RECORD_DIR}`, options);
  const models: RecordedModel[] = [];
  for (const key of [...listed.keys()].filter((k) => k.endsWith(".json")).sort()) {
    const record = await readRecord(conn, key, options.retry);
    if (record) models.push({ key, record });
  }
  return models;
}

export interface VolumeProblem {
  model: string;
  key: string;
  /** Path relative to the model's root, as a user knows the file. */
  file: string;
  problem: "missing" | "size" | "etag";
  detail: string;
}

/**
 * Check a recorded model on the volume by listing only (no bytes read): every object present, with its size, and
 * with the recorded ETag where one was checked at upload.
 */
export async function verifyVolumeModel(conn: S3Connection, record: VolumeRecord, options: ListOptions = {}): Promise<VolumeProblem[]> {
  const keys = Object.keys(record.objects);
  const root = record.root || commonDir(keys);
  const listed = await listPrefix(conn, root, options);
  for (const extra of record.extraPrefixes ?? []) for (const [k, o] of await listPrefix(conn, extra, options)) listed.set(k, o);
  const problems: VolumeProblem[] = [];
  for (const key of keys.sort()) {
    const want = record.objects[key]!;
    const seen = listed.get(key);
    const base = { model: record.label, key, file: key.startsWith(root) ? key.slice(root.length) : key };
    if (!seen) problems.push({ ...base, problem: "missing", detail: `${base.file} is missing` });
    else if (seen.size !== want.size) problems.push({ ...base, problem: "size", detail: `${base.file} has ${seen.size} bytes, expected ${want.size}` });
    else if (want.etagCheck !== "unverified" && seen.etag !== want.etag) {
      problems.push({ ...base, problem: "etag", detail: `${base.file} has ETag ${seen.etag}, expected ${want.etag} (its content changed)` });
    }
  }
  return problems;
}
