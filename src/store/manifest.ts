import { readFile } from "node:fs/promises";
import type { z } from "zod";
import type { ModelRequest } from "../types.ts";
import type { ModelStore } from "./layouts/store.ts";
import { sizeOf, writeFileAtomic } from "../util/index.ts";
import { matchesFilters } from "../util/index.ts";
import { manifestPath } from "./layouts/records.ts";

export { filtersKey, manifestPath } from "./layouts/records.ts";

// Built on the first manifest read: importing the store does not load zod by itself.
const manifestSchema = async () => {
  const { z } = await import("zod");
  return z.object({
    format: z.literal(1),
    tool: z.literal("download-models"),
    source: z.string(),
    id: z.string(),
    revision: z.string(),
    commit: z.string(),
    include: z.array(z.string()),
    exclude: z.array(z.string()),
    completedAt: z.string(),
    files: z.array(
      z.object({
        path: z.string(),
        size: z.number().int().nonnegative(),
        sha256: z.string().optional(),
        gitSha1: z.string().optional(),
        etag: z.string().optional(),
      }),
    ),
  });
};

/** Written last and atomically: its presence means every listed file was verified and put in place. */
export type Manifest = z.infer<Awaited<ReturnType<typeof manifestSchema>>>;

export async function readManifest(path: string): Promise<Manifest | undefined> {
  try {
    const parsed = (await manifestSchema()).safeParse(JSON.parse(await readFile(path, "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeManifest(store: ModelStore, manifest: Manifest): Promise<void> {
  await writeFileAtomic(manifestPath(store, manifest), JSON.stringify(manifest, null, 2) + "\n");
}

/** A manifest that describes a request (its file list cut to the request's filters) and the file it was read from. */
export interface FoundManifest {
  path: string;
  manifest: Manifest;
}

/**
 * Is the model complete on disk? Reads only local files (zero network): the manifest for this exact request,
 * or the unfiltered one for the same revision with the filters applied; then every listed file must exist
 * at its consumer path with the listed size, and the layout's revision record must agree.
 */
export async function findCompleteAt(store: ModelStore, model: ModelRequest): Promise<FoundManifest | undefined> {
  for (const found of await manifestFilesFor(store, model)) {
    const { manifest } = found;
    if (!(await store.revisionMatches(model, manifest.commit))) continue;
    const sizes = await Promise.all(manifest.files.map((f) => sizeOf(store.consumerPath(manifest.commit, f.path))));
    if (sizes.every((s, i) => s === manifest.files[i]!.size)) return found;
  }
  return undefined;
}

export async function findComplete(store: ModelStore, model: ModelRequest): Promise<Manifest | undefined> {
  return (await findCompleteAt(store, model))?.manifest;
}

/**
 * The manifests that describe this request, whatever the files on disk look like now: the exact one, then the
 * unfiltered one of the same revision with the request's filters applied to its file list.
 */
export async function manifestsFor(store: ModelStore, model: ModelRequest): Promise<Manifest[]> {
  return (await manifestFilesFor(store, model)).map((f) => f.manifest);
}

export async function manifestFilesFor(store: ModelStore, model: ModelRequest): Promise<FoundManifest[]> {
  const unfiltered = { revision: model.revision, include: [], exclude: [] };
  const filtered = model.include.length > 0 || model.exclude.length > 0;
  const candidates: string[] = [];
  for (const dir of [store.manifestDir, ...(store.legacyManifestDirs ?? [])]) {
    const at = { manifestDir: dir };
    candidates.push(manifestPath(at, model));
    if (filtered) candidates.push(manifestPath(at, unfiltered));
  }
  const found: FoundManifest[] = [];
  for (const path of candidates) {
    const manifest = await readManifest(path);
    if (!manifest || manifest.id !== model.id || manifest.revision !== model.revision) continue;
    const files = manifest.files.filter((f) => matchesFilters(f.path, model.include, model.exclude));
    if (files.length > 0) found.push({ path, manifest: { ...manifest, files } });
  }
  return found;
}
