import { readdir } from "node:fs/promises";
import { join, relative, isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";

/** How a plugin file is named in messages: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}

/** Plugin files of a directory: `*.ts|*.mts|*.js|*.mjs`, not tests, not `_private` helpers, sorted. Missing dir = none. */
export async function listPluginFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names
    .filter((n) => /\.(ts|mts|js|mjs)$/.test(n) && !/\.(test|spec)\.[mc]?[jt]s$/.test(n) && !n.endsWith(".d.ts"))
    .filter((n) => !n.startsWith("_") && !n.startsWith("."))
    .sort()
    .map((n) => join(dir, n));
}

/** Import a plugin module and return its default export, or a readable reason it could not be loaded. */
export async function importDefault(file: string): Promise<{ value: unknown } | { problem: string }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { problem: `failed to load: ${message}` };
  }
  if (!("default" in mod) || mod.default === undefined) return { problem: "has no default export" };
  return { value: mod.default };
}
