import type { Env } from "../roots.ts";
import { resolveRoots } from "../roots.ts";
import { loadProjects } from "../project.ts";
import { loadRegistry } from "../registry.ts";
import { findComplete } from "../manifest.ts";
import { openStore } from "../layouts/index.ts";
import { UsageError } from "../errors.ts";
import { downloaderDirs, projectDirs, type DirOptions } from "./context.ts";
import type { Output } from "./reporter.ts";
import { selectModels, splitNames, type Selection } from "./select.ts";

export interface PathOptions extends Selection, DirOptions {
  root?: string;
  json?: boolean;
}

/**
 * `download-models path <id>`: the directory a consumer passes to `from_pretrained(dir)` / `pipeline(model=dir)`
 * (HF: `snapshots/<commit>`; ModelScope: the model directory), one per line in the order asked. Reads local files
 * only; a model that is not complete on this root is an error, so a script never gets a half-filled directory.
 */
export async function pathCommand(o: PathOptions, io: Output, env: Env): Promise<number> {
  const usesProjects = Boolean(o.all || splitNames(o.project).length);
  if (!usesProjects && o.ids.length === 0) throw new UsageError("Name the models: download-models path org/name [more ids], or --project NAME / --all.");
  const registry = await loadRegistry(downloaderDirs(o, env));
  const projects = usesProjects ? await loadProjects(projectDirs(o, env), registry.names()) : undefined;
  const models = selectModels(o, projects, registry);
  const roots = resolveRoots({ ...(o.root ? { root: o.root } : {}), env });
  const rows = await Promise.all(
    models.map(async (m) => {
      const downloader = registry.get(m.source);
      const store = openStore(downloader, m, roots);
      const manifest = await findComplete(store, m);
      // The short prefix (`hf:`, `ms:`) for the command to run when the model is not complete.
      const ref = `${downloader.aliases?.[0] ?? downloader.name}:${m.id}@${m.revision}`;
      return { m, ref, modelDir: store.modelDir, path: manifest ? store.snapshotDir(manifest.commit) : undefined };
    }),
  );
  if (o.json) {
    io.out(JSON.stringify(rows.map(({ m, path }) => ({ source: m.source, id: m.id, revision: m.revision, complete: Boolean(path), ...(path ? { path } : {}) })), null, 2));
  } else {
    for (const { m, ref, modelDir, path } of rows) {
      // Models picked by project are labelled; ids the user named come back bare, in the order asked.
      if (path) io.out(usesProjects ? `${m.source}:${m.id}@${m.revision}\t${path}` : path);
      else io.err(`${m.source} ${m.id}@${m.revision} is not downloaded (completely) at ${modelDir}. Run: download-models ${ref}${o.root ? ` --root ${o.root}` : ""}`);
    }
  }
  return rows.every((r) => r.path) ? 0 : 1;
}
