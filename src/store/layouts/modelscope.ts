import { lstat, readdir, readFile, readlink, rm, rmdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import type { ModelRequest, ResolvedFile } from "../../types.ts";
import type { ModelStore } from "./store.ts";
import { DownloadModelsError } from "../../errors.ts";
import { sizeOf, symlinkAtomic, symlinksUnsupported, writeFileAtomic } from "../../util/index.ts";
import { inside, type Disk } from "../../util/index.ts";
import { verifyFileOnDisk } from "../../transfer/index.ts";
import { pickleDict, pickleDictList, unpickle, type StrDict } from "../../sources/index.ts";

/** Owners whose directory would collide with the cache's own roots (the library would read our model as its own folders). */
const RESERVED_OWNERS = new Set(["models", "hub", "datasets", "temp", ".lock", ".download-models"]);

/** ModelScope ≥1.12 replaces every "." of the model name with "___" on disk (a dotted name broke Python imports). */
export function maskName(name: string): string {
  return name.replaceAll(".", "___");
}

export interface ModelscopePaths {
  owner: string;
  name: string;
  masked: string;
  /** `<cache>/models/<owner>/<masked>`: the directory every reader from v1.23 on uses, and v1.38+ reuses. */
  modelDir: string;
}

export function modelscopePaths(cache: string, id: string): ModelscopePaths {
  const [owner, name, ...rest] = id.split("/");
  if (!owner || !name || rest.length > 0) {
    throw new DownloadModelsError(`${id}: a ModelScope id is "owner/name" (for example iic/speech_campplus_sv_zh-cn_16k-common)`);
  }
  if (RESERVED_OWNERS.has(owner)) {
    throw new DownloadModelsError(`${id}: the owner "${owner}" collides with a directory of the ModelScope cache itself; it cannot be stored there`);
  }
  const masked = maskName(name);
  return { owner, name, masked, modelDir: inside(join(cache, "models", owner), masked) };
}

/** Remove `dir` and the folders below it that are empty, then its empty parents up to (not including) `stop`. */
async function removeEmptyDirs(dir: string, stop: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeEmptyDirs(join(dir, e.name), dir);
  for (let d = dir; d !== stop && d.startsWith(stop); d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return; // not empty (another download is using it) or gone already
    }
  }
}

/** Load `.msc`; an unreadable one counts as empty (v1.36+ does the same: renames it and starts over). */
async function readMsc(path: string): Promise<StrDict[]> {
  try {
    const value = unpickle(await readFile(path));
    return Array.isArray(value) ? value.filter((e): e is StrDict => typeof e.Path === "string" && typeof e.Revision === "string") : [];
  } catch {
    return [];
  }
}

/** Either revision a prefix of the other: the library's own match rule (`ModelFileSystemCache.exists`). */
function sameRevision(a: string, b: string): boolean {
  return a.length > 0 && b.length > 0 && (a.startsWith(b) || b.startsWith(a));
}

/**
 * Point `link` at `target` (relative) atomically. Leaves a real file or directory alone (someone else's data, or an
 * older library's download) and reports whether the link is in place.
 */
export async function relativeLink(link: string, targetAbs: string, makeDir: (dir: string) => Promise<void>): Promise<boolean> {
  const target = relative(dirname(link), targetAbs);
  try {
    const st = await lstat(link);
    if (!st.isSymbolicLink()) return false;
    if ((await readlink(link)) === target) return true;
  } catch {
    // missing: created below
  }
  try {
    await makeDir(dirname(link));
  } catch {
    return false; // a file stands where the owner directory would be
  }
  try {
    await symlinkAtomic(target, link);
  } catch (error) {
    // No symlinks on this filesystem, or a file where a directory of the link should be: compat links are a courtesy.
    const code = (error as NodeJS.ErrnoException).code;
    if (symlinksUnsupported(error) || code === "ENOTDIR" || code === "EEXIST") return false;
    throw error;
  }
  return true;
}

/**
 * The compat links of a model, each pointing at its model directory. v1.20+ readers and users look for the dotted
 * name too (the library's own link is absolute, ours relative); older readers: v1.15–v1.22 read
 * <cache>/hub/<owner>/<masked>, v1.12–v1.14 <cache>/<owner>/<masked>, and up to v1.11 <cache>/<owner>/<name>.
 */
export function modelscopeLinks(cache: string, id: string): string[] {
  const { owner, name, masked } = modelscopePaths(cache, id);
  return [
    ...(masked !== name ? [join(cache, "models", owner, name)] : []),
    join(cache, "hub", owner, masked),
    join(cache, owner, masked),
    ...(masked !== name ? [join(cache, owner, name)] : []),
  ];
}

