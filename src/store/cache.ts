import type { LimitFunction } from "p-limit";
import type { Registry } from "../sources/index.ts";
import type { LayoutName, ModelRequest } from "../types.ts";
import { createDisk, entryExists, requestKey, type Disk } from "../util/index.ts";
import { findCompleteAt, manifestsFor, readManifest, type Manifest } from "./manifest.ts";
import { layoutOf, modelFolders, openStore, type ModelFolder } from "./layouts/index.ts";
import { manifestFilesIn, partialFilesIn, type PartialFile } from "./layouts/records.ts";
import type { FileRole, ModelStore } from "./layouts/store.ts";
import { statLimit } from "./layouts/walk.ts";
import type { Roots } from "./roots.ts";

export type { PartialFile } from "./layouts/records.ts";

export interface CacheOptions {
  registry: Registry;
  roots: Roots;
  /** The run's memo of checked and created directories (a download shares one); a fresh one otherwise. */
  disk?: Disk;
}

/** A file of a complete model: the manifest's entry and where its verified bytes are. */
export interface StoredFile {
  path: string;
  size: number;
  sha256?: string;
  gitSha1?: string;
  etag?: string;
  /** Absolute path a consumer opens (HF: the snapshot entry, a link to the blob). */
  disk: string;
  /** Absolute path of the bytes themselves (HF: the blob), when the layout can place the file. */
  blob?: string;
}

/** A model complete on disk, with everything a copy of it (image, mirror, volume) needs, as absolute paths. */
export interface CompleteModel {
  request: ModelRequest;
  layout: LayoutName;
  /** The store it was read from (its path functions, for copies that keep the layout). */
  store: ModelStore;
  manifest: Manifest;
  /** The manifest file that says it is complete (the request's own, or the unfiltered one it is cut from). */
  manifestFile: string;
  /** The root of the layout, and the model's folder under it. */
  root: string;
  modelDir: string;
  /** The directory consumers load (HF: `snapshots/<commit>`; ModelScope and plain: the model folder). */
  snapshotDir: string;
  files: StoredFile[];
  /** The layout's own records and links beside the files that exist (HF refs and tree listing; ModelScope markers). */
  layoutFiles: { path: string; role: FileRole }[];
  /** Branch and tag names the layout records for this model, with their commits (HF `refs/`), and the request's. */
  refs: Map<string, string>;
  /** HF: the commit's whole listing as huggingface_hub caches it, when it was written. */
  treeListing?: string;
  /** ModelScope: per-file revisions (`.msc`) and the revision's creation time (`.mv`, epoch seconds). */
  fileRevisions?: Map<string, string>;
  createdAt?: number;
}

/** A model folder on disk, this tool's or another's, with what this tool recorded of it. */
export interface ModelOnDisk {
  layout: LayoutName;
  /** The source its manifests name; else the first registered source of the layout. */
  source: string;
  id: string;
  dir: string;
  /** Every (revision, filters) this tool completed here, from the manifests (readable ones). */
  requests: ModelRequest[];
  /** Every manifest file of it, readable or not. */
  manifestFiles: string[];
  partials: PartialFile[];
  /**
   * Written by this tool: it has a manifest or a transfer record here, or holds nothing but partial files.
   * Prune never touches a folder that is not.
   */
  ours: boolean;
  /** Opened for the folder's id (partial-only and foreign folders included). */
  store: ModelStore;
}

/** The read side of the store: which models are where, complete or not, and what is this tool's. */
export interface Cache {
  readonly registry: Registry;
  readonly roots: Roots;
  layoutOf(model: Pick<ModelRequest, "source">): LayoutName;
  /** The store of a model; throws the RootError of a root refused here (a Pod without a volume). */
  store(model: ModelRequest): ModelStore;
  /** The manifests that describe the request, whatever the files look like now. */
  manifests(model: ModelRequest): Promise<Manifest[]>;
  /** The manifest of the request when every file it lists is in place (local reads only). */
  complete(model: ModelRequest): Promise<Manifest | undefined>;
  completeModel(model: ModelRequest): Promise<CompleteModel | undefined>;
  /** Every request this tool completed under the roots, by its manifests (each once). */
  requests(): Promise<ModelRequest[]>;
  /** Every request of `requests()` that is complete now. */
  completeModels(): Promise<CompleteModel[]>;
  /** Every model folder under the roots that are not refused, this tool's and others'. */
  models(limit?: LimitFunction): Promise<ModelOnDisk[]>;
  /** Partial downloads of a model (temp files, records, leases), with their allocated bytes. */
  partials(store: ModelStore, limit?: LimitFunction): Promise<PartialFile[]>;
}

const LAYOUTS: readonly LayoutName[] = ["huggingface", "modelscope", "plain"];

/** The source of the manifests or, for a folder with none, the layout's own downloader (first registered). */
function sourceOf(registry: Registry, folder: ModelFolder, manifests: readonly Manifest[]): string | undefined {
  if (manifests[0]) return manifests[0].source;
  if (folder.source) return folder.source;
  const builtin = registry.all().find((d) => d.name === folder.layout);
  return (builtin ?? registry.all().find((d) => layoutOf(d) === folder.layout))?.name;
}

const requestOfManifest = (m: Manifest): ModelRequest => ({ source: m.source, id: m.id, revision: m.revision, include: m.include, exclude: m.exclude, projects: [] });

