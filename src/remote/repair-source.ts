import { rm } from "node:fs/promises";
import { relative } from "node:path";
import { DownloadModelsError } from "../errors.ts";
import { runDownload, type DownloadEvent, type RunDownloadOptions, type Summary } from "../download/index.ts";
import { modelscopeCopyDirs, openCache, type Cache, type CompleteModel, type Env, type Roots } from "../store/index.ts";
import type { Registry } from "../sources/index.ts";
import { verifyFileOnDisk, type RateLimit } from "../transfer/index.ts";
import type { ModelRequest, ResolvedFile } from "../types.ts";
import type { VolumeManifest } from "./layout.ts";
import { volumeModel } from "./layout.ts";
import type { ModelFile } from "./model.ts";
import { keyFor } from "./target.ts";

// Where the bytes of a volume's bad objects come from: the local store when it holds the model complete and the
// files still hash right, else the hub, for those files only, through the download engine.

/** The objects one model needs again, per target prefix (each target may put the model under its own prefix). */
export interface RepairNeed {
  request: ModelRequest;
  commit: string;
  /** The record's own manifest (layout, ModelScope copies). */
  manifest: VolumeManifest;
  /** Bad keys by target prefix. */
  keys: Map<string, Set<string>>;
}

export interface RepairStaging {
  registry: Registry;
  roots: Roots;
  /** The root keys are relative to (what `--root` names). */
  root: string;
}

export interface SourceOptions {
  staging: RepairStaging;
  env: Env;
  signal?: AbortSignal;
  rate?: RateLimit;
  download?: Pick<RunDownloadOptions, "token" | "skipSpaceCheck" | "concurrency" | "transfer" | "redactor">;
  onEvent?: (e: DownloadEvent) => void;
}

/** The files to send, by target prefix, and where they came from. */
export interface RepairSource {
  files: Map<string, ModelFile[]>;
  /** Files taken from the local store as they were (their bytes hashed again first). */
  fromStore: string[];
  /** Files downloaded again (only those; `whole` when the whole model had to be, for its markers). */
  fromHub: string[];
  whole: boolean;
  download?: Summary;
}

