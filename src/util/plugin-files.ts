import { readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join, relative, isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { InstallationError } from "../errors.ts";

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
    return esModuleExports((await import(url)) as Record<string, unknown>);
  } catch (error) {
    // A .ts file outside any `"type": "module"` package is compiled as CommonJS by the tsx loader. Node 20 refuses
    // it as require(esm); Node 22+ loads it, but its `download-models/define` import, resolved from the file's own
    // folder, is not found. tsImport compiles it as a module wherever it lives and resolves from this package.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ERR_REQUIRE_CYCLE_MODULE" && code !== "ERR_REQUIRE_ESM" && code !== "MODULE_NOT_FOUND") throw error;
    return esModuleExports((await tsImport(url, import.meta.url)) as Record<string, unknown>);
  }
}

/** A module compiled to CommonJS carries its exports one level down, marked `__esModule`: unwrap them. */
function esModuleExports(ns: Record<string, unknown>): Record<string, unknown> {
  const inner = ns.default as (Record<string, unknown> & { __esModule?: boolean }) | undefined;
  return inner?.__esModule ? inner : ns;
}

export type Loaded = { value: unknown } | { problem: string; syntax?: boolean; /** The file loaded but exports nothing. */ noDefault?: boolean };

/** Import a plugin module in this thread and return its default export, or a readable reason it could not be loaded. */
export async function importDefault(file: string): Promise<Loaded> {
  let mod: Record<string, unknown>;
  // A plugin that calls process.exit while loading would end the run silently (exit 0 from `list`, a CI pass).
  const exit = process.exit;
  process.exit = ((code?: number) => {
    throw new PluginExitError(code);
  }) as typeof process.exit;
  try {
    mod = await importModule(file);
  } catch (error) {
    if (error instanceof PluginExitError) return { problem: error.message };
    return loadProblem(error);
  } finally {
    process.exit = exit;
  }
  if (mod.default === undefined) return { problem: "has no default export", noDefault: true };
  return { value: mod.default };
}

class PluginExitError extends Error {
  constructor(code?: number) {
    super(`called process.exit(${code ?? ""}) while loading: a plugin file must not end the run`);
  }
}

function loadProblem(error: unknown): { problem: string; syntax?: boolean } {
  const text = error instanceof Error ? error.message : String(error);
  // A syntax error: the compiler says where ("<file>:12:7: ERROR: Expected "}" but found "]"") on a later line.
  const located = /^(.*?):(\d+):(\d+): ERROR: (.*)$/m.exec(text);
  if (located) return { syntax: true, problem: `${displayPath(located[1]!)}:${located[2]}:${located[3]}: ${located[4]}` };
  const missing = /Cannot find (?:package|module) '(download-models)(?:\/[^']*)?'/.exec(text);
  if (missing) {
    return { problem: "cannot import download-models: install it in this repository (npm install --save-dev download-models), so that project files can import download-models/define" };
  }
  return { problem: `failed to load: ${text.split("\n")[0]!}` };
}

