import { sep } from "node:path";
import type { LimitFunction } from "p-limit";
import type { Registry } from "../sources/index.ts";
import type { Roots } from "./roots.ts";
import type { LayoutName, ModelRequest, ResolvedFile } from "../types.ts";
import { findComplete, manifestsFor } from "./manifest.ts";
import { layoutOf, openStore, type ModelStore } from "./layouts/index.ts";
import { sizeOf } from "../util/index.ts";
import { formatBytes } from "../util/index.ts";
import { partialBytes } from "../transfer/index.ts";
import { findEntry, requestOf, type Lock, type LockFile } from "../lockfile/index.ts";
import { modelRef } from "../lockfile/index.ts";
import { foreignHfRepos, partialFiles, statLimit, tempArea, treeBytes } from "./scan.ts";
import { freeBytes } from "../util/index.ts";
import { analyzeRoot } from "./plan-root.ts";

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
  kind: "model" | "revision";
  revision?: string;
  commit?: string;
  bytes: number;
  /** False for HF models another tool downloaded: listed, never pruned. */
  ours: boolean;
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

async function modelStatus(model: ModelRequest, o: StatusOptions, limit: LimitFunction): Promise<ModelStatus> {
  const store = openStore(o.registry.get(model.source), model, o.roots);
  const entry = findEntry(o.lock, model);
  const base = { model, ref: modelRef(model), locked: Boolean(entry), ...(entry ? { lockedCommit: entry.commit } : {}) };
  const manifest = await findComplete(store, model);
  if (manifest) {
    const total = manifest.files.reduce((n, f) => n + f.size, 0);
    const state: ModelState = entry && entry.commit !== manifest.commit ? "other-commit" : "complete";
    return { ...base, state, commit: manifest.commit, bytesOnDisk: total, totalBytes: total, path: store.snapshotDir(manifest.commit) };
  }
  const files = entry?.files ?? (await manifestsFor(store, model))[0]?.files;
  if (!files) return { ...base, state: "missing", bytesOnDisk: 0 };
  const resolved = files.map(asResolved);
  const onDisk = await bytesOnDisk(store, resolved, limit);
  const totalBytes = resolved.reduce((n, f) => n + f.size, 0);
  return { ...base, state: onDisk > 0 ? "partial" : "missing", bytesOnDisk: onDisk, totalBytes };
}

/**
 * What the volume holds for the selection and the lock, from local reads only (no request, no hashing): each
 * selected model's state, what nothing declares, and the space used and free per root.
 */
export async function volumeStatus(o: StatusOptions): Promise<VolumeStatus> {
  const limit = statLimit();
  const models: ModelStatus[] = [];
  for (const m of o.selection) models.push(await modelStatus(m, o, limit));
  const { analyses } = await analyzeRoot({ selection: o.selection, lock: o.lock, registry: o.registry, roots: o.roots }, limit);
  const undeclared: UndeclaredItem[] = [];
  for (const a of analyses) {
    const ref = modelRef(a.model, false);
    if (!a.declared) undeclared.push({ ref, kind: "model", bytes: a.bytes, ours: true, path: a.model.store.modelDir });
    for (const r of a.extraRevisions) undeclared.push({ ref, kind: "revision", revision: r.revision, commit: r.commit, bytes: r.bytes, ours: true, path: a.model.store.modelDir });
  }
  // This tool's stores: every model with its records here, and selected or locked ones still without (a first
  // download under way); partial files kept outside the model folder (ModelScope) count too.
  const stores = new Map(analyses.map((a) => [a.model.store.modelDir, { layout: a.model.layout, store: a.model.store, bytes: a.bytes as number | undefined }]));
  for (const m of [...o.selection, ...o.lock.models.map(requestOf)]) {
    const downloader = o.registry.get(m.source);
    const store = openStore(downloader, m, o.roots);
    if (!stores.has(store.modelDir)) stores.set(store.modelDir, { layout: layoutOf(downloader), store, bytes: undefined });
  }
  const used = new Map<LayoutName, number>();
  for (const { layout, store, bytes: known } of stores.values()) {
    let bytes = known ?? (await treeBytes(store.modelDir, limit));
    if (!(tempArea(store) + sep).startsWith(store.modelDir + sep)) bytes += (await partialFiles(store, limit)).reduce((n, p) => n + p.bytes, 0);
    used.set(layout, (used.get(layout) ?? 0) + bytes);
  }
  const layouts = new Set<LayoutName>([...o.selection.map((m) => layoutOf(o.registry.get(m.source))), ...used.keys()]);
  if (!o.roots.refused.huggingface) {
    const ours = new Set(stores.keys());
    for (const f of await foreignHfRepos(o.roots.huggingface, ours)) {
      undeclared.push({ ref: `hf:${f.id}`, kind: "model", bytes: await treeBytes(f.dir, limit), ours: false, path: f.dir });
    }
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

function stateText(s: ModelStatus): string {
  switch (s.state) {
    case "complete":
      return `complete      ${formatBytes(s.bytesOnDisk)}  ${short(s.commit)}`;
    case "other-commit":
      return `other commit  ${short(s.commit)} on disk, the lock pins ${short(s.lockedCommit)}`;
    case "partial":
      return `partial       ${formatBytes(s.bytesOnDisk)} of ${formatBytes(s.totalBytes ?? 0)} (${Math.floor((100 * s.bytesOnDisk) / Math.max(s.totalBytes ?? 1, 1))}%)`;
    case "missing":
      return `missing       ${s.totalBytes !== undefined ? formatBytes(s.totalBytes) : ""}`.trimEnd();
  }
}

/** Human lines for `download-models status`: one line per model, what nothing declares, then the space. */
export function formatStatus(status: VolumeStatus): string[] {
  const width = Math.max(0, ...status.models.map((m) => m.ref.length));
  const lines = status.models.map((m) => `${m.ref.padEnd(width)}  ${stateText(m)}${m.locked ? "" : "  (not locked)"}`);
  if (status.undeclared.length) {
    lines.push("", "Not declared by a selected project or the lock:");
    const w = Math.max(...status.undeclared.map((u) => u.ref.length));
    for (const u of status.undeclared) {
      const what = u.kind === "model" ? "model" : `revision ${u.revision} (${short(u.commit)})`;
      lines.push(`  ${u.ref.padEnd(w)}  ${what}  ${formatBytes(u.bytes)}${u.ours ? "" : "  (not downloaded by download-models: prune leaves it)"}`);
    }
  }
  lines.push("");
  for (const r of status.roots) {
    const free = r.freeBytes !== undefined ? `, ${formatBytes(r.freeBytes)} free` : "";
    lines.push(`${r.layout} ${r.root}: ${formatBytes(r.usedBytes)} used by download-models${free}`);
  }
  return lines;
}
