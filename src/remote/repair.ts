import { rm, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { isDeepStrictEqual } from "node:util";
import pLimit from "p-limit";
import { DEFAULT_CONNECTIONS } from "../util/index.ts";
import type { DownloadEvent } from "../download/index.ts";
import type { Env } from "../store/index.ts";
import type { RateLimit } from "../transfer/index.ts";
import type { S3Connection } from "./client.ts";
import type { S3Event } from "./events.ts";
import { markStaging, removeStaging } from "./fill-volumes.ts";
import { VolumeHolder, type HolderTiming } from "./holders.ts";
import { requestOfRecord, type VolumeManifest } from "./layout.ts";
import { rethrowNamed, type ModelFile } from "./model.ts";
import { repairSource, type RepairNeed, type RepairStaging, type SourceOptions } from "./repair-source.ts";
import { uploadBytes, uploadFile, type UploadContext, type UploadedObject } from "./upload.ts";
import { runStateDir, uploadStateDir } from "./upload-state.ts";
import type { RecordedObject, VolumeRecord } from "./volume-record.ts";

/** One model's copy on one target that verification found bad: its record and the keys that are missing or wrong. */
export interface BadCopy {
  conn: S3Connection;
  recordKey: string;
  record: VolumeRecord;
  keys: string[];
}

/** Progress of a repair as data; the CLI prints it. */
export type RepairEvent =
  | DownloadEvent
  | S3Event
  | { type: "repair-source"; model: string; commit: string; fromStore: string[]; fromHub: string[]; whole: boolean }
  | { type: "repair-done"; target: string; model: string; objects: number; bytesSent: number; recordRewritten: boolean }
  | { type: "repair-failed"; target: string; model: string; error: string };

export interface RepairVolumesOptions {
  copies: BadCopy[];
  /** The local store: read first, and where files fetched again wait; removed after full success unless `keep`. */
  staging: RepairStaging & { keep: boolean };
  env: Env;
  signal?: AbortSignal;
  rate?: RateLimit;
  /** Requests that carry bytes at once, across targets. @default DEFAULT_CONNECTIONS */
  connections?: number;
  download?: SourceOptions["download"];
  /** @default uploadStateDir(env) */
  stateDir?: string;
  holderTiming?: HolderTiming;
  onEvent?: (event: RepairEvent) => void;
}

export interface RepairOutcome {
  target: string;
  model: string;
  ok: boolean;
  objects: number;
  bytesSent: number;
  recordRewritten?: boolean;
  error?: string;
}

export interface RepairSummary {
  outcomes: RepairOutcome[];
  /** Files downloaded again, and files taken from the local store, over all models. */
  fetched: number;
  fromStore: number;
  failed: boolean;
  interrupted: boolean;
}

const identity = (c: BadCopy) => JSON.stringify([requestOfRecord(c.record.manifest), c.record.label]);

function needOf(copies: BadCopy[]): RepairNeed | undefined {
  const first = copies[0]!;
  const request = requestOfRecord(first.record.manifest);
  if (!request) return undefined;
  const { commit, ...rest } = request;
  const keys = new Map<string, Set<string>>();
  for (const c of copies) {
    const set = keys.get(c.conn.target.prefix) ?? new Set<string>();
    for (const k of c.keys) set.add(k);
    keys.set(c.conn.target.prefix, set);
  }
  return { request: rest, commit, manifest: first.record.manifest as VolumeManifest, keys };
}

/** Objects sent in this repair, by target and key: a key two records share goes once. */
type Sent = Map<string, Promise<UploadedObject>>;

/** Send one copy's bad objects (data first, records last), then rewrite its record where an ETag changed. */
async function sendCopy(ctx: UploadContext, copy: BadCopy, files: ModelFile[], sent: Sent): Promise<RepairOutcome> {
  const target = ctx.conn.target.label;
  const mine = files.filter((f) => copy.keys.includes(f.key));
  const send = async (f: ModelFile): Promise<UploadedObject> => {
    const id = `${target}\0${f.key}`;
    const earlier = sent.get(id);
    if (earlier) return { ...(await earlier), bytesSent: 0 };
    const once = uploadFile(ctx, f).catch((e: unknown) => rethrowNamed(target, f.key, e));
    sent.set(id, once);
    return once;
  };
  const objects: Record<string, RecordedObject> = { ...copy.record.objects };
  let bytesSent = 0;
  for (const phase of [...new Set(mine.map((f) => f.phase ?? 0))].sort((a, b) => a - b)) {
    const batch = mine.filter((f) => (f.phase ?? 0) === phase);
    const done = await Promise.all(batch.map(send));
    for (const [i, d] of done.entries()) {
      const f = batch[i]!;
      objects[f.key] = { size: f.size, etag: d.etag, etagCheck: d.etagCheck, ...(f.sha256 ? { sha256: f.sha256 } : {}) };
      bytesSent += d.bytesSent;
    }
  }
  // The same bytes sent again mostly get the same ETag: then the record already says the truth.
  const rewrite = !isDeepStrictEqual(objects, copy.record.objects);
  if (rewrite) {
    const record: VolumeRecord = { ...copy.record, writtenAt: new Date().toISOString(), objects };
    bytesSent += (await uploadBytes(ctx, copy.recordKey, Buffer.from(JSON.stringify(record, null, 2)))).bytesSent;
  }
  return { target, model: copy.record.label, ok: true, objects: mine.length, bytesSent, recordRewritten: rewrite };
}

/**
 * Repair bad model copies on volumes: per model, only the files behind the bad objects are read again, from the
 * local store when it has them intact, else downloaded alone; only those objects are sent, to each target that
 * lacks them, and a record is rewritten only where an ETag changed. A failing model or target stops no other.
 */
export async function repairVolumes(o: RepairVolumesOptions): Promise<RepairSummary> {
  const emit = (e: RepairEvent) => o.onEvent?.(e);
  const signal = o.signal;
  const conns = [...new Set(o.copies.map((c) => c.conn))];
  const holders = new Map(conns.map((c) => [c, new VolumeHolder({ ...c, ...(signal ? { signal } : {}) }, o.holderTiming)]));
  const stateDir = runStateDir(o.stateDir ?? uploadStateDir(o.env as NodeJS.ProcessEnv));
  const budget = pLimit(o.connections ?? DEFAULT_CONNECTIONS);
  const contextOf = (conn: S3Connection): UploadContext => ({
    conn: { ...conn, ...(signal ? { signal } : {}) }, limit: budget, env: o.env as NodeJS.ProcessEnv, stateDir, holder: holders.get(conn)!,
    ...(o.rate ? { rate: o.rate } : {}), onEvent: emit,
  });
  const groups = new Map<string, BadCopy[]>();
  for (const c of o.copies) groups.set(identity(c), [...(groups.get(identity(c)) ?? []), c]);
  const outcomes: RepairOutcome[] = [];
  const sent: Sent = new Map();
  const fail = (c: BadCopy, error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    if (!signal?.aborted) emit({ type: "repair-failed", target: c.conn.target.label, model: c.record.label, error: message });
    outcomes.push({ target: c.conn.target.label, model: c.record.label, ok: false, objects: 0, bytesSent: 0, error: message });
  };
  let fetched = 0;
  let fromStore = 0;
  const marker = o.staging.keep ? undefined : await markStaging(o.staging.root);
  try {
    await Promise.all([...holders.values()].map((h) => h.start()));
    for (const copies of groups.values()) {
      if (signal?.aborted) break;
      const need = needOf(copies);
      if (!need) {
        for (const c of copies) fail(c, new Error("the record was not written by download-models: fill the model again"));
        continue;
      }
      let source: Awaited<ReturnType<typeof repairSource>>;
      try {
        source = await repairSource(need, { staging: o.staging, env: o.env, ...(signal ? { signal } : {}), ...(o.rate ? { rate: o.rate } : {}), ...(o.download ? { download: o.download } : {}), onEvent: emit });
      } catch (error) {
        for (const c of copies) fail(c, error);
        continue;
      }
      fetched += source.fromHub.length;
      fromStore += source.fromStore.length;
      emit({ type: "repair-source", model: copies[0]!.record.label, commit: need.commit, fromStore: source.fromStore, fromHub: source.fromHub, whole: source.whole });
      await Promise.all(copies.map((c) => sendCopy(contextOf(c.conn), c, source.files.get(c.conn.target.prefix) ?? [], sent).then(
        (r) => {
          outcomes.push(r);
          emit({ type: "repair-done", target: r.target, model: r.model, objects: r.objects, bytesSent: r.bytesSent, recordRewritten: Boolean(r.recordRewritten) });
        },
        (e: unknown) => fail(c, e),
      )));
    }
  } finally {
    await Promise.all([...holders.values()].map((h) => h.stop()));
    await rmdir(stateDir).catch(() => {}); // only when empty: records left resume next time
  }
  const failed = outcomes.some((r) => !r.ok) || outcomes.length < o.copies.length;
  const interrupted = Boolean(signal?.aborted);
  if (!failed && !interrupted && !o.staging.keep) await removeStaging(o.staging.root, marker);
  else if (marker) {
    await rm(marker, { force: true });
    await rmdir(dirname(marker)).catch(() => {});
  }
  return { outcomes, fetched, fromStore, failed, interrupted };
}
