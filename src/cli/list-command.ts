import type { Env } from "../roots.ts";
import { resolveRoots, type Roots } from "../roots.ts";
import { loadProjects } from "../project.ts";
import { loadRegistry, type Registry } from "../registry.ts";
import { dedupe, toRequest } from "../requests.ts";
import { findComplete } from "../manifest.ts";
import { openStore } from "../layouts/index.ts";
import type { ModelRequest } from "../types.ts";
import { downloaderDirs, projectDirs, type DirOptions } from "./context.ts";
import type { Output } from "./reporter.ts";

async function completeOnDisk(m: ModelRequest, registry: Registry, roots: Roots | undefined): Promise<boolean | undefined> {
  if (!roots) return undefined;
  try {
    return Boolean(await findComplete(openStore(registry.get(m.source), m, roots), m));
  } catch {
    return undefined;
  }
}

export async function listCommand(o: DirOptions & { root?: string; json?: boolean }, io: Output, env: Env): Promise<number> {
  const registry = await loadRegistry(downloaderDirs(o, env));
  const projects = await loadProjects(projectDirs(o, env), registry.names());
  // In a Pod without a volume list still works, without the on-disk column.
  const resolved = resolveRoots({ ...(o.root ? { root: o.root } : {}), env });
  const roots: Roots | undefined = Object.keys(resolved.refused).length > 0 ? undefined : resolved;
  const rows = await Promise.all(
    projects.map(async (p) => {
      const models = p.models.map((m) => toRequest(m, registry, { source: p.source ?? "huggingface", project: p.name }));
      return { project: p, models: await Promise.all(models.map(async (m) => ({ m, complete: await completeOnDisk(m, registry, roots) }))) };
    }),
  );
  const all = rows.flatMap((r) => r.models.map((x) => x.m));
  const distinct = dedupe(all);
  if (o.json) {
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
  const shared = all.length - distinct.length;
  io.out(`${projects.length} project${projects.length === 1 ? "" : "s"}, ${all.length} model declaration${all.length === 1 ? "" : "s"}, ${distinct.length} distinct model${distinct.length === 1 ? "" : "s"} to download${shared ? ` (${shared} shared between projects, fetched once)` : ""}`);
  return 0;
}
