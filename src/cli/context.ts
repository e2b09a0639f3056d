import { join, resolve } from "node:path";
import type { Env } from "../roots.ts";
import { packageRoot } from "../package-root.ts";

export { packageRoot };

export interface DirOptions {
  projectsDir?: string[];
  downloadersDir?: string[];
}

function fromEnv(value: string | undefined): string[] | undefined {
  const dirs = value?.split(":").filter(Boolean);
  return dirs && dirs.length > 0 ? dirs : undefined;
}

/** `--projects-dir` (repeatable), else `DOWNLOAD_MODELS_PROJECTS` (`:`-separated), else the package's `projects/`. */
export function projectDirs(o: DirOptions, env: Env): string[] {
  return (o.projectsDir?.length ? o.projectsDir : fromEnv(env.DOWNLOAD_MODELS_PROJECTS) ?? [join(packageRoot, "projects")]).map((d) => resolve(d));
}

/** `--downloaders-dir` (repeatable), else `DOWNLOAD_MODELS_DOWNLOADERS`, else the package's `downloaders/`. */
export function downloaderDirs(o: DirOptions, env: Env): string[] {
  return (o.downloadersDir?.length ? o.downloadersDir : fromEnv(env.DOWNLOAD_MODELS_DOWNLOADERS) ?? [join(packageRoot, "downloaders")]).map((d) => resolve(d));
}
