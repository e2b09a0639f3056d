import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Registry } from "../sources/index.ts";
import { rootFor, type Env, type Roots } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { RootError, UsageError } from "../errors.ts";
import { layoutOf } from "../store/index.ts";

const MEANING: Record<string, string> = {
  EROFS: "the filesystem is read-only",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a file stands where a folder is needed",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is used up",
};

/**
 * Why this tool cannot write under `dir`, or undefined when it can: the directory, or the nearest part of it that
 * exists, must be a directory this process may write to. Reads only: nothing is created to find out.
 */
export async function rootProblem(dir: string): Promise<string | undefined> {
  let existing = dir;
  for (;;) {
    try {
      const st = await stat(existing);
      if (!st.isDirectory()) return `${existing} is not a directory (${MEANING.ENOTDIR})`;
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: a file stands somewhere above; walking up finds and names it.
      if ((code !== "ENOENT" && code !== "ENOTDIR") || dirname(existing) === existing) return `${existing}: ${MEANING[code ?? ""] ?? (error as Error).message}`;
      existing = dirname(existing);
    }
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    const what = existing === dir ? dir : `${dir} cannot be created in ${existing}`;
    return `${what}: ${MEANING[code] ?? (error as Error).message} (${code})`;
  }
  return undefined;
}

export interface PreflightParams {
  models: ModelRequest[];
  registry: Registry;
  roots: Roots;
  env: Env;
  /** The run writes (not a dry run): the roots it writes to are checked too. */
  write: boolean;
}

/**
 * Everything that can be known wrong before the first network request: each selected source's settings (endpoint
 * variables) and each root the selection writes to (refused here, not a directory, not writable). Exit 2.
 */
export async function preflight({ models, registry, roots, env, write }: PreflightParams): Promise<void> {
  const downloaders = [...new Set(models.map((m) => registry.get(m.source)))];
  const settings = downloaders.map((d) => d.checkEnv?.(env)).filter((p): p is string => Boolean(p));
  if (settings.length > 0) throw new UsageError(settings.join("\n"));
  const problems: string[] = [];
  const inCaches = models.filter((m) => !m.localDir);
  const dirs = [
    ...new Set(inCaches.map((m) => layoutOf(registry.get(m.source)))),
  ].map((layout) => rootFor(roots, layout));
  dirs.push(...models.flatMap((m) => (m.localDir ? [m.localDir] : [])));
  for (const dir of write ? new Set(dirs) : []) {
    const problem = await rootProblem(dir);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) {
    throw new RootError(`Cannot write the downloads: ${[...new Set(problems)].join("; ")}. Choose another --root, or fix the folder's permissions.`);
  }
}
