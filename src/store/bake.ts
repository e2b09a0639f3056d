import { copyFile, lstat, mkdir, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeManifest, type Manifest } from "./manifest.ts";
import type { Registry } from "../sources/index.ts";
import { resolveRoots, type Env } from "./roots.ts";
import { openCache } from "./cache.ts";
import type { ModelRequest } from "../types.ts";
import { DownloadModelsError } from "../errors.ts";
import { entryExists } from "../util/index.ts";
import { relativeWithin } from "../util/index.ts";
import { sha256OfFile } from "../transfer/index.ts";
import { findEntry, serializeLock, type Lock, type LockEntry } from "../lockfile/index.ts";

/** Where the bake writes what it baked, relative to the image's model root. */
export const BAKED_DIR = ".download-models";

export interface BakeOptions {
  /** Models to copy (already selected from the projects). */
  models: ModelRequest[];
  registry: Registry;
  /** `--root` the models were downloaded to (the builder's cache mount). */
  from: string;
  /** `--root` of the image (`/models`): receives only the selected models. */
  to: string;
  env: Env;
  /** Free-form lines for the header of baked.txt (tool version, commit, projects). */
  header?: string[];
  /** The lock the download followed: each baked model must be at its locked commit; its entries go to lock.json. */
  lock?: Lock;
  /** Stops before the next file; the image's records (baked.txt…) are then not written. */
  signal?: AbortSignal;
}

export interface BakedModel {
  source: string;
  id: string;
  revision: string;
  commit: string;
  files: number;
  bytes: number;
  /** The directory consumers load, relative to `to`. */
  path: string;
}

export class BakeError extends DownloadModelsError {
  override name = "BakeError";
}

/**
 * Copies `rel` from the `from` root to the `to` root. A symbolic link is recreated with the same (relative) text and
 * its target is copied too, so the HuggingFace layout (`snapshots/…` → `../../blobs/…`) stays intact.
 */
async function mirror(from: string, to: string, rel: string, seen: Set<string>): Promise<void> {
  if (seen.has(rel)) return;
  seen.add(rel);
  const src = join(from, rel);
  const dest = join(to, rel);
  const st = await lstat(src);
  await mkdir(dirname(dest), { recursive: true });
  if (st.isSymbolicLink()) {
    const text = await readlink(src);
    const target = resolve(dirname(src), text);
    // A link to a file brings the file; a link to a directory (ModelScope's dotted-name and compat links) is only
    // recreated: the model's own files fill that directory.
    if (!(await stat(target)).isDirectory()) await mirror(from, to, relativeWithin(from, target), seen);
    else relativeWithin(from, target);
    await rm(dest, { force: true });
    await symlink(text, dest);
  } else if (st.isFile()) {
    if ((await entryExists(dest)) && (await lstat(dest)).size === st.size) return;
    await copyFile(src, dest);
  } else {
    throw new BakeError(`${src} is neither a file nor a symbolic link`);
  }
}

/**
 * Copy exactly the selected models, complete and as their manifests describe them, from the download root to the
 * image root, and write `.download-models/{baked.txt,baked.json,SHA256SUMS,SIZES}` for the in-image check
 * (`download-models-check`, plain sh + sha256sum: the final image need not have Node). Fails if a model is not
 * complete in `from`: nothing incomplete is ever baked.
 */
