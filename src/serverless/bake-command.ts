import { parseArgs } from "node:util";
import { loadProjects } from "../project.ts";
import { loadRegistry } from "../registry.ts";
import type { Env } from "../roots.ts";
import { UsageError } from "../errors.ts";
import { formatBytes } from "../format.ts";
import { downloaderDirs, projectDirs } from "../cli/context.ts";
import type { Output } from "../cli/reporter.ts";
import { selectModels, splitNames } from "../cli/select.ts";
import { bake } from "./bake.ts";

const USAGE = "usage: bake --from DIR --to DIR (--all | --project NAME...) [--projects-dir DIR]... [--downloaders-dir DIR]... [--note TEXT]...";

/**
 * `serverless/bake.js`: the builder stage's last step. Copies the selected projects' models, complete, from the
 * download root (a build cache mount) to the image root and records them for `download-models-check`.
 */
export async function bakeCommand(argv: string[], io: Output, env: Env): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      all: { type: "boolean" },
      project: { type: "string", multiple: true },
      "projects-dir": { type: "string", multiple: true },
      "downloaders-dir": { type: "string", multiple: true },
      note: { type: "string", multiple: true },
    },
  });
  const projectNames = splitNames(values.project);
  if (!values.from || !values.to || (!values.all && projectNames.length === 0)) throw new UsageError(USAGE);
  const dirs = { projectsDir: values["projects-dir"] ?? [], downloadersDir: values["downloaders-dir"] ?? [] };
  const registry = await loadRegistry(downloaderDirs(dirs, env));
  const projects = await loadProjects(projectDirs(dirs, env), registry.names());
  const models = selectModels({ ids: [], all: Boolean(values.all), project: projectNames }, projects, registry);
  if (models.length === 0) throw new UsageError("The selected projects declare no models.");
  const baked = await bake({ models, registry, from: values.from, to: values.to, env, header: values.note ?? [] });
  for (const b of baked) io.out(`baked  ${b.source}  ${b.id}@${b.revision}  ${b.commit}  ${b.files} files, ${formatBytes(b.bytes)}  ${b.path}`);
  const bytes = baked.reduce((n, b) => n + b.bytes, 0);
  io.out(`Baked ${baked.length} model${baked.length === 1 ? "" : "s"} (${formatBytes(bytes)}) into ${values.to}`);
  return 0;
}
