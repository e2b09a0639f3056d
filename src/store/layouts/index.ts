import type { Downloader } from "../../sources/index.ts";
import { rootFor, type Roots } from "../roots.ts";
import type { LayoutName, ModelRequest } from "../../types.ts";
import { huggingfaceStore } from "./huggingface.ts";
import { modelscopeStore } from "./modelscope.ts";
import { localDirStore, plainStore } from "./plain.ts";
import type { ModelStore } from "./store.ts";
import { createDisk, type Disk } from "../../util/index.ts";

export type { ModelStore } from "./store.ts";

export function layoutOf(downloader: Pick<Downloader, "layout">): LayoutName {
  return downloader.layout ?? "plain";
}

/**
 * The store a model lives in, by its downloader's layout, under the roots; throws when that root is refused here.
 * `disk` is the run's memo of checked and created directories (a fresh one for one-off reads).
 */
export function openStore(downloader: Pick<Downloader, "layout">, model: ModelRequest, roots: Roots, disk: Disk = createDisk()): ModelStore {
  if (model.localDir) return localDirStore(model.localDir);
  const layout = layoutOf(downloader);
  const root = rootFor(roots, layout);
  switch (layout) {
    case "huggingface":
      return huggingfaceStore(root, model, disk);
    case "modelscope":
      return modelscopeStore(root, model, disk);
    case "plain":
      return plainStore(root, model);
  }
}
