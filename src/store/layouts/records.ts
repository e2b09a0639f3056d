import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { LimitFunction } from "p-limit";
import type { ModelRequest } from "../../types.ts";
import { walk } from "./walk.ts";

// The names of this tool's own files in a store: manifests, and the partial downloads the transfer leaves.

/** The folder name of this tool's records inside a model folder (HF, plain, and older ModelScope stores). */
export const RECORDS = ".download-models";

/** `""` without filters, else `.<12 hex>` of them: requests of one revision with other filters are kept apart. */
export function filtersKey(include: readonly string[], exclude: readonly string[]): string {
  if (include.length === 0 && exclude.length === 0) return "";
  const h = createHash("sha256").update(JSON.stringify([include, exclude])).digest("hex");
  return `.${h.slice(0, 12)}`;
}

/** `<manifestDir>/<revision, URL-encoded>[.<filters hash>].json` */
export function manifestPath(store: { manifestDir: string }, model: Pick<ModelRequest, "revision" | "include" | "exclude">): string {
  return join(store.manifestDir, `${encodeURIComponent(model.revision)}${filtersKey(model.include, model.exclude)}.json`);
}

/** The manifest files in one records folder (whatever they hold). */
export async function manifestFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".json")).sort().map((n) => join(dir, n));
}

// `<file>.incomplete` holds the bytes, `.json` beside it what is written, `.lock` the lease of the process writing
// it; `<record>.<writer>-<random>.incomplete` is a record write a kill cut short (see writeFileAtomic).
const PARTIAL = /^(.*?\.incomplete)(\.json|\.lock|\.json\.[0-9a-f-]+\.incomplete|\.lock\.[0-9a-f-]+\.incomplete)?$/;

/** The partial download a file belongs to (its `.incomplete` temp file), or undefined for any other file. */
export function partialOf(path: string): string | undefined {
  const m = PARTIAL.exec(path);
  return m ? m[1] : undefined;
}

const isLock = (path: string) => path.endsWith(".incomplete.lock");

/** A partial download: the temp file, the transfer's record beside it, and its cross-process lock. */
export interface PartialFile {
  temp: string;
  /** The temp file, its record, its lock and cut-short record writes, as far as they exist. */
  paths: string[];
  /** Bytes allocated to them (a sparse temp file counts what is written). */
  bytes: number;
  /** Newest write to any of them. */
  mtimeMs: number;
  lock?: { path: string; content: string; mtimeMs: number };
}

/** Partial downloads under `area`, grouped by temp file; a lock without a temp file (just taken) counts too. */
export async function partialFilesIn(area: string, limit?: LimitFunction): Promise<PartialFile[]> {
  const byTemp = new Map<string, PartialFile>();
  for (const e of await walk(area, limit)) {
    if (e.kind === "dir") continue;
    const temp = partialOf(e.path);
    if (!temp) continue;
    const p = byTemp.get(temp) ?? { temp, paths: [], bytes: 0, mtimeMs: 0 };
    p.paths.push(e.path);
    p.bytes += e.bytes;
    p.mtimeMs = Math.max(p.mtimeMs, e.mtimeMs);
    if (isLock(e.path)) p.lock = { path: e.path, content: await readFile(e.path, "utf8").catch(() => ""), mtimeMs: e.mtimeMs };
    byTemp.set(temp, p);
  }
  // The walk's order is the directory's, which a rename (a record rewritten) changes: sort, so two reads agree.
  for (const p of byTemp.values()) p.paths.sort();
  return [...byTemp.values()].sort((a, b) => (a.temp < b.temp ? -1 : 1));
}
