import { copyFile, readdir, readFile, readlink, symlink } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import type { ModelRequest, ResolvedFile, Snapshot } from "../../types.ts";
import type { CommitHistory, ListedFile, ModelStore } from "./store.ts";
import { RECORDS } from "./records.ts";
import { walk } from "./walk.ts";
import { removeCutShortWrites, sizeOf, symlinkAtomic, writeFileAtomic } from "../../util/index.ts";
import { inside, type Disk } from "../../util/index.ts";
import { SnapshotError } from "../../errors.ts";

const COMMIT = /^[0-9a-f]{40}$/;

/** `models--org--name`, as huggingface_hub names a repo's folder (inlined: @huggingface/hub costs ~20 MB to load). */
const repoFolderName = (id: string) => `models--${id.replaceAll("/", "--")}`;

/** Every model folder of a hub cache, with the id its name spells (datasets and spaces are not models). */
export async function huggingfaceFolders(hubCache: string): Promise<{ id: string; dir: string }[]> {
  const names = await readdir(hubCache).catch(() => [] as string[]);
  return names
    .filter((n) => n.startsWith("models--"))
    .sort()
    .map((n) => ({ id: n.slice("models--".length).split("--").join("/"), dir: join(hubCache, n) }));
}

/** Where this tool keeps its records and partial files of the model in `dir` (for folders found on disk). */
export function huggingfaceOwnDirs(dir: string): { manifestDir: string; tempDir: string } {
  return { manifestDir: join(dir, RECORDS), tempDir: join(dir, "blobs") };
}

