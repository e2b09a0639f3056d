import type { ModelSpec } from "../types.ts";
import { idProblem } from "../sources/index.ts";
import { ConfigError } from "../errors.ts";
import { displayPath, lazy, listPluginFiles, loadInWorker, zod, type Loaded } from "../util/index.ts";

/** A project plugin: the models one service needs. */
export interface ProjectConfig {
  /** Unique project name, used with `--project`. Letters, digits, `.`, `_`, `-`. */
  name: string;
  /** One line shown by `download-models list`. */
  description?: string;
  /** Source for models that do not name one. @default "huggingface" */
  source?: string;
  models: ModelSpec[];
}

export interface Project extends ProjectConfig {
  /** The plugin file it came from. */
  file: string;
}


/** Built at the first validation: a run that loads no project does not load zod. */
const projectSchema = lazy(() => {
  const z = zod();
  const patterns = z
    .union([z.string(), z.array(z.string())], { error: "expected a pattern or a list of patterns" })
    .transform((v) => (typeof v === "string" ? [v] : v))
    .pipe(z.array(z.string().min(1, { error: "empty pattern" })));

  const modelSchema = z.strictObject({
    source: z.string().min(1, { error: "empty source" }).optional(),
    id: z.string({ error: 'expected a repository id such as "org/name"' }).superRefine((id, ctx) => {
      const problem = idProblem(id);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    revision: z.string().min(1, { error: "empty revision; leave it out for the default branch" }).optional(),
    include: patterns.optional(),
    exclude: patterns.optional(),
    localDir: z.string().min(1, { error: "empty localDir; leave it out to use the cache" }).optional(),
  });

  return z.strictObject({
    name: z
      .string({ error: "expected a project name" })
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'use letters, digits, ".", "_" and "-"' }),
    description: z.string().optional(),
    source: z.string().min(1).optional(),
    models: z.array(modelSchema, { error: "expected a list of models" }),
  });
});

function pathLabel(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

/** Validate one plugin's default export. Returns the project or every problem, each as `file: path: message`. */
export function validateProject(value: unknown, file: string): { project: Project } | { problems: string[] } {
  const shown = displayPath(file);
  const parsed = projectSchema().safeParse(value);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((issue) => {
        const where = pathLabel(issue.path);
        return `${shown}: ${where ? `${where}: ` : ""}${issue.message}`;
      }),
    };
  }
  return { project: { ...(parsed.data as ProjectConfig), file } };
}

/**
 * Load every project plugin of the directories, validate all of them, and report every problem at once.
 * `knownSources` checks each model's source (phase two, after the shape).
 */
export async function loadProjects(dirs: string[], knownSources: readonly string[]): Promise<Project[]> {
  const problems: string[] = [];
  const projects: Project[] = [];
  const byName = new Map<string, string>();
  const files: string[] = [];
  for (const dir of dirs) files.push(...(await listPluginFiles(dir)));
  // Projects are data: they load in a worker, where a file that exits or never finishes is caught and named.
  const all = files.length ? await loadInWorker(files, { values: true }) : new Map<string, Loaded>();
  {
    for (const file of files) {
      const loaded = all.get(file)!;
      if ("problem" in loaded) {
        // A syntax error is the compiler's own message and place; "it must export" fits only a file with no export.
        problems.push(loaded.syntax ? loaded.problem : `${displayPath(file)}: ${loaded.problem}${loaded.noDefault ? "; it must `export default defineProject({ name, models })`" : ""}`);
        continue;
      }
      const result = validateProject(loaded.value, file);
      if ("problems" in result) {
        problems.push(...result.problems);
        continue;
      }
      const { project } = result;
      const clash = byName.get(project.name);
      if (clash) problems.push(`${displayPath(file)}: name: project "${project.name}" is also defined in ${clash}`);
      byName.set(project.name, displayPath(file));
      const sources = (m: ModelSpec) => m.source ?? project.source ?? "huggingface";
      for (const [i, model] of project.models.entries()) {
        const source = sources(model);
        if (!knownSources.includes(source)) {
          const field = model.source ? `models[${i}].source` : "source";
          problems.push(`${displayPath(file)}: ${field}: unknown source "${source}"; available: ${knownSources.join(", ")}`);
        }
      }
      projects.push(project);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return projects;
}