/**
 * The ModelScope cache, laid out so that every modelscope version loads it offline:
 * real files in `<cache>/models/<owner>/<masked>/`, the `.msc`/`.mdl`/`.mv` markers of the legacy library, a
 * relative link from the dotted name, and relative links for the v1.12–v1.22 layouts. Links are relative so the
 * cache keeps working when the volume is mounted at `/workspace` in one pod and `/runpod-volume` in another.
 * Partial files live outside the model directory (v1.38+ calls a non-empty model directory complete), in
 * `<cache>/.download-models/temp/<owner>/<masked>/`; its empty folders stay, since another process may be using them.
 */
export function modelscopeStore(cache: string, model: ModelRequest, disk: Disk): ModelStore {
  const { owner, masked, modelDir } = modelscopePaths(cache, model.id);
  // This tool's records live beside the model, not in it: the model directory is what users pass to pipeline(model=…).
  const manifestDir = inside(join(cache, ".download-models", "records", owner), masked);
  const currentPath = join(manifestDir, "current");
  const legacyDir = join(modelDir, ".download-models");
  const tempDir = inside(join(cache, ".download-models", "temp", owner), masked);
  const blobPath = (file: { path: string }) => inside(modelDir, file.path);
  const links = modelscopeLinks(cache, model.id);
  let msc: Promise<StrDict[]> | undefined;
  const entries = () => (msc ??= readMsc(join(modelDir, ".msc")));

  return {
    root: cache,
    modelDir,
    manifestDir,
    legacyManifestDirs: [legacyDir],
    blobPath,
    tempPath: (file) => `${inside(tempDir, file.path)}.incomplete`,
    consumerPath: (_commit, path) => inside(modelDir, path),
    snapshotDir: () => modelDir,
    // Files are overwritten in place by other revisions: reuse one only when its .msc entry names the listed
    // per-file revision, or its bytes hash to the listed sha256.
    async canReuse(file) {
      if ((await sizeOf(blobPath(file))) !== file.size) return false;
      if (file.fileRevision && (await entries()).some((e) => e.Path === file.path && sameRevision(e.Revision ?? "", file.fileRevision!))) {
        return true;
      }
      return Boolean(file.sha256) && (await verifyFileOnDisk(blobPath(file), file)) === undefined;
    },
    link: async () => {},
    async prepare(commit) {
      // Files of another revision are about to be replaced: what was complete is no longer known to be.
      for (const path of [currentPath, join(legacyDir, "current")]) {
        const current = await readFile(path, "utf8").catch(() => undefined);
        if (current !== undefined && current !== commit) await rm(path, { force: true });
      }
    },
    async finish(m, snapshot, files) {
      const listed = new Set(files.map((f) => f.path));
      const kept = (await readMsc(join(modelDir, ".msc"))).filter((e) => !listed.has(e.Path ?? ""));
      const ours = files.map((f) => ({ Path: f.path, Revision: f.fileRevision ?? m.revision }));
      await writeFileAtomic(join(modelDir, ".msc"), pickleDictList([...kept, ...ours]));
      msc = undefined;
      await writeFileAtomic(join(modelDir, ".mdl"), pickleDict({ id: `${owner}/${masked}` }));
      const createdAt = Math.floor(snapshot.createdAt ?? Date.now() / 1000);
      await writeFileAtomic(join(modelDir, ".mv"), `Revision:${m.revision},CreatedAt:${createdAt}`);
      await disk.confine(cache, manifestDir);
      await writeFileAtomic(currentPath, snapshot.commit);
      // Records of older versions of this tool, inside the model directory: the new ones above replace them.
      await rm(legacyDir, { recursive: true, force: true });
      for (const link of links) await relativeLink(link, modelDir, (dir) => disk.makeDir(cache, dir));
    },
    // Empty temp folders go once the model is complete. rmdir removes only empty folders, and a process still
    // downloading here holds a lock file in its folder, so it is never pulled from under another process.
    cleanup: () => removeEmptyDirs(tempDir, join(cache, ".download-models")),
    layoutFiles: () => [...[".msc", ".mdl", ".mv"].map((f) => join(modelDir, f)), currentPath, ...links],
    async revisionMatches(_m, commit) {
      const current = (await readFile(currentPath, "utf8").catch(() => undefined)) ?? (await readFile(join(legacyDir, "current"), "utf8").catch(() => undefined));
      return current === commit;
    },
  };
}
