import { join } from "node:path";
import type { ModelRequest } from "../types.ts";
import type { ModelStore } from "./store.ts";
import { sizeOf } from "../fs-utils.ts";
import { inside } from "../path-safety.ts";
import { verifyFileOnDisk } from "../verify.ts";

/** Custom sources: real files at `<root>/<source>/<id>/<path>`, no symlinks; the manifest records the revision. */
export function plainStore(root: string, model: ModelRequest): ModelStore {
  const modelDir = inside(join(root, model.source), model.id);
  const blobPath = (file: { path: string }) => inside(modelDir, file.path);
  return {
    root,
    modelDir,
    manifestDir: join(modelDir, ".download-models"),
    blobPath,
    tempPath: (file) => `${blobPath(file)}.incomplete`,
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

/**
 * `--local-dir DIR` / `localDir`: the model's files as a plain folder at DIR, as `hf download --local-dir` leaves
 * them. This tool's manifest and partial files live in `DIR/.cache/download-models/`, a hidden folder the hub
 * libraries ignore (they keep their own in `.cache/huggingface`).
 */
export function localDirStore(dir: string, model: ModelRequest): ModelStore {
  const ours = join(dir, ".cache", "download-models");
  const blobPath = (file: { path: string }) => inside(dir, file.path);
  return {
    ...plainStore(dir, model),
    root: dir,
    modelDir: dir,
    manifestDir: join(ours, "manifests"),
    blobPath,
    tempPath: (file) => `${inside(join(ours, "temp"), file.path)}.incomplete`,
    consumerPath: (_commit, path) => inside(dir, path),
    snapshotDir: () => dir,
    canReuse: async (file) =>
      (await sizeOf(blobPath(file))) === file.size &&
      Boolean(file.sha256 || file.gitSha1) &&
      (await verifyFileOnDisk(blobPath(file), file)) === undefined,
  };
}
