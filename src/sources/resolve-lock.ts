import pLimit from "p-limit";
import type { Dispatcher } from "undici";
import { getGlobalDispatcher } from "../net/index.ts";
import type { Registry } from "./registry.ts";
import type { Env } from "../types.ts";
import type { ModelRequest } from "../types.ts";
import { DownloadModelsError, NoMatchingFilesError } from "../errors.ts";
import { matchesFilters } from "../util/index.ts";
import { DEFAULT_MODELS } from "../util/index.ts";
import { tokenFor } from "./downloader.ts";
import { checkSnapshot, describeNoMatch } from "./snapshot-checks.ts";
import { diffEntries, modelRef, type EntryDiff } from "../lockfile/index.ts";
import { entryFromSnapshot, findEntry, putEntry, type Lock, type LockEntry } from "../lockfile/index.ts";

export interface ResolveEntriesOptions {
  registry: Registry;
  env: Env;
  /** The connection pool for API calls. @default undici's global dispatcher */
  dispatcher?: Dispatcher;
  /** `--token`: used for every source instead of its env var. */
  token?: string;
  signal?: AbortSignal;
  /** Models resolved at once (API calls). @default 4 */
  concurrency?: number;
}

export type Resolved = { model: ModelRequest; entry: LockEntry } | { model: ModelRequest; error: Error };

/**
 * Each model's lock entry as its revision resolves on the hub now, through its downloader (listings only, no file
 * is downloaded). A model that fails is its own result; the others still resolve.
 */
export async function resolveEntries(models: readonly ModelRequest[], o: ResolveEntriesOptions): Promise<Resolved[]> {
  const limit = pLimit(o.concurrency ?? DEFAULT_MODELS);
  return Promise.all(
    models.map((model) =>
      limit(async (): Promise<Resolved> => {
        try {
          const downloader = o.registry.get(model.source);
          const token = tokenFor(downloader, { env: o.env, ...(o.token ? { token: o.token } : {}) });
          const snapshot = await downloader.resolve(model, {
            env: o.env, dispatcher: o.dispatcher ?? getGlobalDispatcher(), ...(token ? { token } : {}), ...(o.signal ? { signal: o.signal } : {}),
          });
          checkSnapshot(snapshot, model);
          if (!snapshot.files.some((f) => matchesFilters(f.path, model.include, model.exclude))) {
            throw new NoMatchingFilesError(describeNoMatch(model, snapshot.files));
          }
          return { model, entry: entryFromSnapshot(model, snapshot) };
        } catch (error) {
          // A downloader that throws a string or an object: its text, as a run reports it.
          return { model, error: error instanceof Error ? error : new DownloadModelsError(String(error)) };
        }
      }),
    ),
  );
}

export interface LockChanges {
  lock: Lock;
  added: LockEntry[];
  /** Models `--update` resolved again: moved or unchanged. */
  updated: EntryDiff[];
  /** Entries kept as they were (sticky). */
  kept: number;
  failed: { ref: string; error: Error }[];
}

/**
 * The lock for `models`: entries it has are kept (only their project lists grow), models it lacks are resolved and
 * added, and the models `update` names are resolved again and moved to what their revision points to now.
 */
export async function lockModels(
  lock: Lock, models: readonly ModelRequest[], update: (m: ModelRequest) => boolean, o: ResolveEntriesOptions,
): Promise<LockChanges> {
  let out = lock;
  let kept = 0;
  const toResolve: ModelRequest[] = [];
  for (const model of models) {
    const entry = findEntry(out, model);
    if (entry && !update(model)) {
      kept++;
      out = putEntry(out, { ...entry, projects: [...entry.projects, ...model.projects] });
    } else {
      toResolve.push(model);
    }
  }
  const changes: LockChanges = { lock: out, added: [], updated: [], kept, failed: [] };
  for (const r of await resolveEntries(toResolve, o)) {
    if ("error" in r) {
      changes.failed.push({ ref: modelRef(r.model), error: r.error });
      continue;
    }
    const before = findEntry(changes.lock, r.model);
    const entry = before ? { ...r.entry, projects: [...before.projects, ...r.entry.projects] } : r.entry;
    if (before) changes.updated.push(diffEntries(before, entry));
    else changes.added.push(entry);
    changes.lock = putEntry(changes.lock, entry);
  }
  return changes;
}
