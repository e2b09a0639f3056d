import { lstat, readdir, readFile } from "node:fs/promises";
import type { Dirent } from "node:fs";
import { basename, dirname, join } from "node:path";
import pLimit, { type LimitFunction } from "p-limit";
import type { Registry } from "../sources/index.ts";
import type { Roots } from "./roots.ts";
import type { LayoutName, ModelRequest, ResolvedFile } from "../types.ts";
import { layoutOf, openStore, type ModelStore } from "./layouts/index.ts";
import { modelsOnDisk } from "./verify-models.ts";

/** Local reads only: stats run this many at once (a network volume answers each with a round trip). */
export const STAT_CONCURRENCY = 32;

export function statLimit(): LimitFunction {
  return pLimit(STAT_CONCURRENCY);
}

/** A model this tool has records of on the roots, with every (revision, filters) it completed there. */
export interface ModelOnRoot {
  source: string;
  id: string;
  layout: LayoutName;
  store: ModelStore;
  requests: ModelRequest[];
}

export const modelKey = (m: { source: string; id: string }) => `${m.source}\0${m.id}`;

/** Every model with a manifest of this tool under the roots, grouped per model. */
export async function modelsOnRoot(registry: Registry, roots: Roots): Promise<ModelOnRoot[]> {
  const byModel = new Map<string, ModelOnRoot>();
  for (const request of await modelsOnDisk(registry, roots)) {
    const key = modelKey(request);
    const seen = byModel.get(key);
    if (seen) {
      seen.requests.push(request);
      continue;
    }
    const downloader = registry.get(request.source);
    byModel.set(key, {
      source: request.source, id: request.id, layout: layoutOf(downloader),
      store: openStore(downloader, request, roots), requests: [request],
    });
  }
  return [...byModel.values()];
}

/** HuggingFace model folders with no record of this tool (downloaded by `hf download` or a library). */
export async function foreignHfRepos(hubCache: string, ours: ReadonlySet<string>): Promise<{ id: string; dir: string }[]> {
  const out: { id: string; dir: string }[] = [];
  for (const name of await readdir(hubCache).catch(() => [] as string[])) {
    if (!name.startsWith("models--")) continue;
    const dir = join(hubCache, name);
    if (ours.has(dir)) continue;
    out.push({ id: name.slice("models--".length).split("--").join("/"), dir });
  }
  return out;
}

export interface WalkEntry {
  path: string;
  kind: "file" | "dir" | "link";
  size: number;
  mtimeMs: number;
}

/** Every entry under `dir` (not following links), stats bounded by `limit`; a missing `dir` is empty. */
export async function walk(dir: string, limit: LimitFunction = statLimit()): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  const visit = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => [] as Dirent[]);
    await Promise.all(
      entries.map(async (e) => {
        const path = join(d, e.name);
        if (e.isDirectory()) {
          out.push({ path, kind: "dir", size: 0, mtimeMs: 0 });
          return visit(path);
        }
        const st = await limit(() => lstat(path).catch(() => undefined));
        if (!st) return;
        out.push({ path, kind: st.isSymbolicLink() ? "link" : "file", size: st.isFile() ? st.size : 0, mtimeMs: st.mtimeMs });
      }),
    );
  };
  await visit(dir);
  return out;
}

/** Bytes of the regular files under `dir`: what removing it frees (links count nothing). */
export async function treeBytes(dir: string, limit?: LimitFunction): Promise<number> {
  return (await walk(dir, limit)).reduce((n, e) => n + e.size, 0);
}


// Asked of the store, never spelled here: where its partial files of this model live (layouts move them).
const PROBE: ResolvedFile = { path: "probe", size: 0, etag: "0".repeat(40), url: "" };

export function tempArea(store: ModelStore): string {
  return dirname(store.tempPath(PROBE));
}

const TEMP_SUFFIXES = [".incomplete.json", ".incomplete.lock", ".incomplete"] as const;

/** A partial download: the temp file, the transfer's record beside it, and its cross-process lock. */
export interface PartialFile {
  temp: string;
  /** The temp file, its record and its lock, as far as they exist. */
  paths: string[];
  bytes: number;
  /** Newest write to any of them. */
  mtimeMs: number;
  lock?: { path: string; content: string; mtimeMs: number };
}

/** Partial downloads of one model, grouped by temp file; a lock without a temp file (just taken) counts too. */
export async function partialFiles(store: ModelStore, limit?: LimitFunction): Promise<PartialFile[]> {
  return partialFilesIn(tempArea(store), limit);
}

export async function partialFilesIn(area: string, limit?: LimitFunction): Promise<PartialFile[]> {
  const byTemp = new Map<string, PartialFile>();
  for (const e of await walk(area, limit)) {
    if (e.kind === "dir") continue;
    const suffix = TEMP_SUFFIXES.find((s) => e.path.endsWith(s));
    if (!suffix) continue;
    const temp = e.path.slice(0, e.path.length - suffix.length) + ".incomplete";
    const p = byTemp.get(temp) ?? { temp, paths: [], bytes: 0, mtimeMs: 0 };
    p.paths.push(e.path);
    p.bytes += e.size;
    p.mtimeMs = Math.max(p.mtimeMs, e.mtimeMs);
    if (suffix === ".incomplete.lock") {
      p.lock = { path: e.path, content: await readFile(e.path, "utf8").catch(() => ""), mtimeMs: e.mtimeMs };
    }
    byTemp.set(temp, p);
  }
  return [...byTemp.values()].sort((a, b) => (a.temp < b.temp ? -1 : 1));
}

/** Is a download holding this lock now? Its heartbeat rewrites it every few seconds. */
export function lockIsLive(lock: PartialFile["lock"], now: number, liveMs: number): boolean {
  return lock !== undefined && now - lock.mtimeMs < liveMs;
}

/** Basename of a blob a snapshot link points at (HF links are relative, into `blobs/`). */
export function blobNameOf(linkTarget: string): string {
  return basename(linkTarget);
}
