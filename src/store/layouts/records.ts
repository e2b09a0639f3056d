import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { LimitFunction } from "p-limit";
import type { ModelRequest } from "../../types.ts";
import { patternSet } from "../../util/index.ts";
import { walk } from "./walk.ts";

// The names of this tool's own files in a store: manifests, and the partial downloads the transfer leaves.

/** The folder name of this tool's records inside a model folder (HF, plain, and older ModelScope stores). */
export const RECORDS = ".download-models";

/**
 * `""` without filters, else `.<12 hex>` of them as sets: requests of one revision with other filters are kept apart,
 * the same filters in another order or repeated are one request (a plugin that reorders its patterns must not make its
 * model look missing, nor its record look undeclared to prune).
 */
export function filtersKey(include: readonly string[], exclude: readonly string[]): string {
  if (include.length === 0 && exclude.length === 0) return "";
  return hashed([patternSet(include), patternSet(exclude)]);
}

/**
 * The key earlier versions of this tool gave the filters, in the order they were written; undefined when it is the
 * same as `filtersKey`. Records under it are still read, and count as the request's own; new ones are never written there.
 */
export function writtenOrderFiltersKey(include: readonly string[], exclude: readonly string[]): string | undefined {
  if (include.length === 0 && exclude.length === 0) return undefined;
  const key = hashed([include, exclude]);
  return key === filtersKey(include, exclude) ? undefined : key;
}

const hashed = (filters: readonly (readonly string[])[]) => `.${createHash("sha256").update(JSON.stringify(filters)).digest("hex").slice(0, 12)}`;

type RecordedRequest = Pick<ModelRequest, "revision" | "include" | "exclude">;

/** `<manifestDir>/<revision, URL-encoded>[.<filters hash>].json` */
export function manifestPath(store: { manifestDir: string }, model: RecordedRequest): string {
  return manifestNamed(store, model.revision, filtersKey(model.include, model.exclude));
}

/** Where the request's manifest is, this version's name first, then the one older versions wrote if it differs. */
export function manifestPaths(store: { manifestDir: string }, model: RecordedRequest): string[] {
  const older = writtenOrderFiltersKey(model.include, model.exclude);
  return [manifestPath(store, model), ...(older === undefined ? [] : [manifestNamed(store, model.revision, older)])];
}

const manifestNamed = (store: { manifestDir: string }, revision: string, filters: string) =>
  join(store.manifestDir, `${encodeURIComponent(revision)}${filters}.json`);

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
