import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { z } from "zod";
import type { ModelRequest } from "../types.ts";
import type { ModelStore } from "./layouts/store.ts";
import { sizeOf, writeFileAtomic } from "../util/index.ts";
import { matchesFilters } from "../util/index.ts";

// zod is loaded when a manifest is read, not with this module: a fresh download never reads one.
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

/** `""` without filters, else `.<12 hex>` of them: requests of one revision with other filters are kept apart. */
export function filtersKey(include: readonly string[], exclude: readonly string[]): string {
  if (include.length === 0 && exclude.length === 0) return "";
  const h = createHash("sha256").update(JSON.stringify([include, exclude])).digest("hex");
  return `.${h.slice(0, 12)}`;
}

/** `<manifestDir>/<revision, URL-encoded>[.<filters hash>].json` */
export function manifestPath(store: Pick<ModelStore, "manifestDir">, model: Pick<ModelRequest, "revision" | "include" | "exclude">): string {
  return join(store.manifestDir, `${encodeURIComponent(model.revision)}${filtersKey(model.include, model.exclude)}.json`);
}

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

/**
 * Is the model complete on disk? Reads only local files (zero network): the manifest for this exact request,
 * or the unfiltered one for the same revision with the filters applied; then every listed file must exist
 * at its consumer path with the listed size, and the layout's revision record must agree.
 */
export async function findComplete(store: ModelStore, model: ModelRequest): Promise<Manifest | undefined> {
  for (const manifest of await manifestsFor(store, model)) {
    if (!(await store.revisionMatches(model, manifest.commit))) continue;
    const sizes = await Promise.all(manifest.files.map((f) => sizeOf(store.consumerPath(manifest.commit, f.path))));
    if (sizes.every((s, i) => s === manifest.files[i]!.size)) return manifest;
  }
  return undefined;
}

/**
 * The manifests that describe this request, whatever the files on disk look like now: the exact one, then the
 * unfiltered one of the same revision with the request's filters applied to its file list.
 */
export async function manifestsFor(store: ModelStore, model: ModelRequest): Promise<Manifest[]> {
  const unfiltered = { revision: model.revision, include: [], exclude: [] };
  const filtered = model.include.length > 0 || model.exclude.length > 0;
  const candidates: string[] = [];
  for (const dir of [store.manifestDir, ...(store.legacyManifestDirs ?? [])]) {
    const at = { ...store, manifestDir: dir };
    candidates.push(manifestPath(at, model));
    if (filtered) candidates.push(manifestPath(at, unfiltered));
  }
  const found: Manifest[] = [];
  for (const path of candidates) {
    const manifest = await readManifest(path);
    if (!manifest || manifest.id !== model.id || manifest.revision !== model.revision) continue;
    const files = manifest.files.filter((f) => matchesFilters(f.path, model.include, model.exclude));
    if (files.length > 0) found.push({ ...manifest, files });
  }
  return found;
}