export async function bake(options: BakeOptions): Promise<BakedModel[]> {
  const from = resolve(options.from);
  const to = resolve(options.to);
  const fromRoots = resolveRoots({ root: from, env: options.env });
  const toRoots = resolveRoots({ root: to, env: options.env });
  const baked: BakedModel[] = [];
  // Keyed by path: two requests of one repo (other filters) may list the same file.
  const sums = new Map<string, string>();
  const sizes = new Map<string, number>();
  const seen = new Set<string>();
  const locked: LockEntry[] = [];
  const fromCache = openCache({ registry: options.registry, roots: fromRoots });
  const toCache = openCache({ registry: options.registry, roots: toRoots });
  for (const model of options.models) {
    const complete = await fromCache.completeModel(model);
    const name = `${model.source} ${model.id}@${model.revision}`;
    if (!complete) throw new BakeError(`${name} is not complete under ${from}: download it first (download-models --root ${from})`);
    const { manifest } = complete;
    const entry = options.lock && findEntry(options.lock, model);
    if (entry && entry.commit !== manifest.commit) throw new BakeError(`${name}: ${manifest.commit} under ${from}, the lock pins ${entry.commit}`);
    if (entry) locked.push(entry);
    for (const f of complete.files) {
      options.signal?.throwIfAborted();
      const rel = relativeWithin(from, f.disk);
      if (rel.includes("\n")) throw new BakeError(`${name}: "${f.path}" has a line break in its name, which the in-image check cannot list`);
      await mirror(from, to, rel, seen);
      if (!sums.has(rel)) sums.set(rel, f.sha256 ?? (await sha256OfFile(join(to, rel))));
      sizes.set(rel, f.size);
    }
    // The layout's own records and links (HuggingFace `refs/<revision>`; ModelScope `.msc`/`.mdl`/`.mv`, links).
    for (const { path } of complete.layoutFiles) await mirror(from, to, relativeWithin(from, path), seen);
    // The manifest, as an exact-request one: `download-models verify --root <to>` finds the model complete.
    const toStore = toCache.store(model);
    await writeManifest(toStore, { ...manifest, include: model.include, exclude: model.exclude });
    if (!(await toCache.complete(model))) throw new BakeError(`${name}: the copy under ${to} is incomplete`);
    baked.push(bakedModel(model, manifest, relativeWithin(to, toStore.snapshotDir(manifest.commit))));
  }
  const dir = join(to, BAKED_DIR);
  await mkdir(dir, { recursive: true });
  const records = bakedRecords({ baked, sums, sizes, header: options.header ?? [], ...(options.lock ? { lock: options.lock, locked } : {}) });
  for (const [name, text] of Object.entries(records)) await writeFile(join(dir, name), text);
  return baked;
}

export interface BakedRecordsInput {
  baked: BakedModel[];
  /** sha256 and size per path relative to the model root. */
  sums: ReadonlyMap<string, string>;
  sizes: ReadonlyMap<string, number>;
  header: string[];
  /** The lock the download followed and the entries of what was baked. */
  lock?: Lock;
  locked?: LockEntry[];
}

/**
 * The files of `.download-models/` (name → text) that `download-models-check` reads: baked.txt, baked.json,
 * SHA256SUMS, SIZES and, with a lock, lock.json. Shared by `bake` and `image`, so both images check the same way.
 */
export function bakedRecords(input: BakedRecordsInput): Record<string, string> {
  const { baked, sums, sizes } = input;
  const lockNote = input.lock ? [`lock: ${input.locked?.length ?? 0} of ${baked.length} models at their locked commit (.download-models/lock.json)`] : [];
  const header = [...input.header, ...lockNote].map((l) => `# ${l}`);
  const rows = baked.map((b) => [b.source, b.id, b.revision, b.commit, b.files, b.bytes, b.path].join(" "));
  // Formats of `sha256sum -c` and of `read -r size path` in download-models-check; paths relative to the root.
  const paths = [...sums.keys()].sort();
  return {
    "baked.txt": [...header, "# source id revision commit files bytes path", ...rows, ""].join("\n"),
    // The lock entries of what was baked: the image says which commits and file hashes it holds.
    ...(input.lock ? { "lock.json": serializeLock({ lockfileVersion: input.lock.lockfileVersion, models: input.locked ?? [] }) } : {}),
    "baked.json": JSON.stringify({ header: input.header, models: baked }, null, 2) + "\n",
    SHA256SUMS: paths.map((p) => `${sums.get(p)}  ${p}\n`).join(""),
    SIZES: paths.map((p) => `${sizes.get(p)} ${p}\n`).join(""),
  };
}

/** What baked.txt/baked.json say of one model copied into an image; `path` is its snapshot below the image root. */
export function bakedModel(model: ModelRequest, manifest: Manifest, path: string): BakedModel {
  return {
    source: model.source, id: model.id, revision: model.revision, commit: manifest.commit,
    files: manifest.files.length, bytes: manifest.files.reduce((n, f) => n + f.size, 0), path,
  };
}
