import type { LimitFunction } from "p-limit";
import type { Registry } from "../sources/index.ts";
import type { Roots } from "./roots.ts";
import type { ModelRequest } from "../types.ts";
import { requestOf, type Lock } from "../lockfile/index.ts";
import { analyzeModel, type ModelAnalysis } from "./analyze.ts";
import { modelKey, modelsOnRoot } from "./scan.ts";
import { layoutOf, openStore } from "./layouts/index.ts";

export interface RootSelection {
  selection: readonly ModelRequest[];
  lock: Lock;
  registry: Registry;
  roots: Roots;
}

/** Every model this tool has on the roots, judged against what the selection and the lock keep. */
export async function analyzeRoot(o: RootSelection, limit: LimitFunction): Promise<{ analyses: ModelAnalysis[] }> {
  const kept = new Map<string, ModelRequest[]>();
  const locked = new Map<string, string[]>();
  for (const r of [...o.selection, ...o.lock.models.map(requestOf)]) kept.set(modelKey(r), [...(kept.get(modelKey(r)) ?? []), r]);
  for (const e of o.lock.models) locked.set(modelKey(e), [...(locked.get(modelKey(e)) ?? []), e.commit]);
  const onRoot = await modelsOnRoot(o.registry, o.roots);
  // Kept models with no manifest yet (a first download stopped part-way) still have partial files to judge.
  const known = new Set(onRoot.map(modelKey));
  for (const [key, requests] of kept) {
    if (known.has(key)) continue;
    const downloader = o.registry.get(requests[0]!.source);
    onRoot.push({
      source: requests[0]!.source, id: requests[0]!.id, layout: layoutOf(downloader),
      store: openStore(downloader, requests[0]!, o.roots), requests: [],
    });
  }
  const analyses: ModelAnalysis[] = [];
  for (const model of onRoot) {
    const key = modelKey(model);
    analyses.push(await analyzeModel(model, kept.get(key) ?? [], locked.get(key) ?? [], limit));
  }
  return { analyses };
}
