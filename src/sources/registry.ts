import { join, resolve } from "node:path";
import { packageRoot } from "../util/index.ts";
import type { Downloader } from "./downloader.ts";
import { ConfigError, UsageError } from "../errors.ts";
import { displayPath, importDefault, lazy, listPluginFiles, loadInWorker, zod } from "../util/index.ts";
import huggingface from "../../downloaders/huggingface.ts";
import modelscope from "../../downloaders/modelscope.ts";

// The built-ins live in downloaders/ beside the users' files; they are imported above, not loaded again.
const BUILTIN_FILES = ["huggingface.ts", "modelscope.ts"].map((n) => join(packageRoot, "downloaders", n));

export const builtinDownloaders = [huggingface, modelscope] as const satisfies readonly Downloader[];

export interface Registry {
  /** Canonical names, then aliases: everything `source` may say. */
  names(): string[];
  /** The downloader for a name or alias; throws a UsageError that lists the names that exist. */
  get(name: string): Downloader;
  /** Canonical downloaders, built-ins first. */
  all(): Downloader[];
}

export function createRegistry(downloaders: readonly Downloader[]): Registry {
  const byName = new Map<string, Downloader>();
  for (const d of downloaders) for (const n of [d.name, ...(d.aliases ?? [])]) byName.set(n, d);
  return {
    names: () => [...byName.keys()],
    all: () => [...new Set(byName.values())],
    get(name) {
      const found = byName.get(name);
      if (!found) throw new UsageError(`Unknown source "${name}". Available: ${[...byName.keys()].join(", ")}`);
      return found;
    },
  };
}

// Built on first use: importing sources/ (every command and the public API do) does not load zod by itself.
const downloaderShape = lazy(() => {
  const z = zod();
  return z.object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, { error: "use lowercase letters, digits, \"_\" and \"-\"" }),
    aliases: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/)).optional(),
    layout: z.enum(["huggingface", "modelscope", "plain"]).optional(),
    defaultRevision: z.string().min(1).optional(),
    tokenEnv: z.array(z.string()).optional(),
    resolve: z.custom<Downloader["resolve"]>((v) => typeof v === "function", {
      error: "expected a function resolve(model, ctx) that returns the snapshot",
    }),
    describeError: z.custom((v) => typeof v === "function", { error: "expected a function" }).optional(),
    fromLock: z.custom((v) => typeof v === "function", { error: "expected a function" }).optional(),
    checkEnv: z.custom((v) => typeof v === "function", { error: "expected a function" }).optional(),
  });
});

/**
 * Built-ins plus every `downloaders/*.ts` that default-exports `defineDownloader(...)`.
 * The built-in files live in the same folder and are recognised, not loaded twice.
 */
export async function loadRegistry(dirs: string[]): Promise<Registry> {
  const problems: string[] = [];
  const found: Downloader[] = [...builtinDownloaders];
  const taken = new Map<string, string>();
  for (const d of builtinDownloaders) for (const n of [d.name, ...(d.aliases ?? [])]) taken.set(n, "a built-in source");
  const files: string[] = [];
  for (const dir of dirs) files.push(...(await listPluginFiles(dir)).filter((f) => !BUILTIN_FILES.includes(resolve(f))));
  // A downloader holds functions, so it must run in this thread; it is tried in a worker first, where a file that
  // exits or never finishes loading is caught and named instead of ending or hanging the run.
  const tried = files.length ? await loadInWorker(files, { values: false }) : new Map();
  {
    for (const file of files) {
      const shown = displayPath(file);
      const first = tried.get(file)!;
      const loaded = "problem" in first ? first : await importDefault(file);
      if ("problem" in loaded) {
        problems.push(loaded.syntax ? loaded.problem : `${shown}: ${loaded.problem}${loaded.noDefault ? "; it must `export default defineDownloader({ name, resolve })`" : ""}`);
        continue;
      }
      const parsed = downloaderShape().safeParse(loaded.value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) problems.push(`${shown}: ${issue.path.join(".") || "export"}: ${issue.message}`);
        continue;
      }
      const downloader = loaded.value as Downloader;
      for (const n of [downloader.name, ...(downloader.aliases ?? [])]) {
        const owner = taken.get(n);
        if (owner) problems.push(`${shown}: name "${n}" is already ${owner}`);
        taken.set(n, `used by ${shown}`);
      }
      found.push(downloader);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, "Found problems in the downloaders:");
  return createRegistry(found);
}
