import { lstat, mkdir, readdir, readlink, rm, stat, symlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { DownloadModelsError } from "../errors.ts";
import { layoutOf, openStore } from "./layouts/index.ts";
import { modelscopeLinks, modelscopePaths, relativeLink } from "./layouts/modelscope.ts";
import { findComplete } from "./manifest.ts";
import type { Registry } from "../sources/index.ts";
import { rootFor, type Roots } from "./roots.ts";
import type { ModelRequest } from "../types.ts";
import { modelsOnDisk } from "./verify-models.ts";

export interface LinkResult {
  model: ModelRequest;
  /** Links created or already right. */
  linked: string[];
  /** Real directories left alone (a full copy, or someone else's data). */
  kept: string[];
  /** Stub directories a failed lookup of an old reader had left, replaced by the link. */
  replaced: string[];
}

/** Symlinks are not a given on a network volume: prove one relative link works before changing anything. */
export async function probeSymlinks(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const name = join(dir, `.download-models-probe-${randomBytes(4).toString("hex")}`);
  try {
    await mkdir(`${name}.d`);
    await symlink(`${basename(name)}.d`, name);
    if (!(await readlink(name)).endsWith(".d") || !(await stat(name)).isDirectory()) throw new Error("the link does not resolve");
  } catch (error) {
    throw new DownloadModelsError(
      `${dir}: this filesystem does not keep relative symbolic links (${(error as Error).message}); ` +
        "readers that need them: see `download-models env`, or fill with --modelscope-compat=copy.",
      { cause: error },
    );
  } finally {
    await rm(name, { force: true });
    await rm(`${name}.d`, { recursive: true, force: true });
  }
}

/**
 * A directory an old reader's failed lookup leaves where the link belongs: nothing but a fresh `.mdl`, an empty
 * `.msc`, empty temp folders. Anything else is data and stays.
 */
async function isStub(dir: string): Promise<boolean> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!(await isStub(path))) return false;
    } else if (e.name === ".mdl") continue;
    else if (e.name === ".msc" && (await lstat(path)).size === 0) continue;
    else return false;
  }
  return true;
}

async function linkOne(link: string, modelDir: string, result: LinkResult): Promise<void> {
  const st = await lstat(link).catch(() => undefined);
  if (st?.isDirectory()) {
    if (!(await isStub(link))) {
      result.kept.push(link);
      return;
    }
    await rm(link, { recursive: true });
    result.replaced.push(link);
  }
  if (await relativeLink(link, modelDir, (d) => mkdir(d, { recursive: true }).then(() => undefined))) result.linked.push(link);
  else result.kept.push(link);
}

/**
 * `download-models link`: add what a volume written over S3 lacks because S3 has no symlinks, so that it reads
 * exactly like a Pod fill. ModelScope: the dotted-name and older-layout links of every complete model. HF needs
 * none (its readers take regular snapshot files). Local files only, no network.
 */
export async function linkVolume(registry: Registry, roots: Roots, onResult?: (r: LinkResult) => void): Promise<LinkResult[]> {
  const models = (await modelsOnDisk(registry, roots)).filter((m) => layoutOf(registry.get(m.source)) === "modelscope");
  const results: LinkResult[] = [];
  if (models.length === 0) return results;
  const cache = rootFor(roots, "modelscope");
  await probeSymlinks(cache);
  const seen = new Set<string>();
  for (const model of models) {
    if (seen.has(model.id)) continue;
    seen.add(model.id);
    const store = openStore(registry.get(model.source), model, roots);
    if (!(await findComplete(store, model))) continue;
    const { modelDir } = modelscopePaths(cache, model.id);
    const result: LinkResult = { model, linked: [], kept: [], replaced: [] };
    for (const link of modelscopeLinks(cache, model.id)) await linkOne(link, modelDir, result);
    onResult?.(result);
    results.push(result);
  }
  return results;
}
