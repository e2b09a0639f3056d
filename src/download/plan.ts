import { readdir } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Downloader, ResolveContext } from "../sources/index.ts";
import type { ModelRequest, ResolvedFile, Snapshot } from "../types.ts";
import { entryFromSnapshot, findEntry } from "../lockfile/index.ts";
import { listingMatches, movedError } from "../lockfile/index.ts";
import { NoMatchingFilesError } from "../errors.ts";
import { enterDownload, openCache, type DownloadHold, type ModelStore } from "../store/index.ts";
import { matchesFilters } from "../util/index.ts";
import { checkSnapshot, describeNoMatch } from "../sources/index.ts";
import { probeAccess } from "./probe.ts";
import { eachLimited } from "../util/index.ts";
import { tokenFor } from "../sources/index.ts";
import { missingBytes, type ModelPlan, type RunContext } from "./context.ts";

/**
 * Phase 1 of a model: decide what to do. Complete on disk → skip, with zero network requests. Otherwise resolve
 * through the downloader, check the listing, apply the filters, find the files that can be reused, and (unless this
 * is a dry run) reserve the disk space the rest needs.
 */
export async function planModel(model: ModelRequest, run: RunContext, signal: AbortSignal): Promise<ModelPlan> {
  signal.throwIfAborted();
  const downloader = run.registry.get(model.source);
  const cache = openCache({ registry: run.registry, roots: run.roots, disk: run.disk });
  const store = cache.store(model);
  if (!run.force) {
    const manifest = await cache.complete(model);
    // A complete copy of another commit than the lock pins (the lock was updated) is downloaded again at the locked one.
    const pinned = run.lock && findEntry(run.lock.lock, model)?.commit;
    if (manifest && (!pinned || pinned === manifest.commit)) {
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
  const { snapshot, lockUse } = await resolveSnapshot(model, downloader, ctx, run);
  checkSnapshot(snapshot, model);
  const files = snapshot.files.filter((f) => matchesFilters(f.path, model.include, model.exclude));
  if (files.length === 0) throw new NoMatchingFilesError(describeNoMatch(model, snapshot.files));
  // Held from before anything on disk is judged reusable until the manifest is written: a prune planned meanwhile
  // would remove a blob this download counts on (between its commit and its snapshot link, or a reused one).
  const onWait = (holder: string) => run.emit({ type: "model-prune-wait", model, holder });
  const hold = run.dryRun ? undefined : await enterDownload({ store, timing: run.transfer.options.lease, signal, onWait });
  try {
    return await planFiles({ model, run, signal, downloader, store, snapshot, files, token, lockUse, hold });
  } catch (error) {
    await hold?.release();
    throw error;
  }
}

async function planFiles(o: {
  model: ModelRequest; run: RunContext; signal: AbortSignal; downloader: Downloader; store: ModelStore; snapshot: Snapshot;
  files: ResolvedFile[]; token: string | undefined; lockUse: "locked" | "added" | undefined; hold: DownloadHold | undefined;
}): Promise<ModelPlan> {
  const { model, run, signal, downloader, store, snapshot, files, token, lockUse, hold } = o;
  const plan: ModelPlan = {
    kind: "fetch", model, downloader, store, snapshot, files,
    reused: await reusableFiles(files, store, run), ...(token ? { token } : {}), ...(lockUse ? { lockUse } : {}),
    ...(hold ? { hold } : {}),
  };
  run.emit({
    type: "model-resolved", model, commit: snapshot.commit, files: files.length,
    bytes: files.reduce((n, f) => n + f.size, 0), missingBytes: missingBytes(plan),
  });
  if (run.dryRun) await probeAccess(plan, run, signal);
  if (!run.dryRun && !run.skipSpaceCheck) {
    await run.space.reserve(model, store, files.filter((f) => !plan.reused.has(f)));
  }
  return plan;
}

/**
 * The files already on disk as they should be, in listing order. --force fetches every byte again: nothing on disk is
 * trusted, not even a blob of the right size. A few workers feed the run's shared hashing limit, so that a listing
 * of 300,000 files does not queue a promise per file.
 */
async function reusableFiles(files: readonly ResolvedFile[], store: ModelStore, run: RunContext): Promise<Set<ResolvedFile>> {
  if (run.force) return new Set();
  const present = await mayBePresent(files, (f) => store.blobPath(f));
  const reusable = new Uint8Array(files.length);
  const errors = await eachLimited(files, 16, async (f, i) => {
    if (present(i) && (await run.hashing(() => store.canReuse(f)))) reusable[i] = 1;
  });
  if (errors.length > 0) throw errors[0];
  return new Set(files.filter((_, i) => reusable[i] === 1));
}

/**
 * Which of these paths may exist: one `readdir` per folder instead of a look at every file (a fresh model on a network
 * volume would pay a round trip per file to learn that none is there). A missing folder holds nothing; a folder that
 * cannot be listed says nothing, and its files are looked at one by one.
 */
async function mayBePresent(files: readonly ResolvedFile[], pathOf: (f: ResolvedFile) => string): Promise<(index: number) => boolean> {
  // Paths are made again when asked, not kept: a listing may have 300,000 files.
  const folders = new Map<string, Set<string> | undefined>();
  for (const f of files) folders.set(dirname(pathOf(f)), undefined);
  const errors = await eachLimited([...folders.keys()], 8, async (folder) => {
    try {
      folders.set(folder, new Set(await readdir(folder)));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") folders.set(folder, new Set());
    }
  });
  if (errors.length > 0) throw errors[0];
  return (i) => {
    const path = pathOf(files[i]!);
    const names = folders.get(dirname(path));
    return names === undefined || names.has(basename(path));
  };
}

/**
 * With a lockfile, a locked model is fetched at its locked commit: from the lock alone where the source can (HF), else
 * resolved again and refused when the hub's listing moved since the lock (ModelScope has no commits for branches).
 * A model the lock does not have yet is resolved as usual and its entry collected for the lock.
 */
async function resolveSnapshot(
  model: ModelRequest, downloader: Downloader, ctx: ResolveContext, run: RunContext,
): Promise<{ snapshot: Snapshot; lockUse?: "locked" | "added" }> {
  const entry = run.lock && findEntry(run.lock.lock, model);
  if (entry && downloader.fromLock) return { snapshot: downloader.fromLock(entry, ctx), lockUse: "locked" };
  const snapshot = await downloader.resolve(model, ctx);
  if (!run.lock) return { snapshot };
  if (entry) {
    const changed = listingMatches(entry, snapshot);
    if (changed > 0) throw movedError(entry, changed);
    return { snapshot, lockUse: "locked" };
  }
  run.lock.added.push(entryFromSnapshot(model, snapshot));
  return { snapshot, lockUse: "added" };
}
