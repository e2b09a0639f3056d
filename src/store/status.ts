import { sep } from "node:path";
import type { LimitFunction } from "p-limit";
import type { Registry } from "../sources/index.ts";
import type { Roots } from "./roots.ts";
import type { LayoutName, ModelRequest, ResolvedFile } from "../types.ts";
import type { ModelStore } from "./layouts/index.ts";
import { openCache, type Cache } from "./cache.ts";
import { sizeOf } from "../util/index.ts";
import { alignColumns, formatBytes } from "../util/index.ts";
import { partialBytes } from "../transfer/index.ts";
import { findEntry, requestOf, type Lock, type LockFile } from "../lockfile/index.ts";
import { modelRef } from "../lockfile/index.ts";
import { statLimit, treeBytes } from "./scan.ts";
import { freeBytes } from "../util/index.ts";
import { analyzeRoot } from "./plan-root.ts";
import { interruptedPrunes } from "./prune-guard.ts";

export type ModelState = "complete" | "partial" | "missing" | "other-commit";

export interface ModelStatus {
  model: ModelRequest;
  ref: string;
  state: ModelState;
  locked: boolean;
  /** What the lock pins, when locked. */
  lockedCommit?: string;
  /** The commit complete on disk (complete, other-commit). */
  commit?: string;
  bytesOnDisk: number;
  /** Unknown for a model neither locked nor ever recorded here. */
  totalBytes?: number;
  path?: string;
}

export interface UndeclaredItem {
  ref: string;
  /** A model with this tool's manifests, another revision of a declared one, or only partial downloads. */
  kind: "model" | "revision" | "partial";
  revision?: string;
  commit?: string;
  bytes: number;
  /** False for models another tool downloaded: listed, never pruned. */
  ours: boolean;
  /** A prune of it was stopped part-way: the next `prune --yes` finishes it. */
  interruptedPrune?: boolean;
  path: string;
}

export interface RootUsage {
  layout: LayoutName;
  root: string;
  /** Bytes of this tool's models (and their partial files) under the root. */
  usedBytes: number;
  freeBytes?: number;
}

export interface VolumeStatus {
  models: ModelStatus[];
  undeclared: UndeclaredItem[];
  roots: RootUsage[];
}

export interface StatusOptions {
  selection: ModelRequest[];
  lock: Lock;
  registry: Registry;
  roots: Roots;
}

function asResolved(f: LockFile | ResolvedFile): ResolvedFile {
  const etag = ("etag" in f && f.etag) || f.sha256 || f.gitSha1;
  return { ...f, ...(etag ? { etag } : {}), url: "" } as ResolvedFile;
}

/** Bytes of `files` already here: whole blobs by size (no hashing), partial ones from the transfer's records. */
async function bytesOnDisk(store: ModelStore, files: readonly ResolvedFile[], limit: LimitFunction): Promise<number> {
  const each = await Promise.all(
    files.map((f) =>
      limit(async () => {
        const path = (() => {
          try {
            return store.blobPath(f);
          } catch {
            return undefined; // no etag: cannot be placed in this layout
          }
        })();
        if (path && (await sizeOf(path)) === f.size) return f.size;
        return path ? partialBytes(store.tempPath(f), f.size) : 0;
      }),
    ),
  );
  return each.reduce((n, b) => n + b, 0);
}

async function modelStatus(model: ModelRequest, o: StatusOptions, cache: Cache, limit: LimitFunction): Promise<ModelStatus> {
  const store = cache.store(model);
  const entry = findEntry(o.lock, model);
  const base = { model, ref: modelRef(model), locked: Boolean(entry), ...(entry ? { lockedCommit: entry.commit } : {}) };
  const manifest = await cache.complete(model);
  if (manifest) {
    const total = manifest.files.reduce((n, f) => n + f.size, 0);
    const state: ModelState = entry && entry.commit !== manifest.commit ? "other-commit" : "complete";
    return { ...base, state, commit: manifest.commit, bytesOnDisk: total, totalBytes: total, path: store.snapshotDir(manifest.commit) };
  }
  const files = entry?.files ?? (await cache.manifests(model))[0]?.files;
  if (!files) {
    // Neither locked nor ever complete here: what its partial files hold is all that is known.
    const bytes = (await cache.partials(store, limit)).reduce((n, p) => n + p.bytes, 0);
    return { ...base, state: bytes > 0 ? "partial" : "missing", bytesOnDisk: bytes };
  }
  const resolved = files.map(asResolved);
  const onDisk = await bytesOnDisk(store, resolved, limit);
  const totalBytes = resolved.reduce((n, f) => n + f.size, 0);
  return { ...base, state: onDisk > 0 ? "partial" : "missing", bytesOnDisk: onDisk, totalBytes };
}

/**
 * What the roots hold for the selection and the lock, from local reads only (no request, no hashing): each
 * selected model's state, what nothing declares, and the space used and free per root.
 */
