import type { LimitFunction } from "p-limit";
import type { Registry } from "../sources/index.ts";
import type { Roots } from "./roots.ts";
import type { ModelRequest } from "../types.ts";
import { requestOf, type Lock } from "../lockfile/index.ts";
import { analyzeModel, type ModelAnalysis } from "./analyze.ts";
import { modelKey } from "./scan.ts";
import { openCache, type Cache, type ModelOnDisk } from "./cache.ts";

export interface RootSelection {
  selection: readonly ModelRequest[];
  lock: Lock;
  registry: Registry;
  roots: Roots;
}

export interface RootAnalysis {
  analyses: ModelAnalysis[];
  /** Model folders other tools wrote (no record of this tool): listed, never pruned. */
  foreign: ModelOnDisk[];
  /** Does any folder under the roots hold a record of this tool (a manifest, a transfer record)? */
  recorded: boolean;
}

/** Every model this tool has on the roots, judged against what the selection and the lock keep. */
export async function analyzeRoot(o: RootSelection, limit: LimitFunction, cache: Cache = openCache(o)): Promise<RootAnalysis> {
  const kept = new Map<string, ModelRequest[]>();
  const locked = new Map<string, string[]>();
  for (const r of [...o.selection, ...o.lock.models.map(requestOf)]) kept.set(modelKey(r), [...(kept.get(modelKey(r)) ?? []), r]);
  for (const e of o.lock.models) locked.set(modelKey(e), [...(locked.get(modelKey(e)) ?? []), e.commit]);
  const onDisk = await cache.models(limit);
  const mine = onDisk.filter((m) => m.ours);
  const onRoot: ModelOnDisk[] = [...mine];
  // Kept models with no folder yet, or one that looks foreign (a first download stopped part-way) still have
  // partial files to judge.
  const known = new Set(mine.map(modelKey));
  for (const [key, requests] of kept) {
    if (known.has(key)) continue;
    const r = requests[0]!;
    const store = cache.store(r);
    const partials = await cache.partials(store, limit);
    onRoot.push({ source: r.source, id: r.id, layout: store.layout, dir: store.modelDir, store, requests: [], manifestFiles: [], partials, ours: true });
  }
  const keptDirs = new Set(onRoot.map((m) => m.store.modelDir));
  const analyses: ModelAnalysis[] = [];
  for (const model of onRoot) {
    const key = modelKey(model);
    analyses.push(await analyzeModel({ model, kept: kept.get(key) ?? [], lockedCommits: locked.get(key) ?? [], limit }));
  }
  const foreign = onDisk.filter((m) => !m.ours && !keptDirs.has(m.dir));
  const recorded = mine.some((m) => m.manifestFiles.length > 0 || m.partials.some((p) => p.paths.some((x) => x !== p.temp)));
  return { analyses, foreign, recorded };
}
