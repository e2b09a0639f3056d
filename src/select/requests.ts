import { readdirSync } from "node:fs";
import { basename, dirname, parse, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { requestKey } from "../util/index.ts";
import type { Downloader } from "../sources/index.ts";
import type { Project } from "./project.ts";
import type { Registry } from "../sources/index.ts";
import type { ModelRequest, ModelSpec } from "../types.ts";

/** Apply defaults: canonical source name, the downloader's default revision, empty filters. */
export function toRequest(spec: ModelSpec, registry: Registry, defaults: { source: string; project?: string; file?: string }): ModelRequest {
  const downloader: Downloader = registry.get(spec.source ?? defaults.source);
  return {
    source: downloader.name,
    id: spec.id,
    revision: spec.revision ?? downloader.defaultRevision ?? "main",
    include: [...(spec.include ?? [])],
    exclude: [...(spec.exclude ?? [])],
    projects: defaults.project ? [defaults.project] : [],
    // A project's localDir is relative to its project file (the file moves with its folder), `--local-dir` to the cwd.
    ...(spec.localDir ? { localDir: checkLocalDir(resolve(defaults.file ? dirname(defaults.file) : ".", spec.localDir), spec.id) } : {}),
  };
}

const HUB_REPO = /^(models|datasets|spaces)--/;

/**
 * A local dir is the model's own folder: never the filesystem root (the files would land among the system's), never
 * inside a HuggingFace cache (plain files there break the cache huggingface_hub reads).
 */
export function checkLocalDir(dir: string, id: string): string {
  if (dir === parse(dir).root) throw new UsageError(`--local-dir ${dir} for ${id}: not the filesystem root; give the model a folder of its own, e.g. ./models/${id.split("/").at(-1)}`);
  const entries = (at: string) => {
    try {
      return readdirSync(at, { withFileTypes: true });
    } catch {
      return []; // not there yet: made by the download
    }
  };
  for (let at = dir; ; at = dirname(at)) {
    const cacheRoot = HUB_REPO.test(basename(at)) ? dirname(at) : entries(at).some((e) => e.isDirectory() && HUB_REPO.test(e.name)) ? at : undefined;
    if (cacheRoot) {
      throw new UsageError(
        `--local-dir ${dir} for ${id}: it is inside the HuggingFace cache ${cacheRoot}; a local dir must be a folder of its own ` +
          `(download into the cache without --local-dir, or pick a folder outside ${cacheRoot})`,
      );
    }
    if (dirname(at) === at) break;
  }
  return dir;
}

/** One request per `requestKey` (source, id, revision, filters, local folder): a model several projects declare is fetched once. */
export function dedupe(models: ModelRequest[]): ModelRequest[] {
  const byKey = new Map<string, ModelRequest>();
  for (const m of models) {
    const seen = byKey.get(requestKey(m));
    if (seen) seen.projects = [...new Set([...seen.projects, ...m.projects])];
    else byKey.set(requestKey(m), { ...m, projects: [...m.projects] });
  }
  return [...byKey.values()];
}

/** Every model of the projects, as requests, each distinct one once. */
export function projectModels(projects: Project[], registry: Registry): ModelRequest[] {
  return dedupe(
    projects.flatMap((p) =>
      p.models.map((m) => toRequest(m, registry, { source: p.source ?? "huggingface", project: p.name, file: p.file })),
    ),
  );
}
