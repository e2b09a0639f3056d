import type { ModelStore } from "../store/index.ts";
import { writeManifest } from "../store/index.ts";
import { DownloadModelsError } from "../errors.ts";
import { sizeOf } from "../util/index.ts";
import type { ResolvedFile } from "../types.ts";
import type { FetchPlan, RunContext } from "./context.ts";

/** Times the files found missing at commit are fetched again before the model fails. */
const REFETCH_ROUNDS = 2;

/** Files not at their consumer path with their size; a few stats at a time (a listing may have 300,000 files). */
async function missingOnDisk(store: ModelStore, commit: string, files: readonly ResolvedFile[]): Promise<ResolvedFile[]> {
  const missing: ResolvedFile[] = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++]!;
      if ((await sizeOf(store.consumerPath(commit, f.path))) !== f.size) missing.push(f);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return missing;
}

/** The flush barrier for these files, a few thousand paths at a time (their blob paths are made only to be looked up). */
async function durable(run: RunContext, store: ModelStore, files: readonly ResolvedFile[]): Promise<void> {
  for (let i = 0; i < files.length; i += 4096) await run.transfer.durable(files.slice(i, i + 4096).map((f) => store.blobPath(f)));
}

/**
 * Phase 3 of a model: one barrier (every file this run fetched is flushed to disk), a look that every file the
 * manifest will name is there (one removed meanwhile, by hand or by a process that ignores the model's lease, is
 * fetched again through `refetch`, never counted as done), the layout's own records (refs, markers, links), then
 * the manifest, last and atomically: its presence is what makes the model count as complete.
 */
export async function commitModel(plan: FetchPlan, run: RunContext, refetch: (files: ResolvedFile[]) => Promise<void>): Promise<void> {
  const { model, store, snapshot, files } = plan;
  await durable(run, store, files.filter((f) => !plan.reused.has(f)));
  for (let round = 0; ; round++) {
    const missing = await missingOnDisk(store, snapshot.commit, files);
    if (missing.length === 0) break;
    if (round === REFETCH_ROUNDS) {
      throw new DownloadModelsError(
        `${missing[0]!.path} of ${model.id}@${model.revision} (and ${missing.length - 1} more) went missing from disk after it was ` +
          "fetched, again and again: is another program deleting files under the root? Stop it and run the download again.",
      );
    }
    await refetch(missing);
    await durable(run, store, missing);
  }
  await store.finish(model, snapshot, files);
  await run.disk.confine(store.root, store.manifestDir);
  // The listing's records are the manifest's files: writeManifest takes their path, size and hashes one at a time.
  await writeManifest(store, {
    format: 1, tool: "download-models", source: model.source, id: model.id, revision: model.revision,
    commit: snapshot.commit, include: model.include, exclude: model.exclude, completedAt: new Date().toISOString(), files,
  });
  await store.cleanup?.();
}
