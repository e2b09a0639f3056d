import { copyFile, lstat, mkdir, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { findComplete, writeManifest, type Manifest } from "./manifest.ts";
import type { Registry } from "../sources/index.ts";
import { resolveRoots, type Env } from "./roots.ts";
import { openStore } from "./layouts/index.ts";
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
  for (const model of options.models) {
    const downloader = options.registry.get(model.source);
    const store = openStore(downloader, model, fromRoots);
    const manifest: Manifest | undefined = await findComplete(store, model);
    const name = `${model.source} ${model.id}@${model.revision}`;
    if (!manifest) throw new BakeError(`${name} is not complete under ${from}: download it first (download-models --root ${from})`);
    const entry = options.lock && findEntry(options.lock, model);
    if (entry && entry.commit !== manifest.commit) throw new BakeError(`${name}: ${manifest.commit} under ${from}, the lock pins ${entry.commit}`);
    if (entry) locked.push(entry);
    for (const f of manifest.files) {
      const consumer = store.consumerPath(manifest.commit, f.path);
      const rel = relativeWithin(from, consumer);
      if (rel.includes("\n")) throw new BakeError(`${name}: "${f.path}" has a line break in its name, which the in-image check cannot list`);
      await mirror(from, to, rel, seen);
      if (!sums.has(rel)) sums.set(rel, f.sha256 ?? (await sha256OfFile(join(to, rel))));
      sizes.set(rel, f.size);
    }
    // The layout's own records and links (HuggingFace `refs/<revision>`; ModelScope `.msc`/`.mdl`/`.mv`, links).
    for (const path of store.layoutFiles?.(model, manifest.commit) ?? []) {
      if (await entryExists(path)) await mirror(from, to, relativeWithin(from, path), seen);
    }
    // The manifest, as an exact-request one: `download-models verify --root <to>` finds the model complete.
    const toStore = openStore(downloader, model, toRoots);
    await writeManifest(toStore, { ...manifest, include: model.include, exclude: model.exclude });
    if (!(await findComplete(toStore, model))) throw new BakeError(`${name}: the copy under ${to} is incomplete`);
    baked.push({
      source: model.source,
      id: model.id,
      revision: model.revision,
      commit: manifest.commit,
      files: manifest.files.length,
      bytes: manifest.files.reduce((n, f) => n + f.size, 0),
      path: relativeWithin(to, toStore.snapshotDir(manifest.commit)),
    });
  }
  const dir = join(to, BAKED_DIR);
  await mkdir(dir, { recursive: true });
  const lockNote = options.lock ? [`lock: ${locked.length} of ${baked.length} models at their locked commit (.download-models/lock.json)`] : [];
  const header = [...(options.header ?? []), ...lockNote].map((l) => `# ${l}`);
  const rows = baked.map((b) => [b.source, b.id, b.revision, b.commit, b.files, b.bytes, b.path].join(" "));
  await writeFile(join(dir, "baked.txt"), [...header, "# source id revision commit files bytes path", ...rows, ""].join("\n"));
  // The lock entries of what was baked: the image says which commits and file hashes it holds.
  if (options.lock) await writeFile(join(dir, "lock.json"), serializeLock({ lockfileVersion: options.lock.lockfileVersion, models: locked }));
  await writeFile(join(dir, "baked.json"), JSON.stringify({ header: options.header ?? [], models: baked }, null, 2) + "\n");
  // Formats of `sha256sum -c` and of `read -r size path` in download-models-check; paths relative to `to`.
  const paths = [...sums.keys()].sort();
  await writeFile(join(dir, "SHA256SUMS"), paths.map((p) => `${sums.get(p)}  ${p}\n`).join(""));
  await writeFile(join(dir, "SIZES"), paths.map((p) => `${sizes.get(p)} ${p}\n`).join(""));
  return baked;
}
