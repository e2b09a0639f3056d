import { lstat, readdir, readFile, readlink, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import type { Dirent } from "node:fs";
import { RECORDS } from "./records.ts";
import type { ModelRequest } from "../../types.ts";
import type { ModelStore } from "./store.ts";
import { DownloadModelsError } from "../../errors.ts";
import { removeCutShortWrites, sizeOf, symlinkAtomic, symlinksUnsupported, writeFileAtomic } from "../../util/index.ts";
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

/** Where this tool keeps its records and partial files of `<owner>/<masked>` (beside the model, not in it). */
export function modelscopeOwnDirs(cache: string, owner: string, masked: string): { manifestDir: string; legacyManifestDir: string; tempDir: string } {
  return {
    manifestDir: inside(join(cache, RECORDS, "records", owner), masked),
    legacyManifestDir: join(cache, "models", owner, masked, RECORDS),
    tempDir: inside(join(cache, RECORDS, "temp", owner), masked),
  };
}

/** The dotted name back from the masked one (as the library masks it; a name with "___" of its own reads wrong). */
const unmask = (masked: string) => masked.replaceAll("___", ".");

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]);
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name).sort();
}

export interface ModelscopeFolder {
  id: string;
  dir: string;
  manifestDirs: string[];
  tempDir: string;
  /** A real directory where a modelscope version before 1.23 keeps a model (never this tool's). */
  oldLayout: boolean;
}

/**
 * Every model a ModelScope cache holds: `models/<owner>/<masked>` (v1.23+ and this tool), models this tool has
 * records or partial files of, and real directories of the older layouts (`hub/<owner>/<name>`, `<owner>/<name>`;
 * this tool's compat links there are links, not models).
 */
export async function modelscopeFolders(cache: string): Promise<ModelscopeFolder[]> {
  const found = new Map<string, ModelscopeFolder>();
  const add = (owner: string, masked: string) => {
    const key = `${owner}/${masked}`;
    if (found.has(key) || RESERVED_OWNERS.has(owner)) return;
    const own = modelscopeOwnDirs(cache, owner, masked);
    found.set(key, {
      id: `${owner}/${unmask(masked)}`, dir: join(cache, "models", owner, masked), manifestDirs: [own.manifestDir, own.legacyManifestDir], tempDir: own.tempDir, oldLayout: false,
    });
  };
  for (const base of [join(cache, RECORDS, "records"), join(cache, RECORDS, "temp"), join(cache, "models")]) {
    for (const owner of await subdirs(base)) for (const masked of await subdirs(join(base, owner))) add(owner, masked);
  }
  const old: ModelscopeFolder[] = [];
  for (const base of [join(cache, "hub"), cache]) {
    for (const owner of await subdirs(base)) {
      if (base === cache && RESERVED_OWNERS.has(owner)) continue;
      for (const name of await subdirs(join(base, owner))) {
        const dir = join(base, owner, name);
        if (await isLookupStub(dir).catch(() => true)) continue; // what an old reader's failed lookup leaves
        old.push({ id: `${owner}/${unmask(name)}`, dir, manifestDirs: [], tempDir: dir, oldLayout: true });
      }
    }
  }
  return [...found.values(), ...old];
}

/** The directories modelscope 1.12–1.22 (and ≤ 1.11 for dotted names) read a model from, for full copies. */
export function modelscopeCopyDirs(cache: string, id: string): string[] {
  const { owner, name, masked } = modelscopePaths(cache, id);
  return [join(cache, "hub", owner, masked), join(cache, owner, masked), ...(name !== masked ? [join(cache, owner, name)] : [])];
}

/**
 * A directory an old reader's failed lookup leaves where the link belongs: nothing but a fresh `.mdl`, an empty
 * `.msc`, empty temp folders. Anything else is data and stays.
 */
export async function isLookupStub(dir: string): Promise<boolean> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!(await isLookupStub(path))) return false;
    } else if (e.name === ".mdl") continue;
    else if (e.name === ".msc" && (await lstat(path)).size === 0) continue;
    else return false;
  }
  return true;
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
  const own = modelscopeOwnDirs(cache, owner, masked);
  const { manifestDir, tempDir } = own;
  const currentPath = join(manifestDir, "current");
  const legacyDir = own.legacyManifestDir;
  const blobPath = (file: { path: string }) => inside(modelDir, file.path);
  const links = modelscopeLinks(cache, model.id);
  let msc: Promise<StrDict[]> | undefined;
  const entries = () => (msc ??= readMsc(join(modelDir, ".msc")));

  return {
    layout: "modelscope",
    root: cache,
    modelDir,
    manifestDir,
    tempDir,
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
      for (const record of [".msc", ".mdl", ".mv"]) await removeCutShortWrites(join(modelDir, record));
      await removeCutShortWrites(currentPath);
      // Records of older versions of this tool, inside the model directory: the new ones above replace them.
      await rm(legacyDir, { recursive: true, force: true });
      for (const link of links) await relativeLink(link, modelDir, (dir) => disk.makeDir(cache, dir));
    },
    // Empty temp folders go once the model is complete. rmdir removes only empty folders, and a process still
    // downloading here holds a lock file in its folder, so it is never pulled from under another process.
    cleanup: () => removeEmptyDirs(tempDir, join(cache, RECORDS)),
    revisionRecordName: (m) => `refs/${m.revision}`,
    roleOf(path) {
      if (path.startsWith(manifestDir + sep)) return "record";
      return basename(path) === ".msc" ? "marker" : "listing";
    },
    async fileRevisions() {
      return new Map((await readMsc(join(modelDir, ".msc"))).map((e) => [e.Path!, e.Revision!]));
    },
    async createdAt() {
      const m = /CreatedAt:(\d+)/.exec(await readFile(join(modelDir, ".mv"), "utf8").catch(() => ""));
      return m ? Number(m[1]) : undefined;
    },
    layoutFiles: () => [...[".msc", ".mdl", ".mv"].map((f) => join(modelDir, f)), currentPath, ...links],
    async revisionMatches(_m, commit) {
      const current = (await readFile(currentPath, "utf8").catch(() => undefined)) ?? (await readFile(join(legacyDir, "current"), "utf8").catch(() => undefined));
      return current === commit;
    },
  };
}
