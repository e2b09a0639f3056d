import type { Project } from "../project.ts";
import type { Registry } from "../registry.ts";
import type { ModelRequest } from "../types.ts";
import { UsageError } from "../errors.ts";
import { guessSource, parseModelRef } from "../model-id.ts";
import { dedupe, projectModels, toRequest } from "../requests.ts";

export interface Selection {
  ids: string[];
  all?: boolean;
  project?: string[];
  source?: string;
  revision?: string;
  include?: string[];
  exclude?: string[];
}

/** `--project a,b --project c` → [a, b, c] */
export function splitNames(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

/**
 * Models named on the command line: prefix (`hf:`) or `--source`, else ModelScope for its known owners (`iic/…`,
 * `damo/…`) and HuggingFace for the rest; `@rev` or `--revision`, and the filters.
 */
export function commandLineModels(sel: Selection, registry: Registry): ModelRequest[] {
  return sel.ids.map((ref) => {
    const parsed = parseModelRef(ref);
    return toRequest(
      {
        id: parsed.id,
        ...(parsed.source ?? sel.source ? { source: parsed.source ?? sel.source } : {}),
        ...(parsed.revision ?? sel.revision ? { revision: parsed.revision ?? sel.revision } : {}),
        ...(sel.include ? { include: sel.include } : {}),
        ...(sel.exclude ? { exclude: sel.exclude } : {}),
      },
      registry,
      { source: guessSource(parsed.id) },
    );
  });
}

/** The projects `--all` / `--project` pick; an unknown name lists the ones that exist. */
export function pickProjects(projects: Project[], sel: Selection): Project[] {
  if (sel.all) return projects;
  const names = splitNames(sel.project);
  const unknown = names.filter((n) => !projects.some((p) => p.name === n));
  if (unknown.length > 0) {
    const available = projects.map((p) => p.name).join(", ") || "none (the projects folder is empty)";
    throw new UsageError(`Unknown project${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. Available: ${available}`);
  }
  return projects.filter((p) => names.includes(p.name));
}

export function selectModels(sel: Selection, projects: Project[] | undefined, registry: Registry): ModelRequest[] {
  const fromProjects = projects ? projectModels(pickProjects(projects, sel), registry) : [];
  return dedupe([...fromProjects, ...commandLineModels(sel, registry)]);
}