/** How long one plugin file may take to load (`DOWNLOAD_MODELS_PLUGIN_TIMEOUT_MS`, default 30 s). */
export function pluginTimeoutMs(env: Record<string, string | undefined> = process.env): number {
  const ms = Number(env.DOWNLOAD_MODELS_PLUGIN_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 30_000;
}

// Runs in a worker thread: imports each file (TypeScript through tsx), reports when it starts and what it got.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { pathToFileURL } = require("node:url");
(async () => {
  const api = await import(workerData.tsx);
  const { register, tsImport } = api.register ? api : api.default;
  register();
  for (const file of workerData.files) {
    parentPort.postMessage({ type: "start", file });
    const url = pathToFileURL(file).href;
    let mod;
    try {
      try {
        mod = await import(url);
        // Node 22+ loads a file compiled to CommonJS with its exports one level down, marked __esModule.
        if (mod.default?.__esModule) mod = mod.default;
      } catch (error) {
        if (error?.code !== "ERR_REQUIRE_CYCLE_MODULE" && error?.code !== "ERR_REQUIRE_ESM" && error?.code !== "MODULE_NOT_FOUND") throw error;
        const ns = await tsImport(url, workerData.parent);
        mod = ns.default?.__esModule ? ns.default : ns;
      }
    } catch (error) {
      parentPort.postMessage({ type: "error", file, message: error instanceof Error ? error.message : String(error) });
      continue;
    }
    if (mod.default === undefined) {
      parentPort.postMessage({ type: "no-default", file });
      continue;
    }
    try {
      parentPort.postMessage({ type: "done", file, value: workerData.values ? mod.default : undefined });
    } catch (error) {
      parentPort.postMessage({ type: "error", file, message: "its default export is not plain data (" + error.message + ")" });
    }
  }
  parentPort.postMessage({ type: "end" });
})().catch((error) => parentPort.postMessage({ type: "fatal", message: error instanceof Error ? error.message : String(error) }));
`;

type WorkerMessage =
  | { type: "start" | "no-default"; file: string }
  | { type: "done"; file: string; value?: unknown }
  | { type: "error"; file: string; message: string }
  | { type: "end" }
  | { type: "fatal"; message: string };

/**
 * Load plugin files in a worker thread, so that a file that ends the process (process.exit) or never finishes
 * loading (an endless loop at import, which no timer in this thread could interrupt) is an error naming the file
 * instead of a silent exit or a hang. The worker is terminated after the files (a plugin's timers cannot hold the
 * run). With `values`, the default exports come back as data (projects); without, only whether each file loads.
 */
export async function loadInWorker(files: readonly string[], options: { values: boolean; timeoutMs?: number }): Promise<Map<string, Loaded>> {
  const results = new Map<string, Loaded>();
  const timeoutMs = options.timeoutMs ?? pluginTimeoutMs();
  let rest = [...files];
  while (rest.length > 0) {
    const before = results.size;
    const stopped = await runWorker(rest, options.values, timeoutMs, results);
    if (stopped === undefined && results.size === before) throw new InstallationError("The plugin loader (a worker running tsx) stopped before loading any file: reinstall download-models (`npm ci`).");
    // The worker ended on a file (exit or timeout): that file is reported, the others load in a fresh worker.
    rest = rest.filter((f) => !results.has(f) && f !== stopped);
  }
  return results;
}

/** tsx's ESM API as a file URL (its CommonJS twin cannot be imported by URL); found through tsx's package.json. */
function tsxEsmApi(): string {
  const manifest = createRequire(import.meta.url).resolve("tsx/package.json");
  const exports = (JSON.parse(readFileSync(manifest, "utf8")) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(join(dirname(manifest), exports["./esm/api"]!.import.default)).href;
}

function runWorker(files: string[], values: boolean, timeoutMs: number, results: Map<string, Loaded>): Promise<string | undefined> {
  const tsxApi = tsxEsmApi();
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { files, values, tsx: tsxApi, parent: import.meta.url }, stdout: false, stderr: false });
    let current: string | undefined;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      // Starting the worker and its TypeScript loader is not the plugin's time: that gets a wider bound.
      const bound = current ? timeoutMs : Math.max(timeoutMs, 30_000);
      timer = setTimeout(() => {
        if (current) results.set(current, { problem: `did not finish loading within ${Math.round(timeoutMs / 100) / 10} s (an endless loop, or a wait at import?)` });
        finish(current);
        if (!current) reject(new InstallationError(`The plugin loader (a worker running tsx) did not start within ${bound} ms: check the machine's load, or reinstall download-models (\`npm ci\`).`));
      }, bound);
    };
    const finish = (stoppedOn: string | undefined) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(stoppedOn);
    };
    arm();
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "start") {
        current = m.file;
        arm();
      } else if (m.type === "done") results.set(m.file, { value: m.value });
      else if (m.type === "no-default") results.set(m.file, { problem: "has no default export", noDefault: true });
      else if (m.type === "error") results.set(m.file, loadProblem(new Error(m.message)));
      else if (m.type === "end") finish(undefined);
      else if (m.type === "fatal") {
        if (!current) {
          finished = true;
          clearTimeout(timer);
          void worker.terminate();
          reject(new InstallationError(`The plugin loader (a worker running tsx) failed: ${m.message}. Reinstall download-models (\`npm ci\`).`));
          return;
        }
        results.set(current, loadProblem(new Error(m.message)));
        finish(current);
      }
    });
    worker.on("error", (error) => {
      // An error thrown later by a plugin's own timer or promise: it belongs to the file being loaded.
      if (current && !results.has(current)) results.set(current, loadProblem(error));
      finish(current);
    });
    worker.on("exit", (code) => {
      if (finished) return;
      if (current && !results.has(current)) results.set(current, { problem: `called process.exit(${code}) while loading: a plugin file must not end the run` });
      finish(current);
    });
  });
}
