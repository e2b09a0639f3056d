import { rm } from "node:fs/promises";
import pLimit from "p-limit";
import type { Registry } from "../sources/index.ts";
import { rootFor, type Roots } from "./roots.ts";
import type { ModelRequest, ResolvedFile } from "../types.ts";
import { openCache } from "./cache.ts";
import { sizeOf } from "../util/index.ts";
import { verifyFileOnDisk } from "../transfer/index.ts";

export interface FileProblem {
  path: string;
  problem: string;
}

export interface VerifyResult {
  model: ModelRequest;
  status: "ok" | "corrupt" | "not-downloaded";
  commit?: string;
  files: number;
  bytes: number;
  problems: FileProblem[];
}

export interface VerifyModelsOptions {
  models: ModelRequest[];
  registry: Registry;
  roots: Roots;
  /** Told each model's result as soon as it is known. */
  onResult?: (r: VerifyResult) => void;
}

/**
 * Re-hash what the manifests say is on disk (sha256, git sha1, or at least the size) and list every missing or
 * corrupt file. Reads local files only.
 */
export async function verifyModels({ models, registry, roots, onResult }: VerifyModelsOptions): Promise<VerifyResult[]> {
  const hashing = pLimit(4);
  const cache = openCache({ registry, roots });
  const results: VerifyResult[] = [];
  for (const model of models) {
    const store = cache.store(model);
    const [manifest] = await cache.manifests(model);
    let result: VerifyResult;
    if (!manifest) {
      result = { model, status: "not-downloaded", files: 0, bytes: 0, problems: [] };
    } else {
      const problems = (
        await Promise.all(
          manifest.files.map((f) =>
            hashing(async (): Promise<FileProblem | undefined> => {
              const path = store.consumerPath(manifest.commit, f.path);
              const size = await sizeOf(path);
              if (size === undefined) return { path: f.path, problem: "missing" };
              const problem = await verifyFileOnDisk(path, { ...f, url: "" } as ResolvedFile);
              return problem ? { path: f.path, problem } : undefined;
            }),
          ),
        )
      ).filter((p): p is FileProblem => p !== undefined);
      if (!(await store.revisionMatches(model, manifest.commit))) problems.push({ path: store.revisionRecordName(model), problem: `does not point at ${manifest.commit}` });
      result = {
        model, commit: manifest.commit, status: problems.length ? "corrupt" : "ok",
        files: manifest.files.length, bytes: manifest.files.reduce((n, f) => n + f.size, 0), problems,
      };
    }
    onResult?.(result);
    results.push(result);
  }
  return results;
}

/** Remove what verification found bad (blob and link), so that the next download fetches exactly that again. */
export async function discardProblems(result: VerifyResult, registry: Registry, roots: Roots): Promise<void> {
  const cache = openCache({ registry, roots });
  const store = cache.store(result.model);
  const [manifest] = await cache.manifests(result.model);
  if (!manifest) return;
  for (const p of result.problems) {
    const f = manifest.files.find((x) => x.path === p.path);
    if (!f) continue;
    await rm(store.blobPath({ ...f, url: "" }), { force: true });
    await rm(store.consumerPath(manifest.commit, f.path), { force: true });
  }
}

/** Every model this tool completed under the roots (from the manifests), for `verify` without arguments. */
export async function modelsOnDisk(registry: Registry, roots: Roots): Promise<ModelRequest[]> {
  // Listing a refused root is as much an error as reading it.
  rootFor(roots, "huggingface");
  rootFor(roots, "modelscope");
  if (registry.all().some((d) => (d.layout ?? "plain") === "plain")) rootFor(roots, "plain");
  return openCache({ registry, roots }).requests();
}
