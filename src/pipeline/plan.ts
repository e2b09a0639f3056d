import type { ResolveContext } from "../downloader.ts";
import type { ModelRequest } from "../types.ts";
import { DownloadModelsError } from "../errors.ts";
import { openStore } from "../layouts/index.ts";
import { findComplete } from "../manifest.ts";
import { matchesFilters } from "../patterns.ts";
import { checkSnapshot, describeNoMatch } from "./snapshot-checks.ts";
import { missingBytes, tokenFor, type ModelPlan, type RunContext } from "./context.ts";

/**
 * Phase 1 of a model: decide what to do. Complete on disk → skip, with zero network requests. Otherwise resolve
 * through the downloader, check the listing, apply the filters, find the files that can be reused, and (unless this
 * is a dry run) reserve the disk space the rest needs.
 */
export async function planModel(model: ModelRequest, run: RunContext, signal: AbortSignal): Promise<ModelPlan> {
  signal.throwIfAborted();
  const downloader = run.registry.get(model.source);
  const store = openStore(downloader, model, run.roots, run.disk);
  if (!run.force) {
    const manifest = await findComplete(store, model);
    if (manifest) {
      const bytes = manifest.files.reduce((n, f) => n + f.size, 0);
      return { kind: "skip", store, commit: manifest.commit, files: manifest.files.length, bytes };
    }
  }
  run.emit({ type: "model-resolving", model });
  const token = tokenFor(downloader, run);
  run.redactor.add(token);
  const ctx: ResolveContext = {
    env: run.env, dispatcher: run.transfer.dispatcher, signal, ...(token ? { token } : {}),
    onWait: (wait) => run.emit({ type: "model-wait", model, ...wait, reason: run.redactor.redact(wait.reason) }),
  };
  const snapshot = await downloader.resolve(model, ctx);
  checkSnapshot(snapshot, model);
  const files = snapshot.files.filter((f) => matchesFilters(f.path, model.include, model.exclude));
  if (files.length === 0) throw new DownloadModelsError(describeNoMatch(model, snapshot.files));
  const reusable = await Promise.all(files.map((f) => run.hashing(() => store.canReuse(f))));
  const plan: ModelPlan = {
    kind: "fetch", model, downloader, store, snapshot, files,
    reused: new Set(files.filter((_, i) => reusable[i])), ...(token ? { token } : {}),
  };
  run.emit({
    type: "model-resolved", model, commit: snapshot.commit, files: files.length,
    bytes: files.reduce((n, f) => n + f.size, 0), missingBytes: missingBytes(plan),
  });
  if (!run.dryRun && !run.skipSpaceCheck) {
    await run.space.reserve(model, store, files.filter((f) => !plan.reused.has(f)));
  }
  return plan;
}