export async function volumeStatus(o: StatusOptions): Promise<VolumeStatus> {
  const limit = statLimit();
  const cache = openCache(o);
  const models: ModelStatus[] = [];
  for (const m of o.selection) models.push(await modelStatus(m, o, cache, limit));
  const { analyses, foreign } = await analyzeRoot({ selection: o.selection, lock: o.lock, registry: o.registry, roots: o.roots }, limit, cache);
  const undeclared: UndeclaredItem[] = [];
  for (const a of analyses) {
    const ref = modelRef(a.model, false);
    const path = a.model.store.modelDir;
    if (!a.declared && a.model.requests.length === 0) {
      const partials = await cache.partials(a.model.store, limit);
      const bytes = partials.reduce((n, p) => n + p.bytes, 0);
      if (partials.length > 0) undeclared.push({ ref, kind: "partial", bytes, ours: true, path });
    } else if (!a.declared) undeclared.push({ ref, kind: "model", bytes: a.bytes, ours: true, path });
    for (const r of a.extraRevisions) undeclared.push({ ref, kind: "revision", revision: r.revision, commit: r.commit, bytes: r.bytes, ours: true, path });
  }
  // This tool's stores: every model with its records or partial files here, and selected or locked ones still
  // without (a first download under way); partial files kept outside the model folder (ModelScope) count too.
  const stores = new Map(analyses.map((a) => [a.model.store.modelDir, { store: a.model.store, bytes: a.bytes as number | undefined }]));
  for (const m of [...o.selection, ...o.lock.models.map(requestOf)]) {
    const store = cache.store(m);
    if (!stores.has(store.modelDir)) stores.set(store.modelDir, { store, bytes: undefined });
  }
  const used = new Map<LayoutName, number>();
  for (const { store, bytes: known } of stores.values()) {
    let bytes = known ?? (await treeBytes(store.modelDir, limit));
    if (!(store.tempDir + sep).startsWith(store.modelDir + sep)) bytes += (await cache.partials(store, limit)).reduce((n, p) => n + p.bytes, 0);
    used.set(store.layout, (used.get(store.layout) ?? 0) + bytes);
  }
  const layouts = new Set<LayoutName>([...o.selection.map((m) => cache.layoutOf(m)), ...used.keys()]);
  for (const f of foreign) {
    undeclared.push({ ref: modelRef(f, false), kind: "model", bytes: await treeBytes(f.dir, limit), ours: false, path: f.dir });
  }
  for (const p of await interruptedPrunes([o.roots.huggingface, o.roots.modelscope, o.roots.plain], limit)) {
    const seen = undeclared.find((u) => u.ref === p.model && u.kind === "model");
    if (seen) Object.assign(seen, { ours: true, interruptedPrune: true });
    else if (p.dir) undeclared.push({ ref: p.model, kind: "model", bytes: p.bytes, ours: true, interruptedPrune: true, path: p.dir });
  }
  const roots: RootUsage[] = [];
  for (const layout of [...layouts].sort()) {
    const root = o.roots[layout];
    const free = await freeBytes(root);
    roots.push({ layout, root, usedBytes: used.get(layout) ?? 0, ...(free !== undefined ? { freeBytes: free } : {}) });
  }
  return { models, undeclared, roots };
}

const short = (c?: string) => (c ? c.slice(0, 12) : "?");

/** A model's row: ref, state, size (right-aligned), what the size or state means. */
function modelRow(s: ModelStatus): string[] {
  switch (s.state) {
    case "complete":
      return [s.ref, "complete", formatBytes(s.bytesOnDisk), short(s.commit)];
    case "other-commit":
      return [s.ref, "other commit", "", `${short(s.commit)} on disk, the lock pins ${short(s.lockedCommit)}`];
    case "partial":
      if (s.totalBytes === undefined) return [s.ref, "partial", formatBytes(s.bytesOnDisk), "of an unknown size"];
      return [s.ref, "partial", formatBytes(s.bytesOnDisk), `of ${formatBytes(s.totalBytes)} (${Math.floor((100 * s.bytesOnDisk) / Math.max(s.totalBytes, 1))}%)`];
    case "missing":
      return [s.ref, "missing", s.totalBytes !== undefined ? formatBytes(s.totalBytes) : "", ""];
  }
}

function undeclaredRow(u: UndeclaredItem): string[] {
  const what = u.kind === "model" ? "model" : u.kind === "partial" ? "partial download" : `revision ${u.revision} (${short(u.commit)})`;
  const note = u.interruptedPrune ? "(a prune of it was interrupted: `download-models prune --yes` finishes it)" : u.ours ? "" : "(not downloaded by download-models: prune leaves it)";
  return [u.ref, what, formatBytes(u.bytes), note];
}

/**
 * Human lines for `download-models status`: one line per model, what nothing declares, then the space. Each
 * section is a table: its columns start at the same offsets on every row, sizes end in one column.
 */
export function formatStatus(status: VolumeStatus): string[] {
  // One space after the size, as in `status --volume`: "1.35 MB of 12.0 MB" reads as one phrase.
  const rows = alignColumns(status.models.map(modelRow), { right: [2], gaps: ["  ", "  ", " "] });
  // "(not locked)" starts in one column too, right of the rows that carry it (a long other-commit line does not push it).
  const lockAt = Math.max(0, ...rows.filter((_, i) => !status.models[i]!.locked).map((row) => row.length));
  const lines = rows.map((row, i) => (status.models[i]!.locked ? row : `${row.padEnd(lockAt)}  (not locked)`));
  if (status.undeclared.length) {
    lines.push("", "Not declared by a selected project or the lock:", ...alignColumns(status.undeclared.map(undeclaredRow), { right: [2], indent: "  " }));
  }
  lines.push("");
  for (const r of status.roots) {
    const free = r.freeBytes !== undefined ? `, ${formatBytes(r.freeBytes)} free` : "";
    lines.push(`${r.layout} ${r.root}: ${formatBytes(r.usedBytes)} used by download-models${free}`);
  }
  return lines;
}
