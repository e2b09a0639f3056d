import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { copyFile, lstat, mkdir, readdir, readlink, rename, rm, rmdir, stat, symlink, utimes } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeManifest, type Manifest } from "./manifest.ts";
import type { Registry } from "../sources/index.ts";
import { resolveRoots, type Env } from "./roots.ts";
import { openCache, type Cache } from "./cache.ts";
import { enterReader } from "./model-lease.ts";
import type { ModelRequest } from "../types.ts";
import { DownloadModelsError } from "../errors.ts";
import { removeCutShortWrites, writeFileAtomic } from "../util/index.ts";
import { relativeWithin } from "../util/index.ts";
import { deadOnThisHost, defaultTransferOptions, sha256OfFile, type LeaseTiming } from "../transfer/index.ts";
import { findEntry, serializeLock, type Lock, type LockEntry } from "../lockfile/index.ts";

/** Where the bake writes what it baked, relative to the image's model root. */
export const BAKED_DIR = ".download-models";
/** Copies in progress, one folder per run (`host:pid:random`), renamed into place when whole; removed at the end. */
const COPYING_DIR = ".download-models-copying";
/** download-models-check reads baked.txt first: it is written last and removed first. */
const RECORD_ORDER = ["baked.txt", "SHA256SUMS", "SIZES", "baked.json", "lock.json"];

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
  /** Stops at once (a copy in flight is abandoned under its temporary name); the records are then not written. */
  signal?: AbortSignal;
  /** Timing of the lease each model is held by while it is copied (a prune of `from` leaves it alone). @default the transfer's */
  lease?: LeaseTiming;
  /** A prune of `from` holds the model: the bake waits for it (told once per model). */
  onWait?: (model: ModelRequest, holder: string) => void;
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

