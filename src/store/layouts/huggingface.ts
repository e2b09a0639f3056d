import { copyFile, readFile, readlink, symlink } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import type { ModelRequest, ResolvedFile, Snapshot } from "../../types.ts";
import type { ModelStore } from "./store.ts";
import { sizeOf, symlinkAtomic, writeFileAtomic } from "../../util/index.ts";
import { inside, type Disk } from "../../util/index.ts";

const COMMIT = /^[0-9a-f]{40}$/;

/** `models--org--name`, as huggingface_hub names a repo's folder (inlined: @huggingface/hub costs ~20 MB to load). */
const repoFolderName = (id: string) => `models--${id.replaceAll("/", "--")}`;

function etagOf(file: ResolvedFile): string {
  const etag = file.etag ?? file.sha256 ?? file.gitSha1;
  if (!etag || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag)) {
    throw new Error(`${file.path}: the hub listed no usable etag (sha256 or git sha1), so it cannot be cached`);
  }
  return etag;
}

/**
 * `trees/<commit>.json` as huggingface_hub ≥ 1.22 writes it: without it, 1.26+ `snapshot_download(repo,
 * revision=<commit>)` goes to the network even offline. It holds the commit's WHOLE listing, also for filtered
 * requests: a partial one would make a later online `snapshot_download` stop silently at the subset. Keys sorted, as
 * Python's json.dump(sort_keys=True). Undefined when a file lacks its git blob id (the reader would ignore the file).
 */
export function treeCache(snapshot: Snapshot): string | undefined {
  const files: Record<string, Record<string, number | string>> = {};
  for (const f of [...snapshot.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (!f.gitOid) return undefined;
    files[f.path] = { blob_id: f.gitOid, ...(f.sha256 ? { lfs_sha256: f.sha256, lfs_size: f.size } : {}), size: f.size };
  }
  return JSON.stringify({ files, format_version: 1 });
}

/**
 * The HuggingFace hub cache, exactly as huggingface_hub reads it:
 * `models--org--name/blobs/<etag>`, `snapshots/<commit>/<path>` → relative symlink, `refs/<revision>` = commit, no newline.
 */
export function huggingfaceStore(hubCache: string, model: ModelRequest, disk: Disk): ModelStore {
  const modelDir = join(hubCache, repoFolderName(model.id));
  const blobPath = (file: ResolvedFile) => join(modelDir, "blobs", etagOf(file));
  const refPath = inside(join(modelDir, "refs"), model.revision);
  return {
    root: hubCache,
    modelDir,
    manifestDir: join(modelDir, ".download-models"),
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
        await writeFileAtomic(treePath, tree);
      }
      // Commit-hash requests leave the snapshot detached, as huggingface_hub does.
      if (m.revision === snapshot.commit) return;
      await disk.confine(hubCache, dirname(refPath));
      await writeFileAtomic(refPath, snapshot.commit);
    },
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
