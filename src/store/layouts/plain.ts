import { readdir, rmdir } from "node:fs/promises";
import type { Dirent } from "node:fs";
import { join, sep } from "node:path";
import type { ModelRequest } from "../../types.ts";
import { RECORDS } from "./records.ts";
import type { ModelStore } from "./store.ts";
import { sizeOf } from "../../util/index.ts";
import { inside } from "../../util/index.ts";
import { verifyFileOnDisk } from "../../transfer/index.ts";
import { hubLocalDirRecords } from "./hf-local-dir.ts";

/**
 * A model as a plain folder of real files, no symlinks and no revision record of the layout's own (the manifest
 * records the revision). Only where this tool's manifests and partial files go differs between its two uses.
 */
function folderStore(root: string, modelDir: string, ours: { manifestDir: string; tempDir?: string }): ModelStore {
  const blobPath = (file: { path: string }) => inside(modelDir, file.path);
  const tempDir = ours.tempDir;
  return {
    layout: "plain",
    root,
    modelDir,
    manifestDir: ours.manifestDir,
    tempDir: tempDir ?? modelDir,
    blobPath,
    tempPath: (file) => `${tempDir ? inside(tempDir, file.path) : blobPath(file)}.incomplete`,
    consumerPath: (_commit, path) => inside(modelDir, path),
    snapshotDir: () => modelDir,
    // A same-sized file may be another revision's: reuse it only when its hash proves it is this one.
    canReuse: async (file) =>
      (await sizeOf(blobPath(file))) === file.size &&
      Boolean(file.sha256 || file.gitSha1) &&
      (await verifyFileOnDisk(blobPath(file), file)) === undefined,
    link: async () => {},
    finish: async () => {},
    revisionMatches: async () => true,
    revisionRecordName: (m) => `refs/${m.revision}`,
    roleOf: (path) => (path.startsWith(ours.manifestDir + sep) ? "record" : "listing"),
  };
}

/** Custom sources: real files at `<root>/<source>/<id>/<path>`; partial files beside them. */
export function plainStore(root: string, model: ModelRequest): ModelStore {
  const modelDir = inside(join(root, model.source), model.id);
  return folderStore(root, modelDir, { manifestDir: join(modelDir, RECORDS) });
}

/**
 * The model folders of one custom source under the plain root (`<root>/<source>/<org>/<name>` or
 * `<root>/<source>/<name>`), with where this tool's records of each are. Plain folders carry no marker of their
 * own: the caller keeps those with records or partial files.
 */
export async function plainFolders(root: string, source: string): Promise<{ id: string; dir: string; manifestDir: string }[]> {
  const base = join(root, source);
  const dirs = async (d: string) =>
    (await readdir(d, { withFileTypes: true }).catch(() => [] as Dirent[])).filter((e) => e.isDirectory() && e.name !== RECORDS).map((e) => e.name).sort();
  const out: { id: string; dir: string; manifestDir: string }[] = [];
  for (const org of await dirs(base)) {
    out.push({ id: org, dir: join(base, org), manifestDir: join(base, org, RECORDS) });
    for (const name of await dirs(join(base, org))) out.push({ id: `${org}/${name}`, dir: join(base, org, name), manifestDir: join(base, org, name, RECORDS) });
  }
  return out;
}

/**
 * `--local-dir DIR` / `localDir`: the model's files as a plain folder at DIR, as `hf download --local-dir` leaves
 * them. This tool's manifest and partial files live in `DIR/.cache/download-models/`, a hidden folder the hub
 * libraries ignore (they keep their own in `.cache/huggingface`).
 */
export function localDirStore(dir: string, huggingface = false): ModelStore {
  const ours = join(dir, ".cache", "download-models");
  const tempDir = join(ours, "temp");
  const store = folderStore(dir, dir, { manifestDir: join(ours, "manifests"), tempDir });
  return {
    ...store,
    // What `hf download --local-dir` leaves beside the files, so huggingface_hub trusts them without a request.
    ...(huggingface ? { finish: (_m: unknown, snapshot, files) => hubLocalDirRecords(dir, snapshot, files) } : {}),
    cleanup: () => removeEmptyDirs(tempDir),
  } satisfies ModelStore;
}

/** Remove `dir` and the folders under it that hold no file, deepest first; a folder that got one meanwhile stays. */
async function removeEmptyDirs(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeEmptyDirs(join(dir, e.name));
  await rmdir(dir).catch(() => {});
}
