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

let tsxLoader: Promise<typeof import("tsx/esm/api")> | undefined;

/** tsx compiles plugin files on import; loaded only when there is a plugin to load (it costs ~35 MB). */
function tsx(): Promise<typeof import("tsx/esm/api")> {
  tsxLoader ??= import("tsx/esm/api").then((api) => {
    // Running from the compiled dist/ there is no TypeScript loader yet; from src/ (tsx, vitest) there is.
    if (import.meta.url.endsWith(".js")) api.register();
    return api;
  });
  return tsxLoader;
}

async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  const { tsImport } = await tsx();
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    // A .ts file outside any `"type": "module"` package is compiled as CommonJS by the tsx loader, and Node
    // refuses it as require(esm). tsImport compiles it as a module wherever it lives; the exports then sit
    // one level down (`__esModule` interop).
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ERR_REQUIRE_CYCLE_MODULE" && code !== "ERR_REQUIRE_ESM") throw error;
    const ns = (await tsImport(url, import.meta.url)) as { default?: Record<string, unknown> & { __esModule?: boolean } };
    return ns.default?.__esModule ? ns.default : (ns as Record<string, unknown>);
  }
}

/** Import a plugin module and return its default export, or a readable reason it could not be loaded. */
export async function importDefault(file: string): Promise<{ value: unknown } | { problem: string; syntax?: boolean }> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(file);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    // A syntax error: the compiler says where ("<file>:12:7: ERROR: Expected "}" but found "]"") on a later line.
    const located = /^(.*?):(\d+):(\d+): ERROR: (.*)$/m.exec(text);
    if (located) return { syntax: true, problem: `${displayPath(located[1]!)}:${located[2]}:${located[3]}: ${located[4]}` };
    return { problem: `failed to load: ${text.split("\n")[0]!}` };
  }
  if (mod.default === undefined) return { problem: "has no default export" };
  return { value: mod.default };
}
