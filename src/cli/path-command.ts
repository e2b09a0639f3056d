import type { Env } from "../store/index.ts";
import { findComplete } from "../store/index.ts";
import { openStore } from "../store/index.ts";
import { UsageError } from "../errors.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import type { Output } from "./reporter.ts";

export interface PathOptions extends Selection, PluginDirs {
  root?: string;
  json?: boolean;
}

/**
 * `download-models path <id>`: the directory a consumer passes to `from_pretrained(dir)` / `pipeline(model=dir)`
 * (HF: `snapshots/<commit>`; ModelScope: the model directory), one per line in the order asked. Reads local files
 * only; a model that is not complete on this root is an error, so a script never gets a half-filled directory.
 */
export async function pathCommand(options: PathOptions, io: Output, env: Env): Promise<number> {
  const byProject = usesProjects(options);
  if (!byProject && options.ids.length === 0) throw new UsageError("Name the models: download-models path org/name [more ids], or --project NAME / --all.");
  const { registry, models, roots } = await loadSelection({ ...options, env });
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
  if (options.json) {
    io.out(JSON.stringify(rows.map(({ m, path }) => ({ source: m.source, id: m.id, revision: m.revision, complete: Boolean(path), ...(path ? { path } : {}) })), null, 2));
  } else {
    for (const { m, ref, modelDir, path } of rows) {
      // Models picked by project are labelled; ids the user named come back bare, in the order asked.
      if (path) io.out(byProject ? `${m.source}:${m.id}@${m.revision}\t${path}` : path);
      else io.err(`${m.source} ${m.id}@${m.revision} is not downloaded (completely) at ${modelDir}. Run: download-models ${ref}${options.root ? ` --root ${options.root}` : ""}`);
    }
  }
  return rows.every((r) => r.path) ? 0 : 1;
}
