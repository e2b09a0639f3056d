import { lstat } from "node:fs/promises";
import type { LimitFunction } from "p-limit";
import type { ModelRequest } from "../types.ts";
import { manifestPath, manifestPaths, readManifest, type Manifest } from "./manifest.ts";
import { modelRef } from "../lockfile/index.ts";
import { treeBytes, type ModelOnRoot } from "./scan.ts";
import { manifestFilesIn } from "./layouts/records.ts";
import type { CommitHistory } from "./layouts/store.ts";

/**
 * Kinds of removal, in the order they are applied: a manifest first (the model stops claiming to be complete),
 * then links and refs, then blobs and whole model folders, then partial files, then folders left empty.
 */
export const PRUNE_ORDER = ["manifest", "link", "blob", "model-dir", "partial", "empty-dir"] as const;
export type PruneKind = (typeof PRUNE_ORDER)[number];

export interface PruneItem {
  kind: PruneKind;
  path: string;
  /** Bytes freed (regular files only; links and folders free nothing themselves). */
  bytes: number;
  reason: string;
  /** `hf:org/name`: the model the item belongs to. */
  model: string;
}

export interface ExtraRevision {
  revision: string;
  commit: string;
  /** Bytes only this revision uses. */
  bytes: number;
}

export interface ModelAnalysis {
  model: ModelOnRoot;
  /** Some selected model or lock entry needs this model. */
  declared: boolean;
  items: PruneItem[];
  extraRevisions: ExtraRevision[];
  /** Bytes of the whole model folder. */
  bytes: number;
}

const exists = (path: string) => lstat(path).then(() => true, () => false);

const shortCommit = (c: string) => c.slice(0, 12);

function describe(m: Pick<ModelRequest, "revision" | "include" | "exclude">): string {
  const filters = m.include.length || m.exclude.length ? ` (include [${m.include.join(", ")}] exclude [${m.exclude.join(", ")}])` : "";
  return `${m.revision}${filters}`;
}

async function manifestsIn(dir: string): Promise<{ path: string; manifest: Manifest | undefined }[]> {
  return Promise.all((await manifestFilesIn(dir)).map(async (path) => ({ path, manifest: await readManifest(path) })));
}

/** The manifest files a request is served by: its own, and the unfiltered one of its revision (see manifestsFor). */
function servingPaths(model: ModelOnRoot, kept: readonly ModelRequest[]): Set<string> {
  const paths = new Set<string>();
  for (const r of kept) {
    for (const path of manifestPaths(model.store, r)) paths.add(path);
    if (r.include.length || r.exclude.length) paths.add(manifestPath(model.store, { revision: r.revision, include: [], exclude: [] }));
  }
  return paths;
}

export interface ModelToAnalyze {
  model: ModelOnRoot;
  /** The selected requests and lock entries of this model. */
  kept: readonly ModelRequest[];
  /** The commits its lock entries pin. */
  lockedCommits: readonly string[];
  /** Bounds the stat calls of the walk. */
  limit: LimitFunction;
}

/** What of one model on the roots no kept request needs. */
export async function analyzeModel({ model, kept, lockedCommits, limit }: ModelToAnalyze): Promise<ModelAnalysis> {
  const ref = modelRef(model, false);
  const bytes = await treeBytes(model.store.modelDir, limit);
  const manifests = await manifestsIn(model.store.manifestDir);
  if (kept.length === 0) {
    // Only partial files (a first download stopped part-way): prune judges them by age, the folder stays.
    if (model.requests.length === 0 && manifests.length === 0) return { model, declared: false, items: [], extraRevisions: [], bytes };
    return { model, declared: false, items: await undeclaredItems(model, ref, manifests.map((m) => m.path), bytes), extraRevisions: [], bytes };
  }
  const serving = servingPaths(model, kept);
  const items: PruneItem[] = [];
  const extraRevisions: ExtraRevision[] = [];
  const keptCommits = new Set(lockedCommits);
  for (const { path, manifest } of manifests) {
    if (serving.has(path) && manifest) {
      keptCommits.add(manifest.commit);
      continue;
    }
    const what = manifest ? describe(manifest) : "an unreadable manifest";
    items.push({ kind: "manifest", path, bytes: 0, reason: `${what}: no selected project or lock entry declares it`, model: ref });
    if (manifest) extraRevisions.push({ revision: describe(manifest), commit: manifest.commit, bytes: 0 });
  }
  // With no kept commit (a first download, not locked) nothing says which snapshots are other revisions: keep them.
  if (model.store.history && keptCommits.size > 0) {
    const hf = await historyExtras(model.store.history, ref, keptCommits, limit);
    items.push(...hf.items);
    // A snapshot's bytes are what only it links to; name it by the revision whose manifest recorded it.
    const named = new Map(extraRevisions.map((r) => [r.commit, r]));
    for (const s of hf.snapshots) {
      const seen = named.get(s.commit);
      if (seen) seen.bytes = s.bytes;
      else extraRevisions.push({ revision: s.revision ?? "(no ref)", commit: s.commit, bytes: s.bytes });
    }
  }
  return { model, declared: true, items, extraRevisions, bytes };
}

