import { readdir, rm } from "node:fs/promises";
import type { Dirent } from "node:fs";
import { join } from "node:path";
import pLimit from "p-limit";
import type { Registry } from "../sources/index.ts";
import { rootFor, type Roots } from "./roots.ts";
import type { ModelRequest, ResolvedFile } from "../types.ts";
import { manifestsFor, readManifest } from "./manifest.ts";
import { openStore } from "./layouts/index.ts";
import { requestKey } from "../util/index.ts";
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

/**
 * Re-hash what the manifests say is on disk (sha256, git sha1, or at least the size) and list every missing or
 * corrupt file. Reads local files only.
 */
export async function verifyModels(
  models: ModelRequest[],
  registry: Registry,
  roots: Roots,
  onResult?: (r: VerifyResult) => void,
): Promise<VerifyResult[]> {
  const hashing = pLimit(4);
  const results: VerifyResult[] = [];
  for (const model of models) {
    const store = openStore(registry.get(model.source), model, roots);
    const [manifest] = await manifestsFor(store, model);
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
      if (!(await store.revisionMatches(model, manifest.commit))) problems.push({ path: `refs/${model.revision}`, problem: `does not point at ${manifest.commit}` });
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
  const store = openStore(registry.get(result.model.source), result.model, roots);
  const [manifest] = await manifestsFor(store, result.model);
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
  const found: ModelRequest[] = [];
  const addFrom = async (dir: string) => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith(".json")) continue;
      const m = await readManifest(join(dir, name));
      if (m) found.push({ source: m.source, id: m.id, revision: m.revision, include: m.include, exclude: m.exclude, projects: [] });
    }
  };
  const hubCache = rootFor(roots, "huggingface");
  for (const repo of await readdir(hubCache).catch(() => [] as string[])) {
    if (repo.startsWith("models--")) await addFrom(join(hubCache, repo, ".download-models"));
  }
  // ModelScope: this tool's records folder, and the model directories where older versions kept them (real
  // directories only: the dotted-name and compat links lead to the same manifests).
  const msCache = rootFor(roots, "modelscope");
  for (const [base, inner] of [[join(msCache, ".download-models", "records"), []], [join(msCache, "models"), [".download-models"]]] as const) {
    for (const owner of await readdir(base, { withFileTypes: true }).catch(() => [] as Dirent[])) {
      if (!owner.isDirectory()) continue;
      for (const name of await readdir(join(base, owner.name), { withFileTypes: true }).catch(() => [] as Dirent[])) {
        if (name.isDirectory()) await addFrom(join(base, owner.name, name.name, ...inner));
      }
    }
  }
  for (const d of registry.all().filter((x) => (x.layout ?? "plain") === "plain")) {
    const base = join(rootFor(roots, "plain"), d.name);
    for (const org of await readdir(base).catch(() => [] as string[])) {
      for (const name of await readdir(join(base, org)).catch(() => [] as string[])) await addFrom(join(base, org, name, ".download-models"));
      await addFrom(join(base, org, ".download-models"));
    }
  }
  const seen = new Set<string>();
  return found.filter((m) => {
    const key = requestKey(m);
    if (seen.has(key) || !registry.names().includes(m.source)) return false;
    seen.add(key);
    return true;
  });
}
