import { resolve } from "node:path";
import { requestKey } from "../util/index.ts";
import type { Downloader } from "../sources/index.ts";
import type { Project } from "./project.ts";
import type { Registry } from "../sources/index.ts";
import type { ModelRequest, ModelSpec } from "../types.ts";

/** Apply defaults: canonical source name, the downloader's default revision, empty filters. */
export function toRequest(spec: ModelSpec, registry: Registry, defaults: { source: string; project?: string }): ModelRequest {
  const downloader: Downloader = registry.get(spec.source ?? defaults.source);
  return {
    source: downloader.name,
    id: spec.id,
    revision: spec.revision ?? downloader.defaultRevision ?? "main",
    include: [...(spec.include ?? [])],
    exclude: [...(spec.exclude ?? [])],
    projects: defaults.project ? [defaults.project] : [],
    ...(spec.localDir ? { localDir: resolve(spec.localDir) } : {}),
  };
}

/** One request per distinct (source, id, revision, filters): a model declared by several projects is fetched once. */
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
      p.models.map((m) => toRequest(m, registry, { source: p.source ?? "huggingface", project: p.name })),
    ),
  );
}
