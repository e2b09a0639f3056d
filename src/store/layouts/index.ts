import type { Downloader } from "../../sources/index.ts";
import { rootFor, type Roots } from "../roots.ts";
import type { LayoutName, ModelRequest } from "../../types.ts";
import { huggingfaceFolders, huggingfaceOwnDirs, huggingfaceStore } from "./huggingface.ts";
import { modelscopeFolders, modelscopeStore } from "./modelscope.ts";
import { localDirStore, plainFolders, plainStore } from "./plain.ts";
import type { ModelStore } from "./store.ts";
import { createDisk, type Disk } from "../../util/index.ts";

export type { ModelStore } from "./store.ts";

export function layoutOf(downloader: Pick<Downloader, "layout">): LayoutName {
  return downloader.layout ?? "plain";
}

export interface StoreToOpen {
  downloader: Pick<Downloader, "layout">;
  model: ModelRequest;
  roots: Roots;
  /** The run's memo of checked and created directories (a fresh one for one-off reads). */
  disk?: Disk;
}

/** The store a model lives in, by its downloader's layout, under the roots; throws when that root is refused here. */
export function openStore({ downloader, model, roots, disk = createDisk() }: StoreToOpen): ModelStore {
  if (model.localDir) return localDirStore(model.localDir, layoutOf(downloader) === "huggingface");
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

/** A model folder a layout holds on disk, by what its name says, and where this tool's records of it would be. */
export interface ModelFolder {
  layout: LayoutName;
  /** The id as the folder spells it (ModelScope: dots restored from the masked name). */
  id: string;
  dir: string;
  /** Folders this tool's manifests of it are in (the current one first). */
  manifestDirs: string[];
  /** Where this tool's partial downloads of it are; undefined for folders this tool never writes (old layouts). */
  tempDir?: string;
  /** Plain layout: the custom source the folder belongs to. */
  source?: string;
}

/**
 * Every model folder under one layout's root: HF `models--*`; ModelScope `models/<owner>/<name>`, this tool's records
 * and partial files, and the older layouts' real directories; plain `<source>/<org>[/<name>]` of `plainSources`.
 */
export async function modelFolders(layout: LayoutName, root: string, plainSources: readonly string[] = []): Promise<ModelFolder[]> {
  switch (layout) {
    case "huggingface":
      return (await huggingfaceFolders(root)).map((f) => {
        const own = huggingfaceOwnDirs(f.dir);
        return { layout, ...f, manifestDirs: [own.manifestDir], tempDir: own.tempDir };
      });
    case "modelscope":
      return (await modelscopeFolders(root)).map(({ oldLayout, tempDir, ...f }) => ({ layout, ...f, ...(oldLayout ? {} : { tempDir }) }));
    case "plain": {
      const out: ModelFolder[] = [];
      for (const source of plainSources) {
        for (const f of await plainFolders(root, source)) {
          // A one-level id's folder holds the two-level ones: only its records are its own.
          const tempDir = f.id.includes("/") ? { tempDir: f.dir } : {};
          out.push({ layout, source, id: f.id, dir: f.dir, manifestDirs: [f.manifestDir], ...tempDir });
        }
      }
      return out;
    }
  }
}
