import type { LockEntry } from "../lockfile/index.ts";

export interface RunpodReference {
  /** `<source> <id>@<revision>` of the lock entry, for the printed list. */
  model: string;
  /** What `runpodctl serverless create --model-reference` takes, when RunPod can cache the model. */
  reference?: string;
  /** Why RunPod's cache does not cover it exactly. */
  note?: string;
}

/**
 * RunPod serverless endpoints pre-cache HuggingFace models given as `https://huggingface.co/<org>/<model>:<commit>`
 * (the whole repo at that commit). ModelScope and custom sources are not cached that way; a model with
 * include/exclude filters is cached whole, so more than the lock pins is fetched.
 */
export function runpodReferences(entries: LockEntry[]): RunpodReference[] {
  return entries.map((e) => {
    const model = `${e.source} ${e.id}@${e.revision}`;
    if (e.source !== "huggingface") return { model, note: `RunPod caches only HuggingFace models: bake ${e.source} models into the image` };
    const reference = `https://huggingface.co/${e.id}:${e.commit}`;
    const filtered = e.include.length > 0 || e.exclude.length > 0;
    return { model, reference, ...(filtered ? { note: "the lock filters this model's files; RunPod caches the whole repository" } : {}) };
  });
}
