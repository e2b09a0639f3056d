import { join } from "node:path";
import type { ModelRequest } from "../../types.ts";
import type { ModelStore } from "./store.ts";
import { sizeOf } from "../../util/index.ts";
import { inside } from "../../util/index.ts";
import { verifyFileOnDisk } from "../../transfer/index.ts";

/**
 * A model as a plain folder of real files, no symlinks and no revision record of the layout's own (the manifest
 * records the revision). Only where this tool's manifests and partial files go differs between its two uses.
 */
function folderStore(root: string, modelDir: string, ours: { manifestDir: string; tempDir?: string }): ModelStore {
  const blobPath = (file: { path: string }) => inside(modelDir, file.path);
  const tempDir = ours.tempDir;
  return {
    root,
    modelDir,
    manifestDir: ours.manifestDir,
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
  };
}

/** Custom sources: real files at `<root>/<source>/<id>/<path>`; partial files beside them. */
export function plainStore(root: string, model: ModelRequest): ModelStore {
  const modelDir = inside(join(root, model.source), model.id);
  return folderStore(root, modelDir, { manifestDir: join(modelDir, ".download-models") });
}

/**
 * `--local-dir DIR` / `localDir`: the model's files as a plain folder at DIR, as `hf download --local-dir` leaves
 * them. This tool's manifest and partial files live in `DIR/.cache/download-models/`, a hidden folder the hub
 * libraries ignore (they keep their own in `.cache/huggingface`).
 */
export function localDirStore(dir: string): ModelStore {
  const ours = join(dir, ".cache", "download-models");
  return folderStore(dir, dir, { manifestDir: join(ours, "manifests"), tempDir: join(ours, "temp") });
}
