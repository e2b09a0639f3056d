// The one place the image stage reads the store: which files make a model complete, where they are, and the
// records the image keeps about them. Everything else in src/image works on the entries returned here.
import { lstat, readlink, stat } from "node:fs/promises";
import { dirname, join, posix, relative, resolve, sep } from "node:path";
import { bakedModel, enterReader, layoutOf, manifestPath, openCache, resolveRoots, rootFor, type BakedModel, type DownloadHold, type Manifest, type Roots } from "../store/index.ts";
import { findEntry, type Lock, type LockEntry } from "../lockfile/index.ts";
import type { Registry } from "../sources/index.ts";
import type { ModelRequest } from "../types.ts";
import { entryExists, relativeWithin } from "../util/index.ts";
import { defaultTransferOptions, sha256OfFile } from "../transfer/index.ts";
import { ImageError } from "./errors.ts";
import type { LayerEntry } from "./tar.ts";

/** Where the models live in the image: the same tree `--root /models` gives (HF under huggingface/hub). */
export const IMAGE_ROOT = "/models";

/** One model folder's files as image entries (one layer), with what the records layer says about it. */
export interface ModelContent {
  /** The model's folder under the image root (`huggingface/hub/models--org--name`): the layer's title and order. */
  folder: string;
  entries: LayerEntry[];
  baked: BakedModel[];
  /** sha256 and size per path relative to the image root, for SHA256SUMS and SIZES. */
  sums: Map<string, string>;
  sizes: Map<string, number>;
  locked: LockEntry[];
}

export interface ReadModelsOptions {
  models: ModelRequest[];
  registry: Registry;
  /** Where the models were downloaded (the download's roots). */
  roots: Roots;
  lock?: Lock;
  /** The time written as the manifests' `completedAt` (the layer's epoch), so two caches give the same bytes. */
  completedAt: string;
}

const toPosix = (p: string) => p.split(sep).join("/");

/**
 * Hold every model of the selection in its store for as long as the image reads it (listed, hashed, then sent):
 * a prune of that store in another process leaves them alone meanwhile. Release them when the image is done.
 */
export async function holdModels(options: Pick<ReadModelsOptions, "models" | "registry" | "roots">, signal?: AbortSignal): Promise<DownloadHold[]> {
  const cache = openCache({ registry: options.registry, roots: options.roots });
  const holds: DownloadHold[] = [];
  try {
    for (const model of options.models) if (!model.localDir) holds.push(await enterReader({ store: cache.store(model), timing: defaultTransferOptions.lease, signal }));
  } catch (error) {
    await Promise.all(holds.map((h) => h.release()));
    throw error;
  }
  return holds;
}

/**
 * The complete, verified models of the selection, grouped by model folder (two requests of one repo with other
 * filters share a folder, so they share a layer). Fails, naming the model, when one is not complete on disk.
 */
export async function readCompleteModels(options: ReadModelsOptions): Promise<ModelContent[]> {
  const imageRoots = resolveRoots({ root: IMAGE_ROOT, env: {} });
  const byFolder = new Map<string, ModelContent>();
  const cache = openCache({ registry: options.registry, roots: options.roots });
  const imageCache = openCache({ registry: options.registry, roots: imageRoots });
  for (const model of options.models) {
    if (model.localDir) throw new ImageError(`${model.id}: a --local-dir model has no cache layout to put in an image`);
    const downloader = options.registry.get(model.source);
    const layout = layoutOf(downloader);
    const srcRoot = rootFor(options.roots, layout);
    const dstRoot = rootFor(imageRoots, layout);
    const store = cache.store(model);
    const imageStore = imageCache.store(model);
    const name = `${model.source} ${model.id}@${model.revision}`;
    const manifest: Manifest | undefined = await cache.complete(model);
    if (!manifest) throw new ImageError(`${name} is not complete under ${srcRoot}: download it first (without --no-download, or download-models with the same selection)`);
    const entry = options.lock && findEntry(options.lock, model);
    if (entry && entry.commit !== manifest.commit) throw new ImageError(`${name}: ${manifest.commit} is on disk, the lock pins ${entry.commit}`);
    // Image path (relative to /, no leading slash) of a path in the source root.
    const imageName = (abs: string) => toPosix(relative("/", join(dstRoot, relativeWithin(srcRoot, abs))));
    const folder = toPosix(relative(IMAGE_ROOT, join(dstRoot, relativeWithin(srcRoot, store.modelDir))));
    let content = byFolder.get(folder);
    if (!content) {
      content = { folder, entries: [], baked: [], sums: new Map(), sizes: new Map(), locked: [] };
      byFolder.set(folder, content);
    }
    const c = content;
    const seen = new Set<string>();
    const add = async (abs: string): Promise<void> => {
      if (seen.has(abs)) return;
      seen.add(abs);
      const st = await lstat(abs);
      if (st.isSymbolicLink()) {
        const text = await readlink(abs);
        const target = resolve(dirname(abs), text);
        if (text.startsWith("/")) throw new ImageError(`${name}: ${abs} links to an absolute path (${text}); a mounted image would break it`);
        relativeWithin(srcRoot, target);
        c.entries.push({ type: "symlink", name: imageName(abs), target: toPosix(text) });
        // A link to a file brings the file; a link to a directory (ModelScope's compat links) only itself.
        if (!(await stat(target)).isDirectory()) await add(target);
      } else if (st.isFile()) {
        c.entries.push({ type: "file", name: imageName(abs), size: st.size, path: abs });
      } else {
        throw new ImageError(`${name}: ${abs} is neither a file nor a symbolic link`);
      }
    };
    for (const f of manifest.files) {
      const consumer = store.consumerPath(manifest.commit, f.path);
      const rel = posix.relative(IMAGE_ROOT.slice(1), imageName(consumer));
      if (rel.includes("\n")) throw new ImageError(`${name}: "${f.path}" has a line break in its name, which the in-image check cannot list`);
      await add(consumer);
      if (!c.sums.has(rel)) c.sums.set(rel, f.sha256 ?? (await sha256OfFile(consumer)));
      c.sizes.set(rel, f.size);
    }
    for (const path of store.layoutFiles?.(model, manifest.commit) ?? []) if (await entryExists(path)) await add(path);
    // The manifest as an exact-request one (so `verify --root /models` finds the model), with a fixed time.
    const record = { ...manifest, include: model.include, exclude: model.exclude, completedAt: options.completedAt };
    const recordName = toPosix(relative("/", manifestPath(imageStore, model)));
    c.entries.push({ type: "data", name: recordName, data: Buffer.from(JSON.stringify(record, null, 2) + "\n") });
    if (entry) c.locked.push(entry);
    c.baked.push(bakedModel(model, manifest, toPosix(relative(IMAGE_ROOT, imageStore.snapshotDir(manifest.commit)))));
  }
  return [...byFolder.values()].sort((a, b) => Buffer.compare(Buffer.from(a.folder), Buffer.from(b.folder)));
}
