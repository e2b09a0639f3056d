import { setMaxListeners } from "node:events";
import type { ModelResult } from "./events.ts";
import type { ResolvedFile } from "../types.ts";
import { SiblingFailedError } from "../errors.ts";
import type { TransferEvent } from "../transfer/index.ts";
import type { FetchPlan, RunContext } from "./context.ts";
import { eachLimited } from "../util/index.ts";

export interface ModelToFetch {
  plan: FetchPlan;
  run: RunContext;
  /** Where the model's bytes and outcome are counted. */
  result: ModelResult;
  signal: AbortSignal;
}

/**
 * Phase 2 of a model: every missing file through the transfer engine's door, then linked where consumers look;
 * reused files are only linked. The first file that fails for good stops the model's other files (the model fails,
 * the run goes on) and is the error reported.
 */
export async function fetchModel({ plan, run, result, signal }: ModelToFetch): Promise<void> {
  const { model, store, snapshot } = plan;
  const abort = new AbortController();
  setMaxListeners(Infinity, abort.signal); // one listener per file in flight
  const stop = () => abort.abort(signal.reason);
  if (signal.aborted) stop();
  signal.addEventListener("abort", stop, { once: true });
  if (plan.files.length > plan.reused.size) await store.prepare?.(snapshot.commit);

  const fetchOne = async (file: ResolvedFile): Promise<void> => {
    let bytes = 0;
    const onEvent = (e: TransferEvent) => {
      if (e.type === "wait") run.emit({ type: "file-wait", model, path: file.path, holder: e.holder });
      else if (e.type === "start") run.emit({ type: "file-start", model, path: file.path, size: file.size });
      else if (e.type === "resume") run.emit({ type: "file-resume", model, path: file.path, bytes: e.bytes, size: file.size });
      else if (e.type === "retry") {
        run.emit({ type: "file-retry", model, path: file.path, attempt: e.attempt, delayMs: e.delayMs, reason: run.redactor.redact(e.reason) });
      } else {
        bytes += e.delta;
        result.downloadedBytes += e.delta;
        run.emit({ type: "file-progress", model, path: file.path, bytes, size: file.size, delta: e.delta });
      }
    };
    const outcome = await run.transfer.fetch({
      file, temp: store.tempPath(file), dest: store.blobPath(file), root: store.root, signal: abort.signal,
      label: `${file.path} of ${model.id}@${model.revision}`, isDone: () => (run.force ? Promise.resolve(false) : store.canReuse(file)), onEvent,
      describeError: (r) => plan.downloader.describeError?.(r, model, { path: file.path, env: run.env, hasToken: Boolean(plan.token) }),
    });
    if (outcome === "shared") result.sharedFiles = (result.sharedFiles ?? 0) + 1;
  };
  const place = async (file: ResolvedFile): Promise<void> => {
    const reused = plan.reused.has(file);
    if (!reused) await fetchOne(file);
    await store.link(snapshot.commit, file);
    run.emit({ type: "file-done", model, path: file.path, size: file.size, reused });
  };

  try {
    // Twice the engine's file slots: a worker that links a finished file leaves its slot to another at once.
    const width = 2 * run.transfer.options.files;
    const errors = await eachLimited(plan.files, width, async (file) => {
      try {
        await place(file);
      } catch (error) {
        abort.abort(new SiblingFailedError(error));
        throw error;
      }
    }, abort.signal);
    if (errors.length > 0) throw errors.find((r) => !(r instanceof SiblingFailedError) && !isAbort(r)) ?? errors[0];
    // Stopped between two files: nothing failed, but the model is not complete.
    abort.signal.throwIfAborted();
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

const isAbort = (reason: unknown) => (reason as Error)?.name === "AbortError";