/** A repo path as an fnmatch pattern that matches only itself. */
export const exactPattern = (path: string) => path.replace(/[*?[]/g, (c) => `[${c}]`);

/** The files of `complete` as the volume names them, for the bad keys; keys it cannot produce are left out. */
async function filesFor(complete: CompleteModel, need: RepairNeed, root: string): Promise<Map<string, ModelFile[]>> {
  const out = new Map<string, ModelFile[]>();
  for (const [prefix, keys] of need.keys) {
    const vm = await volumeModel({ complete, stagingRoot: root, prefix, modelscopeCopies: need.manifest.modelscopeCopies });
    out.set(prefix, vm.files.filter((f) => keys.has(f.key)));
  }
  return out;
}

const missingKeys = (need: RepairNeed, files: Map<string, ModelFile[]>) =>
  [...need.keys].flatMap(([prefix, keys]) => [...keys].filter((k) => !files.get(prefix)?.some((f) => f.key === k)));

/** Data files among `files` whose bytes no longer hash to what the manifest says (repo paths). */
async function badOnDisk(complete: CompleteModel, files: Map<string, ModelFile[]>): Promise<string[]> {
  const wanted = new Set([...files.values()].flat().map((f) => f.localPath));
  const bad: string[] = [];
  for (const f of complete.files.filter((x) => wanted.has(x.disk))) {
    if (await verifyFileOnDisk(f.disk, { ...f, url: "" } as ResolvedFile)) bad.push(f.path);
  }
  return bad;
}

/** The repo path a data key stands for, or undefined for a key of the layout's records, markers or listings. */
function dataPath(cache: Cache, need: RepairNeed, prefix: string, key: string, root: string): string | undefined {
  const store = cache.store(need.request);
  const keyOf = (path: string) => keyFor(prefix, relative(root, path));
  if ((store.layoutFiles?.(need.request, need.commit) ?? []).some((p) => keyOf(p) === key)) return undefined;
  if (key.startsWith(`${keyOf(store.manifestDir)}/`)) return undefined;
  const copies = need.manifest.modelscopeCopies ? modelscopeCopyDirs(store.root, need.request.id) : [];
  for (const dir of [store.snapshotDir(need.commit), ...copies]) {
    const base = `${keyOf(dir)}/`;
    if (key.startsWith(base)) return key.slice(base.length);
  }
  return undefined;
}

async function discard(complete: CompleteModel, paths: readonly string[]): Promise<void> {
  for (const f of complete.files.filter((x) => paths.includes(x.path))) {
    if (f.blob) await rm(f.blob, { force: true });
    await rm(f.disk, { force: true });
  }
}

/** Download `request` into the staging store through the engine; it must land on the commit the volume holds. */
async function fetch(request: ModelRequest, need: RepairNeed, o: SourceOptions): Promise<{ complete: CompleteModel; summary: Summary; fetched: string[] }> {
  const fetched: string[] = [];
  const summary = await runDownload({
    ...o.download, models: [request], registry: o.staging.registry, roots: o.staging.roots, env: o.env,
    ...(o.signal ? { signal: o.signal } : {}), ...(o.rate ? { rate: o.rate } : {}),
    onEvent: (e) => {
      if (e.type === "file-done" && !e.reused) fetched.push(e.path);
      o.onEvent?.(e);
    },
  });
  const result = summary.models[0]!;
  if (result.status === "failed" || result.status === "interrupted") {
    throw new DownloadModelsError(result.error ?? `${need.request.id}: the download stopped`);
  }
  const complete = await openCache({ registry: o.staging.registry, roots: o.staging.roots }).completeModel(request);
  if (!complete || complete.manifest.commit !== need.commit) {
    throw new DownloadModelsError(
      `${need.request.source}:${need.request.id}@${need.request.revision}: the hub now serves commit ${complete?.manifest.commit ?? result.commit ?? "?"}, ` +
        `the volume holds ${need.commit}: its files cannot be fetched alone. Fill the volume again (download-models ${need.request.id} --volume …).`,
    );
  }
  return { complete, summary, fetched: fetched.sort() };
}

/**
 * Find the bytes of a model's bad objects. From the local store when it holds the model complete at the volume's
 * commit and those files hash right; else the bad data files alone from the hub (a request cut to exactly their
 * paths, at the commit where the source can address one); a bad marker or record is rebuilt from the whole model,
 * as its content comes from the whole listing (files already on disk are not fetched again).
 */
export async function repairSource(need: RepairNeed, o: SourceOptions): Promise<RepairSource> {
  const { root, registry, roots } = o.staging;
  const cache = openCache({ registry, roots });
  const local = await cache.completeModel(need.request);
  let hubPaths: string[] = [];
  if (local && local.manifest.commit === need.commit) {
    const files = await filesFor(local, need, root);
    const bad = await badOnDisk(local, files);
    if (bad.length === 0 && missingKeys(need, files).length === 0) {
      const used = new Set([...files.values()].flat().map((f) => f.localPath));
      return { files, fromStore: local.files.filter((f) => used.has(f.disk)).map((f) => f.path), fromHub: [], whole: false };
    }
    await discard(local, bad);
    hubPaths = bad;
  }
  const paths = new Set(hubPaths);
  let whole = false;
  for (const [prefix, keys] of need.keys) {
    for (const key of keys) {
      const path = dataPath(cache, need, prefix, key, root);
      if (path === undefined) whole = true;
      else paths.add(path);
    }
  }
  // HuggingFace serves any commit: fetch at the volume's; other sources by revision, checked against the commit.
  const byCommit = cache.layoutOf(need.request) === "huggingface";
  const request: ModelRequest = whole
    ? need.request
    : { ...need.request, revision: byCommit ? need.commit : need.request.revision, include: [...paths].sort().map(exactPattern), exclude: [], projects: [] };
  const { complete, summary, fetched } = await fetch(request, need, o);
  const files = await filesFor(complete, need, root);
  const left = missingKeys(need, files);
  if (left.length) throw new DownloadModelsError(`${need.request.id}: no file of the model is stored as ${left[0]}${left.length > 1 ? ` (and ${left.length - 1} more)` : ""}`);
  // The cut-down request is the repair's, not the user's: its manifest would show in `status` as a model of its own.
  if (!whole) await rm(complete.manifestFile, { force: true });
  return { files, fromStore: [], fromHub: fetched, whole, download: summary };
}
