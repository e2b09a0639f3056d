import type { LimitFunction } from "p-limit";
import type { Registry } from "../registry.ts";
import type { Roots } from "../roots.ts";
import type { ModelRequest } from "../types.ts";
import { requestOf, type Lock } from "../lock/lockfile.ts";
import { analyzeModel, type ModelAnalysis } from "./analyze.ts";
import { modelKey, modelsOnRoot } from "./scan.ts";

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
  const analyses: ModelAnalysis[] = [];
  for (const model of await modelsOnRoot(o.registry, o.roots)) {
    const key = modelKey(model);
    analyses.push(await analyzeModel(model, kept.get(key) ?? [], locked.get(key) ?? [], limit));
  }
  return { analyses };
}
