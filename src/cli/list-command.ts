import type { Env, Roots } from "../store/index.ts";
import { dedupe, toRequest } from "../select/index.ts";
import { requestKey } from "../util/index.ts";
import { openCache, type Cache } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { loadSelection, projectDirs, type PluginDirs } from "../select/index.ts";
import type { Output } from "./reporter.ts";

async function completeOnDisk(model: ModelRequest, cache: Cache | undefined): Promise<boolean | undefined> {
  if (!cache) return undefined;
  try {
    return Boolean(await cache.complete(model));
  } catch {
    return undefined;
  }
}

export async function listCommand(options: PluginDirs & { root?: string; json?: boolean }, io: Output, env: Env): Promise<number> {
  const selected = await loadSelection({ ...options, ids: [], env, loadAllProjects: true });
  const { registry } = selected;
  const projects = selected.projects ?? [];
  // In a Pod without a volume list still works, without the on-disk column.
  const roots: Roots | undefined = Object.keys(selected.roots.refused).length > 0 ? undefined : selected.roots;
  const cache = roots && openCache({ registry, roots });
  const rows = await Promise.all(
    projects.map(async (project) => {
      const models = project.models.map((m) => toRequest(m, registry, { source: project.source ?? "huggingface", project: project.name }));
      return { project, models: await Promise.all(models.map(async (m) => ({ m, complete: await completeOnDisk(m, cache) }))) };
    }),
  );
  const all = rows.flatMap((r) => r.models.map((x) => x.m));
  const distinct = dedupe(all);
  if (options.json) {
    io.out(JSON.stringify({
      projects: rows.map((r) => ({
        name: r.project.name, file: r.project.file, description: r.project.description,
        models: r.models.map(({ m, complete }) => ({ source: m.source, id: m.id, revision: m.revision, include: m.include, exclude: m.exclude, complete })),
      })),
      totalModels: all.length,
      distinctModels: distinct.length,
    }, null, 2));
    return 0;
  }
  for (const { project, models } of rows) {
    io.out(`${project.name}${project.description ? ` - ${project.description}` : ""}`);
    const bySource = new Map<string, typeof models>();
    for (const x of models) bySource.set(x.m.source, [...(bySource.get(x.m.source) ?? []), x]);
    for (const [source, items] of bySource) {
      io.out(`  ${source}:`);
      for (const { m, complete } of items) {
        const filters = [m.include.length ? `include ${m.include.join(" ")}` : "", m.exclude.length ? `exclude ${m.exclude.join(" ")}` : ""].filter(Boolean).join("; ");
        const mark = complete === undefined ? "" : complete ? "  [complete]" : "  [missing]";
        io.out(`    ${m.id}@${m.revision}${filters ? `  (${filters})` : ""}${mark}`);
      }
    }
  }
  if (projects.length === 0) io.out(`No project files in ${projectDirs(options, env).join(", ")}: \`download-models init\` writes one.`);
  const shared = all.length - distinct.length;
  // Of the distinct models: how many are complete on this root, how many a download would still fetch.
  const state = new Map(rows.flatMap((r) => r.models).map(({ m, complete }) => [requestKey(m), complete]));
  const complete = [...state.values()].filter((c) => c === true).length;
  const onDisk = roots ? `; ${complete} complete on disk, ${state.size - complete} would be downloaded` : "";
  io.out(`${projects.length} project${projects.length === 1 ? "" : "s"}, ${all.length} model declaration${all.length === 1 ? "" : "s"}, ${distinct.length} distinct model${distinct.length === 1 ? "" : "s"} to download${shared ? ` (${shared} shared between projects, fetched once)` : ""}${onDisk}`);
  return 0;
}