/** A model nobody declares: its manifests, then its links and markers, then its folder. */
async function undeclaredItems(model: ModelOnRoot, ref: string, manifests: string[], bytes: number): Promise<PruneItem[]> {
  const reason = "no selected project or lock entry declares this model";
  const items: PruneItem[] = manifests.map((path) => ({ kind: "manifest", path, bytes: 0, reason, model: ref }));
  const links = new Set<string>();
  for (const r of model.requests) for (const f of model.store.layoutFiles?.(r, "") ?? []) links.add(f);
  for (const d of model.store.history?.folders() ?? []) links.add(d);
  for (const path of [...links].sort()) if (await exists(path)) items.push({ kind: "link", path, bytes: 0, reason, model: ref });
  items.push({ kind: "model-dir", path: model.store.modelDir, bytes, reason, model: ref });
  items.push({ kind: "empty-dir", path: model.store.manifestDir, bytes: 0, reason, model: ref });
  return items;
}

interface HfExtras {
  items: PruneItem[];
  snapshots: { commit: string; revision?: string; bytes: number }[];
}

/** Snapshots, refs and listings of commits nobody keeps, and blobs no kept snapshot links to. */
async function historyExtras(history: CommitHistory, ref: string, keptCommits: ReadonlySet<string>, limit: LimitFunction): Promise<HfExtras> {
  const items: PruneItem[] = [];
  const keptBlobs = new Set<string>();
  const dropped: { commit: string; links: Set<string> }[] = [];
  for (const commit of await history.snapshots()) {
    const links = await history.linkedBlobs(commit);
    if (keptCommits.has(commit)) for (const l of links) keptBlobs.add(l);
    else dropped.push({ commit, links });
  }
  const refNames = new Map<string, string>();
  for (const r of await history.refs()) {
    if (keptCommits.has(r.commit)) continue;
    refNames.set(r.commit, r.name);
    items.push({ kind: "link", path: r.path, bytes: 0, reason: `ref ${r.name} → ${shortCommit(r.commit)}: no kept commit`, model: ref });
  }
  for (const { commit } of dropped) {
    const reason = `snapshot ${shortCommit(commit)}: no selected project or lock entry pins this commit`;
    items.push({ kind: "link", path: history.snapshotDir(commit), bytes: 0, reason, model: ref });
    for (const extra of history.commitFiles(commit)) {
      if (await limit(() => exists(extra))) items.push({ kind: "link", path: extra, bytes: 0, reason, model: ref });
    }
  }
  const blobSizes = new Map<string, number>();
  for (const b of await history.blobs()) {
    blobSizes.set(b.name, b.bytes);
    if (!keptBlobs.has(b.name)) items.push({ kind: "blob", path: b.path, bytes: b.bytes, reason: "no kept snapshot links to it", model: ref });
  }
  const snapshots = dropped.map(({ commit, links }) => ({
    commit,
    ...(refNames.has(commit) ? { revision: refNames.get(commit)! } : {}),
    bytes: [...links].filter((l) => !keptBlobs.has(l)).reduce((n, l) => n + (blobSizes.get(l) ?? 0), 0),
  }));
  return { items, snapshots };
}