function commitHistory(modelDir: string): CommitHistory {
  const snapshots = join(modelDir, "snapshots");
  const refs = join(modelDir, "refs");
  const blobs = join(modelDir, "blobs");
  return {
    snapshots: async () => (await readdir(snapshots).catch(() => [] as string[])).sort(),
    snapshotDir: (commit) => join(snapshots, commit),
    async refs() {
      const out = [];
      for (const e of await walk(refs)) {
        if (e.kind !== "file") continue;
        const commit = (await readFile(e.path, "utf8").catch(() => "")).trim();
        out.push({ name: e.path.slice(refs.length + 1).split(sep).join("/"), commit, path: e.path });
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async blobs() {
      // Names with a dot are partial files and their records: judged apart.
      const files = (await walk(blobs)).filter((e) => e.kind === "file" && !basename(e.path).includes("."));
      return files.map((e) => ({ name: basename(e.path), path: e.path, bytes: e.bytes }));
    },
    async linkedBlobs(commit) {
      const names = new Set<string>();
      for (const e of await walk(join(snapshots, commit))) {
        if (e.kind === "link") names.add(basename(await readlink(e.path).catch(() => "")));
      }
      return names;
    },
    commitFiles: (commit) => [join(modelDir, "trees", `${commit}.json`), join(modelDir, ".no_exist", commit)],
    folders: () => ["refs", "snapshots", "trees", ".no_exist"].map((d) => join(modelDir, d)),
    treeListing: (commit) => join(modelDir, "trees", `${commit}.json`),
    readListing: (commit) => readTreeCache(join(modelDir, "trees", `${commit}.json`)),
  };
}

/** The blob name: a 64-hex sha256 or a 40-hex git sha1, nothing else (it becomes a file name in `blobs/`). */
function etagOf(file: ResolvedFile, model: ModelRequest): string {
  const etag = file.etag ?? file.sha256 ?? file.gitSha1;
  if (!etag || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag)) {
    const label = `${model.id}@${model.revision}`;
    throw new SnapshotError(
      `${label}: ${file.path} has no usable etag (a 64-hex sha256 or 40-hex git sha1${etag ? `, not "${etag.slice(0, 80)}"` : ""}), ` +
        `so it cannot be stored in the HuggingFace cache layout, which names blobs by it. ` +
        (model.source === "huggingface"
          ? `The hub's tree listing gave it no oid or lfs.oid: check that HF_ENDPOINT points at a HuggingFace hub.`
          : `The "${model.source}" downloader must give every file its sha256, gitSha1 or etag, or use layout "plain".`),
      label,
      file.path,
    );
  }
  return etag;
}

/**
 * `trees/<commit>.json` as huggingface_hub ≥ 1.22 writes it: without it, 1.26+ `snapshot_download(repo,
 * revision=<commit>)` goes to the network even offline. It holds the commit's WHOLE listing, also for filtered
 * requests: a partial one would make a later online `snapshot_download` stop silently at the subset. Keys sorted, as
 * Python's json.dump(sort_keys=True). Undefined when a file lacks its git blob id (the reader would ignore the file).
 * Pieces of text, one per file, for `writeFileAtomic`: a listing of 300,000 files is never one string or object.
 */
export function treeCache(snapshot: Snapshot): Iterable<string> | undefined {
  if (snapshot.files.some((f) => !f.gitOid)) return undefined;
  const sorted = [...snapshot.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return (function* () {
    yield '{"files":{';
    for (let i = 0; i < sorted.length; i++) {
      const f = sorted[i]!;
      const entry = { blob_id: f.gitOid, ...(f.sha256 ? { lfs_sha256: f.sha256, lfs_size: f.size } : {}), size: f.size };
      yield `${i > 0 ? "," : ""}${JSON.stringify(f.path)}:${JSON.stringify(entry)}`;
    }
    yield '},"format_version":1}';
  })();
}

/** Read back a `trees/<commit>.json` (what `treeCache` writes, or huggingface_hub itself); entries without a size are left out. */
async function readTreeCache(path: string): Promise<ListedFile[] | undefined> {
  type Entry = { size?: unknown; blob_id?: unknown; lfs_sha256?: unknown };
  let data: { format_version?: unknown; files?: Record<string, Entry> };
  try {
    data = JSON.parse(await readFile(path, "utf8"));
  } catch {
    return undefined; // missing or unreadable: as if never written
  }
  if (data?.format_version !== 1 || !data.files || typeof data.files !== "object") return undefined;
  return Object.entries(data.files).flatMap(([p, f]) => {
    if (typeof f?.size !== "number") return [];
    const sha256 = typeof f.lfs_sha256 === "string" ? f.lfs_sha256 : undefined;
    const gitOid = typeof f.blob_id === "string" ? f.blob_id : undefined;
    return [{ path: p, size: f.size, ...(sha256 ? { sha256 } : {}), ...(gitOid ? { gitOid } : {}) }];
  });
}

/**
 * The HuggingFace hub cache, exactly as huggingface_hub reads it:
 * `models--org--name/blobs/<etag>`, `snapshots/<commit>/<path>` → relative symlink, `refs/<revision>` = commit, no newline.
 */
export function huggingfaceStore(hubCache: string, model: ModelRequest, disk: Disk): ModelStore {
  const modelDir = join(hubCache, repoFolderName(model.id));
  const blobPath = (file: ResolvedFile) => join(modelDir, "blobs", etagOf(file, model));
  const refPath = inside(join(modelDir, "refs"), model.revision);
  const own = huggingfaceOwnDirs(modelDir);
  return {
    layout: "huggingface",
    root: hubCache,
    modelDir,
    manifestDir: own.manifestDir,
    tempDir: own.tempDir,
    blobPath,
    tempPath: (file) => `${blobPath(file)}.incomplete`,
    consumerPath: (commit, path) => inside(join(modelDir, "snapshots", commit), path),
    snapshotDir: (commit) => join(modelDir, "snapshots", commit),
    canReuse: async (file) => (await sizeOf(blobPath(file))) === file.size,
    async link(commit, file) {
      const pointer = inside(join(modelDir, "snapshots", commit), file.path);
      const target = relative(dirname(pointer), blobPath(file));
      await disk.makeDir(hubCache, dirname(pointer));
      // The common case, a fresh snapshot: one syscall. A link already there is left alone when it is right.
      try {
        return await symlink(target, pointer);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST" && (await readlink(pointer).catch(() => undefined)) === target) return;
      }
      // Two requests of one repo (other filters) may link the same file at the same time. No symlinks on this
      // filesystem: a real copy loads the same (as huggingface_hub does itself without symlinks).
      await symlinkAtomic(target, pointer, (temp) => copyFile(blobPath(file), temp));
    },
    async finish(m, snapshot) {
      const treePath = join(modelDir, "trees", `${snapshot.commit}.json`);
      const tree = treeCache(snapshot);
      if (tree) {
        await disk.confine(hubCache, dirname(treePath));
        await removeCutShortWrites(treePath);
        await writeFileAtomic(treePath, tree);
      }
      // Commit-hash requests leave the snapshot detached, as huggingface_hub does.
      if (m.revision === snapshot.commit) return;
      await disk.confine(hubCache, dirname(refPath));
      // A cut-short write left in refs/ would be read as a ref of that name by huggingface_hub's cache scan.
      await removeCutShortWrites(refPath);
      await writeFileAtomic(refPath, snapshot.commit);
    },
    revisionRecordName: (m) => `refs/${m.revision}`,
    roleOf(path) {
      if (path.startsWith(own.manifestDir + sep)) return "record";
      return path.startsWith(join(modelDir, "refs") + sep) ? "marker" : "listing";
    },
    history: commitHistory(modelDir),
    layoutFiles: (m, commit) => [...(m.revision === commit ? [] : [refPath]), join(modelDir, "trees", `${commit}.json`)],
    async revisionMatches(m, commit) {
      if (m.revision === commit || COMMIT.test(m.revision)) return m.revision === commit;
      try {
        return (await readFile(refPath, "utf8")) === commit;
      } catch {
        return false;
      }
    },
  };
}