/** `work` settles, or the signal fires first: a copy of many GB must not hold an interrupted bake back. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Where one bake copies files before renaming them into place; folders of runs that died are removed first. */
async function copyingArea(to: string): Promise<string> {
  const base = join(to, COPYING_DIR);
  for (const name of await readdir(base).catch(() => [] as string[])) {
    if (deadOnThisHost(name)) await rm(join(base, name), { recursive: true, force: true });
  }
  const dir = join(base, `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

interface Copier {
  from: string;
  to: string;
  /** This run's folder of copies in progress. */
  area: string;
  seen: Set<string>;
  signal: AbortSignal | undefined;
}

/**
 * Copies `rel` from the `from` root to the `to` root. A symbolic link is recreated with the same (relative) text and
 * its target is copied too, so the HuggingFace layout (`snapshots/…` → `../../blobs/…`) stays intact. A file is
 * copied under a temporary name and renamed when whole, with the source's mtime: a file with the same size and
 * mtime is one an earlier (or interrupted) bake already copied.
 */
async function mirror(c: Copier, rel: string): Promise<void> {
  if (c.seen.has(rel)) return;
  c.seen.add(rel);
  c.signal?.throwIfAborted();
  const src = join(c.from, rel);
  const dest = join(c.to, rel);
  const st = await lstat(src);
  await mkdir(dirname(dest), { recursive: true });
  if (st.isSymbolicLink()) {
    const text = await readlink(src);
    const target = resolve(dirname(src), text);
    // A link to a file brings the file; a link to a directory (ModelScope's dotted-name and compat links) is only
    // recreated: the model's own files fill that directory.
    if (!(await stat(target)).isDirectory()) await mirror(c, relativeWithin(c.from, target));
    else relativeWithin(c.from, target);
    await rm(dest, { force: true });
    await symlink(text, dest);
  } else if (st.isFile()) {
    const there = await lstat(dest).catch(() => undefined);
    if (there?.isFile() && there.size === st.size && Math.trunc(there.mtimeMs) === Math.trunc(st.mtimeMs)) return;
    const temp = join(c.area, randomBytes(8).toString("hex"));
    try {
      await abortable(copyFile(src, temp), c.signal);
      await utimes(temp, st.atime, st.mtime);
      await rename(temp, dest);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
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
  const locked: LockEntry[] = [];
  const fromCache = openCache({ registry: options.registry, roots: fromRoots });
  const toCache = openCache({ registry: options.registry, roots: toRoots });
  const dir = join(to, BAKED_DIR);
  // Records of an earlier bake would describe files this one may change: gone until this one is whole.
  for (const name of RECORD_ORDER) await rm(join(dir, name), { force: true });
  const copier: Copier = { from, to, area: await copyingArea(to), seen: new Set(), signal: options.signal };
  try {
    for (const model of options.models) {
      // Held in `from` while it is copied: a prune of that store (another build sharing the cache) leaves it alone.
      const onWait = options.onWait && ((holder: string) => options.onWait!(model, holder));
      const hold = await enterReader({ store: fromCache.store(model), timing: options.lease ?? defaultTransferOptions.lease, signal: options.signal, onWait });
      try {
        const one = await bakeModel({ model, copier, fromCache, toCache, lock: options.lock, sums, sizes });
        if (one.entry) locked.push(one.entry);
        baked.push(one.baked);
      } finally {
        await hold.release();
      }
    }
  } finally {
    await rm(copier.area, { recursive: true, force: true });
    await rmdir(dirname(copier.area)).catch(() => {});
  }
  options.signal?.throwIfAborted();
  const records = bakedRecords({ baked, sums, sizes, header: options.header ?? [], ...(options.lock ? { lock: options.lock, locked } : {}) });
  const names = Object.keys(records).sort((a, b) => RECORD_ORDER.indexOf(b) - RECORD_ORDER.indexOf(a));
  for (const name of names) {
    await removeCutShortWrites(join(dir, name));
    await writeFileAtomic(join(dir, name), records[name]!);
  }
  return baked;
}

interface BakeModelInput {
  model: ModelRequest;
  copier: Copier;
  fromCache: Cache;
  toCache: Cache;
  lock: Lock | undefined;
  sums: Map<string, string>;
  sizes: Map<string, number>;
}

/** One model, held in `from`: its files, its layout's records and links, its manifest; checked complete in `to`. */
async function bakeModel({ model, copier, fromCache, toCache, lock, sums, sizes }: BakeModelInput): Promise<{ baked: BakedModel; entry?: LockEntry }> {
  const { from, to } = copier;
  const complete = await fromCache.completeModel(model);
  const name = `${model.source} ${model.id}@${model.revision}`;
  if (!complete) throw new BakeError(`${name} is not complete under ${from}: download it first (download-models --root ${from})`);
  const { manifest } = complete;
  const entry = lock && findEntry(lock, model);
  if (entry && entry.commit !== manifest.commit) throw new BakeError(`${name}: ${manifest.commit} under ${from}, the lock pins ${entry.commit}`);
  for (const f of complete.files) {
    const rel = relativeWithin(from, f.disk);
    if (rel.includes("\n")) throw new BakeError(`${name}: "${f.path}" has a line break in its name, which the in-image check cannot list`);
    await mirror(copier, rel);
    if (!sums.has(rel)) sums.set(rel, f.sha256 ?? (await sha256OfFile(join(to, rel))));
    sizes.set(rel, f.size);
  }
  // The layout's own records and links (HuggingFace `refs/<revision>`; ModelScope `.msc`/`.mdl`/`.mv`, links).
  for (const { path } of complete.layoutFiles) await mirror(copier, relativeWithin(from, path));
  // The manifest, as an exact-request one: `download-models verify --root <to>` finds the model complete.
  const toStore = toCache.store(model);
  await writeManifest(toStore, { ...manifest, include: model.include, exclude: model.exclude });
  if (!(await toCache.complete(model))) throw new BakeError(`${name}: the copy under ${to} is incomplete`);
  return { baked: bakedModel(model, manifest, relativeWithin(to, toStore.snapshotDir(manifest.commit))), ...(entry ? { entry } : {}) };
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
