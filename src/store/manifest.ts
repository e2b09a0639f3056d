import { readFile } from "node:fs/promises";
import type { z } from "zod";
import type { ModelRequest } from "../types.ts";
import type { ModelStore } from "./layouts/store.ts";
import { lazy, removeCutShortWrites, sizeOf, writeFileAtomic, zod } from "../util/index.ts";
import { eachLimited, matchesFilters } from "../util/index.ts";
import { manifestPath, manifestPaths } from "./layouts/records.ts";

export { filtersKey, manifestPath, manifestPaths, writtenOrderFiltersKey } from "./layouts/records.ts";

// Built on the first manifest read: importing the store does not load zod by itself.
const manifestSchema = lazy(() => {
  const z = zod();
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
});

/** Written last and atomically: its presence means every listed file was verified and put in place. */
export type Manifest = z.infer<ReturnType<typeof manifestSchema>>;

export async function readManifest(path: string): Promise<Manifest | undefined> {
  try {
    const data: unknown = JSON.parse(await readFile(path, "utf8"));
    const parsed = manifestSchema().safeParse(data); // no manifest there (a model not yet downloaded): zod is not loaded
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A manifest to write: its files may be the listing's own records (only the manifest's fields of each are written). */
export type ManifestToWrite = Omit<Manifest, "files"> & { files: readonly Manifest["files"][number][] };

/**
 * `JSON.stringify(manifest, null, 2)`, one file at a time: a listing of 300,000 files is never copied into new
 * objects or one string.
 */
function* manifestText(manifest: ManifestToWrite): Generator<string> {
  const { files, ...head } = manifest;
  const opening = JSON.stringify({ ...head, files: [] }, null, 2);
  if (files.length === 0) {
    yield `${opening}\n`;
    return;
  }
  yield `${opening.slice(0, -"[]\n}".length)}[\n`;
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const entry = { path: f.path, size: f.size, ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitSha1 ? { gitSha1: f.gitSha1 } : {}), ...(f.etag ? { etag: f.etag } : {}) };
    yield `${i > 0 ? ",\n" : ""}    ${JSON.stringify(entry, null, 2).replaceAll("\n", "\n    ")}`;
  }
  yield "\n  ]\n}\n";
}

export async function writeManifest(store: ModelStore, manifest: ManifestToWrite): Promise<void> {
  const path = manifestPath(store, manifest);
  await removeCutShortWrites(path); // a killed run's cut-short write of it would stay beside it for good
  await writeFileAtomic(path, manifestText(manifest));
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
    // A few stats at a time, up to the first file not in place: a manifest may list 300,000 files.
    let complete = true;
    const errors = await eachLimited(manifest.files, 32, async (f) => {
      if (complete && (await sizeOf(store.consumerPath(manifest.commit, f.path))) !== f.size) complete = false;
    });
    if (errors.length > 0) throw errors[0];
    if (complete) return found;
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
    candidates.push(...manifestPaths(at, model));
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
