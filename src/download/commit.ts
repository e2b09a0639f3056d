import type { Manifest } from "../store/index.ts";
import { writeManifest } from "../store/index.ts";
import type { FetchPlan, RunContext } from "./context.ts";

/**
 * Phase 3 of a model: one barrier (every file this run fetched is flushed to disk), the layout's own records (refs,
 * markers, links), then the manifest, last and atomically: its presence is what makes the model count as complete.
 */
export async function commitModel(plan: FetchPlan, run: RunContext): Promise<void> {
  const { model, store, snapshot, files } = plan;
  await run.transfer.durable(files.filter((f) => !plan.reused.has(f)).map((f) => store.blobPath(f)));
  await store.finish(model, snapshot, files);
  await run.disk.confine(store.root, store.manifestDir);
  const manifest: Manifest = {
    format: 1, tool: "download-models", source: model.source, id: model.id, revision: model.revision,
    commit: snapshot.commit, include: model.include, exclude: model.exclude, completedAt: new Date().toISOString(),
    files: files.map((f) => ({
      path: f.path, size: f.size,
      ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitSha1 ? { gitSha1: f.gitSha1 } : {}), ...(f.etag ? { etag: f.etag } : {}),
    })),
  };
  await writeManifest(store, manifest);
  await store.cleanup?.();
}