export function openCache(options: CacheOptions): Cache {
  const { registry, roots } = options;
  const disk = options.disk ?? createDisk();
  const store = (model: ModelRequest) => openStore({ downloader: registry.get(model.source), model, roots, disk });

  async function completeModel(model: ModelRequest): Promise<CompleteModel | undefined> {
    const s = store(model);
    const found = await findCompleteAt(s, model);
    if (!found) return undefined;
    const { manifest } = found;
    const files: StoredFile[] = manifest.files.map((f) => {
      let blob: string | undefined;
      try {
        blob = s.blobPath({ ...f, url: "" });
      } catch {
        // no usable etag: the layout cannot name its blob
      }
      return { ...f, disk: s.consumerPath(manifest.commit, f.path), ...(blob ? { blob } : {}) };
    });
    const layoutFiles: CompleteModel["layoutFiles"] = [];
    for (const path of s.layoutFiles?.(model, manifest.commit) ?? []) if (await entryExists(path)) layoutFiles.push({ path, role: s.roleOf(path) });
    const refs = new Map<string, string>();
    for (const r of (await s.history?.refs()) ?? []) refs.set(r.name, r.commit);
    if (model.revision !== manifest.commit) refs.set(model.revision, manifest.commit);
    const tree = s.history?.treeListing(manifest.commit);
    const fileRevisions = await s.fileRevisions?.();
    const createdAt = await s.createdAt?.();
    return {
      request: model, layout: s.layout, store: s, manifest, manifestFile: found.path, root: s.root, modelDir: s.modelDir,
      snapshotDir: s.snapshotDir(manifest.commit), files, layoutFiles, refs,
      ...(tree && (await entryExists(tree)) ? { treeListing: tree } : {}),
      ...(fileRevisions ? { fileRevisions } : {}),
      ...(createdAt !== undefined ? { createdAt } : {}),
    };
  }

  async function models(limit: LimitFunction = statLimit()): Promise<ModelOnDisk[]> {
    const plainSources = registry.all().filter((d) => layoutOf(d) === "plain").map((d) => d.name);
    const out: ModelOnDisk[] = [];
    for (const layout of LAYOUTS) {
      if (roots.refused[layout]) continue;
      for (const folder of await modelFolders(layout, roots[layout], plainSources)) {
        const manifestFiles = (await Promise.all(folder.manifestDirs.map(manifestFilesIn))).flat();
        const manifests = (await Promise.all(manifestFiles.map(readManifest))).filter((m): m is Manifest => m !== undefined);
        const partials = folder.tempDir ? await partialFilesIn(folder.tempDir, limit) : [];
        const source = sourceOf(registry, folder, manifests);
        if (!source || !registry.names().includes(source)) continue;
        if (layout === "plain" && manifestFiles.length === 0 && partials.length === 0) continue; // a folder of anything
        let s: ModelStore;
        try {
          const model = { source, id: manifests[0]?.id ?? folder.id, revision: manifests[0]?.revision ?? "main", include: [], exclude: [], projects: [] };
          s = openStore({ downloader: registry.get(source), model, roots, disk });
        } catch {
          continue; // a folder no valid id names (nothing this tool could have written)
        }
        const recorded = manifestFiles.length > 0 || partials.some((p) => p.paths.some((x) => x !== p.temp));
        const onlyPartials = partials.length > 0 && !(await hasLayoutData(s));
        const seen = new Set<string>();
        const requests = manifests.map(requestOfManifest).filter((r) => !seen.has(requestKey(r)) && Boolean(seen.add(requestKey(r))));
        out.push({ layout, source, id: manifests[0]?.id ?? folder.id, dir: folder.dir, requests, manifestFiles, partials, ours: recorded || onlyPartials, store: s });
      }
    }
    // An older layout's copy of a model this tool has (`--modelscope-compat=copy` over S3) is that model, not another.
    const ours = new Set(out.filter((m) => m.ours).map((m) => m.store.modelDir));
    return out.filter((m) => m.ours || m.dir === m.store.modelDir || !ours.has(m.store.modelDir));
  }

  async function requests(): Promise<ModelRequest[]> {
    const seen = new Set<string>();
    const out: ModelRequest[] = [];
    for (const m of await models()) {
      for (const r of m.requests) {
        if (seen.has(requestKey(r)) || !registry.names().includes(r.source)) continue;
        seen.add(requestKey(r));
        out.push(r);
      }
    }
    return out;
  }

  return {
    registry,
    roots,
    layoutOf: (model) => layoutOf(registry.get(model.source)),
    store,
    manifests: (model) => manifestsFor(store(model), model),
    complete: async (model) => (await findCompleteAt(store(model), model))?.manifest,
    completeModel,
    requests,
    async completeModels() {
      const out: CompleteModel[] = [];
      for (const r of await requests()) {
        const c = await completeModel(r);
        if (c) out.push(c);
      }
      return out;
    },
    models,
    partials: (s, limit) => partialFilesIn(s.tempDir, limit),
  };
}

/** Does the folder hold anything of the layout besides partial files (HF snapshots or refs, a library's own)? */
async function hasLayoutData(store: ModelStore): Promise<boolean> {
  if (!store.history) return false;
  return (await store.history.snapshots()).length > 0 || (await store.history.refs()).length > 0 || (await store.history.blobs()).length > 0;
}
