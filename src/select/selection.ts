import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Project } from "./project.ts";
import { loadProjects } from "./project.ts";
import { loadRegistry, type Registry } from "../sources/index.ts";
import { resolveRoots, rootFor, type Env, type Roots } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { UsageError } from "../errors.ts";
import { guessSource, parseModelRef } from "../sources/index.ts";
import { dedupe, projectModels, toRequest } from "./requests.ts";
import { layoutOf } from "../store/index.ts";
import { packageRoot } from "../util/index.ts";

/** What a command line picks: model ids (with their source, revision and filters) and/or projects. */
export interface Selection {
  ids: string[];
  all?: boolean;
  project?: string[];
  source?: string;
  revision?: string;
  include?: string[];
  exclude?: string[];
  /** `--local-dir DIR`: the one model id on the command line goes to DIR as a plain folder. */
  localDir?: string;
}

/** Where plugins are loaded from. */
export interface PluginDirs {
  projectsDir?: string[];
  downloadersDir?: string[];
}

/** `--project a,b --project c` → [a, b, c] */
export function splitNames(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

/** Does the selection name projects (`--all` or `--project`)? */
export function usesProjects(selection: Selection): boolean {
  return Boolean(selection.all || splitNames(selection.project).length);
}

function fromEnv(value: string | undefined): string[] | undefined {
  const dirs = value?.split(":").filter(Boolean);
  return dirs && dirs.length > 0 ? dirs : undefined;
}

/** `--projects-dir` (repeatable), else `DOWNLOAD_MODELS_PROJECTS` (`:`-separated), else the package's `projects/`. */
/** A `--projects-dir` / `--downloaders-dir` the user named must exist: an empty selection would hide the typo. */
function requireFolders(dirs: string[], flag: string): void {
  for (const dir of dirs) {
    if (!existsSync(dir)) throw new UsageError(`${flag} ${dir}: no such folder.`);
    if (!statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: not a folder.`);
  }
}

export function projectDirs(dirs: PluginDirs, env: Env): string[] {
  return (dirs.projectsDir?.length ? dirs.projectsDir : fromEnv(env.DOWNLOAD_MODELS_PROJECTS) ?? [join(packageRoot, "projects")]).map((d) => resolve(d));
}

/** `--downloaders-dir` (repeatable), else `DOWNLOAD_MODELS_DOWNLOADERS`, else the package's `downloaders/`. */
export function downloaderDirs(dirs: PluginDirs, env: Env): string[] {
  return (dirs.downloadersDir?.length ? dirs.downloadersDir : fromEnv(env.DOWNLOAD_MODELS_DOWNLOADERS) ?? [join(packageRoot, "downloaders")]).map((d) => resolve(d));
}

/**
 * Models named on the command line: prefix (`hf:`) or `--source`, else ModelScope for its known owners (`iic/…`,
 * `damo/…`) and HuggingFace for the rest; `@rev` or `--revision`, and the filters.
 */
export function commandLineModels(selection: Selection, registry: Registry): ModelRequest[] {
  if (selection.localDir && selection.ids.length !== 1) {
    throw new UsageError(`--local-dir takes exactly one model id (got ${selection.ids.length}): one folder holds one model's files.`);
  }
  return selection.ids.map((ref) => {
    const parsed = parseModelRef(ref);
    return toRequest(
      {
        id: parsed.id,
        ...(parsed.source ?? selection.source ? { source: parsed.source ?? selection.source } : {}),
        ...(parsed.revision ?? selection.revision ? { revision: parsed.revision ?? selection.revision } : {}),
        ...(selection.include ? { include: selection.include } : {}),
        ...(selection.exclude ? { exclude: selection.exclude } : {}),
        ...(selection.localDir ? { localDir: selection.localDir } : {}),
      },
      registry,
      { source: guessSource(parsed.id) },
    );
  });
}

/** The projects `--all` / `--project` pick; an unknown name lists the ones that exist. */
export function pickProjects(projects: Project[], selection: Selection): Project[] {
  const names = splitNames(selection.project);
  if (selection.all && names.length > 0) {
    throw new UsageError("--all already selects every project: give either --all or --project NAME, not both.");
  }
  if (selection.all) return projects;
  const unknown = names.filter((n) => !projects.some((p) => p.name === n));
  if (unknown.length > 0) {
    const available = projects.map((p) => p.name).join(", ") || "none (the projects folder is empty)";
    // `--project tts org/x`: the flag takes every word after it, so a model id lands among the project names.
    const ids = unknown.filter((n) => n.includes("/"));
    const hint = ids.length
      ? ` ${ids.join(", ")} looks like a model id: --project takes every word after it, so put model ids before --project, or write --project=${names.find((n) => !n.includes("/")) ?? "NAME"}.`
      : "";
    throw new UsageError(`Unknown project${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. Available: ${available}.${hint}`);
  }
  return projects.filter((p) => names.includes(p.name));
}

/** The picked projects' models and the ids, each distinct request once. */
export function selectModels(selection: Selection, projects: Project[] | undefined, registry: Registry): ModelRequest[] {
  const fromProjects = projects ? projectModels(pickProjects(projects, selection), registry) : [];
  return dedupe([...fromProjects, ...commandLineModels(selection, registry)]);
}

export interface LoadSelectionOptions extends Selection, PluginDirs {
  /** `--root DIR`; without it the roots are resolved from the environment. */
  root?: string;
  env: Env;
  /** Load the project files even when the selection names no project (`list`, which shows them all). */
  loadAllProjects?: boolean;
  /** An empty selection is a usage error (download, bake). */
  requireModels?: boolean;
  /** Raise a refused root (a Pod without a volume) for any selected model now, before any request. */
  requireRoots?: boolean;
}

export interface LoadedSelection {
  registry: Registry;
  /** The loaded project files; undefined when none were needed. */
  projects: Project[] | undefined;
  models: ModelRequest[];
  roots: Roots;
}

/** The set-up every command shares: registry (built-in and plugin downloaders), projects, the selected models, roots. */
export async function loadSelection(options: LoadSelectionOptions): Promise<LoadedSelection> {
  requireFolders((options.projectsDir ?? []).map((d) => resolve(d)), "--projects-dir");
  requireFolders((options.downloadersDir ?? []).map((d) => resolve(d)), "--downloaders-dir");
  const registry = await loadRegistry(downloaderDirs(options, options.env));
  const projects = options.loadAllProjects || usesProjects(options) ? await loadProjects(projectDirs(options, options.env), registry.names()) : undefined;
  const models = selectModels(options, projects, registry);
  if (options.requireModels && models.length === 0) throw new UsageError("The selected projects declare no models.");
  const roots = resolveRoots({ ...(options.root ? { root: options.root } : {}), env: options.env });
  if (options.requireRoots) for (const m of models) if (!m.localDir) rootFor(roots, layoutOf(registry.get(m.source)));
  return { registry, projects, models, roots };
}
