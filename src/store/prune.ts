import { lstat, rm, rmdir } from "node:fs/promises";
import { sep } from "node:path";
import { RootError } from "../errors.ts";
import { formatBytes } from "../util/index.ts";
import { defaultTransferOptions, type LeaseTiming } from "../transfer/index.ts";
import { modelRef } from "../lockfile/index.ts";
import { PRUNE_ORDER, type ModelAnalysis, type PruneItem } from "./analyze.ts";
import { analyzeRoot, type RootSelection } from "./plan-root.ts";
import { lockIsLive, partialFilesIn, statLimit, walk, type PartialFile } from "./scan.ts";
import { openCache, type Cache } from "./cache.ts";
import { journalItems, leasesBefore, modelLeaseDir, PruneGuard, watchModel, type GuardedPlan } from "./prune-guard.ts";
import type { LeasesSeen } from "./model-lease.ts";

export type { PruneItem, PruneKind } from "./analyze.ts";

const DAY_MS = 24 * 3600 * 1000;

export interface PruneOptions extends RootSelection {
  /** Partial files untouched for this long are stale. @default 24 h */
  olderThanMs?: number;
  /** A file lease rewritten within this long is held by a live download. @default the file leases' stale time */
  liveMs?: number;
  now?: number;
  /** The model leases' timing (prune and download exclude each other per model). @default the transfer's */
  lease?: LeaseTiming;
  /** Ends the waits of planning (a download's lease watched until it is judged live or dead). */
  signal?: AbortSignal;
}

export interface SkippedModel {
  model: string;
  reason: string;
}

/** One model's partial-file folder and the locks seen there when planning. */
export interface LockWatch {
  model: string;
  tempArea: string;
  locks: Record<string, string>;
}

/** Plain data (it can be printed, saved and applied by another process). */
export interface PrunePlan extends GuardedPlan {
  /** In the order they are applied. */
  items: PruneItem[];
  bytes: number;
  skipped: SkippedModel[];
  watches: LockWatch[];
  liveMs: number;
}

const rank = (item: PruneItem) => PRUNE_ORDER.indexOf(item.kind);

function partialItems(ref: string, partials: readonly PartialFile[]): PruneItem[] {
  return partials.flatMap((p) =>
    [...p.paths].sort().map((path) => ({
      kind: "partial" as const, path, bytes: path === p.temp ? p.bytes : 0, model: ref,
      reason: `partial download, untouched since ${new Date(p.mtimeMs).toISOString()}`,
    })),
  );
}

/**
 * Folders of a partial-file area kept apart from the model (ModelScope) that are empty once the planned partial
 * files are gone, deepest first. Removing one is safe against a concurrent download: `rmdir` fails on a folder
 * that got a file meanwhile, and a download always holds a lock file in it.
 */
async function emptyFolders(ref: string, area: string, removed: ReadonlySet<string>): Promise<PruneItem[]> {
  if (!(await lstat(area).then((st) => st.isDirectory(), () => false))) return [];
  const entries = await walk(area);
  const kept = entries.filter((e) => e.kind !== "dir" && !removed.has(e.path)).map((e) => e.path);
  const dirs = [area, ...entries.filter((e) => e.kind === "dir").map((e) => e.path)];
  return dirs
    .filter((d) => !kept.some((k) => k.startsWith(d + sep)))
    .sort((a, b) => b.length - a.length)
    .map((path) => ({ kind: "empty-dir" as const, path, bytes: 0, reason: "empty partial-download folder", model: ref }));
}

interface PlanModelParams {
  analysis: ModelAnalysis;
  cache: Cache;
  now: number;
  olderThanMs: number;
  liveMs: number;
  plan: PrunePlan;
  /** Download leases seen before the models were looked at. */
  leases: ReadonlyMap<string, LeasesSeen>;
  /** What an interrupted prune of this model had still to remove. */
  journal?: readonly PruneItem[] | undefined;
  signal?: AbortSignal | undefined;
}

async function planModel({ analysis: a, cache, now, olderThanMs, liveMs, plan, leases, journal = [], signal }: PlanModelParams): Promise<void> {
  const ref = modelRef(a.model, false);
  const { store } = a.model;
  const lease = await watchModel({ ref, dir: modelLeaseDir(a).dir, before: leases, timing: plan.lease, now, signal });
  if ("holder" in lease) {
    plan.skipped.push({ model: ref, reason: `another process is downloading it (live lease ${lease.holder})` });
    return;
  }
  plan.leases.push(lease.watch);
  const partials = await cache.partials(store);
  const live = partials.filter((p) => lockIsLive(p.lock, now, liveMs));
  if (live.length > 0) {
    plan.skipped.push({ model: ref, reason: `another process is downloading it (live lock ${live[0]!.lock!.path})` });
    return;
  }
  const area = store.tempDir;
  const locks = Object.fromEntries(partials.flatMap((p) => (p.lock ? [[p.lock.path, p.lock.content]] : [])));
  plan.watches.push({ model: ref, tempArea: area, locks });
  // A model with nothing but partial files may be a download someone resumes later: only stale ones go.
  const partialOnly = !a.declared && a.model.requests.length === 0;
  const stale = a.declared || partialOnly ? partials.filter((p) => p.mtimeMs < now - olderThanMs) : partials;
  const fresh = [...a.items, ...partialItems(ref, stale)];
  const known = new Set(fresh.map((i) => i.path));
  const items = [...fresh, ...journal.filter((i) => !known.has(i.path))];
  const apart = !(area + sep).startsWith(store.modelDir + sep);
  const emptied = apart ? area : partialOnly && stale.length > 0 ? store.modelDir : undefined;
  if (emptied) items.push(...(await emptyFolders(ref, emptied, new Set(items.filter((i) => i.kind === "partial").map((i) => i.path)))));
  plan.items.push(...items);
}

/**
 * What no selected model and no lock entry needs, path by path with the bytes freed and why. Refuses roots with no
 * record of this tool; leaves alone models another process is downloading and HF models other tools downloaded.
 */
export async function planPrune(o: PruneOptions): Promise<PrunePlan> {
  const now = o.now ?? Date.now();
  const lease = o.lease ?? defaultTransferOptions.lease;
  const liveMs = o.liveMs ?? lease.staleMs;
  const cache = openCache(o);
  const cacheRoots = [o.roots.huggingface, o.roots.modelscope, o.roots.plain];
  // Read before the models are looked at: a download that runs while they are shows up when the plan is applied.
  const before = await leasesBefore(cacheRoots);
  const { analyses, recorded } = await analyzeRoot(o, statLimit(), cache);
  const journals = await journalItems(cacheRoots, analyses, before);
  if (!recorded && journals.byDir.size === 0 && journals.voidJournals.length === 0) {
    const where = [...new Set([o.roots.huggingface, o.roots.modelscope, o.roots.plain])].join(", ");
    throw new RootError(`Refusing to prune ${where}: nothing there was downloaded by download-models (no manifest of it). Check --root.`);
  }
  const plan: PrunePlan = { items: [], bytes: 0, skipped: [], watches: [], liveMs, leases: [], voidJournals: journals.voidJournals, lease };
  for (const analysis of analyses) {
    const { dir } = modelLeaseDir(analysis);
    const journal = journals.byDir.get(dir)?.items;
    await planModel({ analysis, cache, now, olderThanMs: o.olderThanMs ?? DAY_MS, liveMs, plan, leases: before, journal, signal: o.signal });
    journals.byDir.delete(dir);
  }
  // Models an interrupted prune already took the manifests of: only their journal knows them.
  for (const [dir, { model, items }] of journals.byDir) {
    const lease = await watchModel({ ref: model, dir, before, timing: plan.lease, now, signal: o.signal });
    if ("holder" in lease) plan.skipped.push({ model, reason: `another process is downloading it (live lease ${lease.holder})` });
    else plan.leases.push(lease.watch), plan.items.push(...items);
  }
  plan.items = plan.items.map((item, i) => ({ item, i })).sort((x, y) => rank(x.item) - rank(y.item) || x.i - y.i).map((x) => x.item);
  plan.bytes = plan.items.reduce((n, i) => n + i.bytes, 0);
  return plan;
}

/** Did a download take or keep a lock of this model since the plan was made? */
async function startedSince(watch: LockWatch, liveMs: number): Promise<string | undefined> {
  const now = Date.now();
  for (const p of await partialFilesIn(watch.tempArea)) {
    if (!p.lock) continue;
    if (watch.locks[p.lock.path] !== p.lock.content || lockIsLive(p.lock, now, liveMs)) return p.lock.path;
  }
  return undefined;
}

async function remove(item: PruneItem): Promise<void> {
  if (item.kind === "empty-dir") {
    await rmdir(item.path).catch((error: NodeJS.ErrnoException) => {
      if (!["ENOENT", "ENOTEMPTY", "EEXIST", "ENOTDIR"].includes(error.code ?? "")) throw error;
    });
    return;
  }
  await rm(item.path, { recursive: item.kind !== "manifest" && item.kind !== "partial", force: true });
}

export interface ApplyOptions {
  /** Called after each removal (progress lines). */
  onItem?: (item: PruneItem) => void | Promise<void>;
  /** Stops between two removals; what was removed is returned, what is left is in the journals, for the next prune. */
  signal?: AbortSignal;
}

/**
 * Remove the plan's items in its order: every manifest first, so an interrupted prune never leaves a model that
 * claims to be complete, then links and refs, then blobs. Before each phase a model is looked at again: a lock
 * taken or rewritten since the plan means a download started, and the rest of that model is left alone.
 */
export async function applyPrune(plan: PrunePlan, options: ApplyOptions = {}): Promise<{ removed: PruneItem[]; skipped: SkippedModel[] }> {
  const removed: PruneItem[] = [];
  const skipped: SkippedModel[] = [];
  const stopped = new Set(plan.skipped.map((s) => s.model));
  const watches = new Map(plan.watches.map((w) => [w.model, w]));
  let phase: string | undefined;
  let checked = new Set<string>();
  const guard = new PruneGuard(plan, options.signal);
  try {
    await guard.dropVoidJournals();
    for (const item of plan.items) {
      if (options.signal?.aborted) break;
      if (item.kind !== phase) {
        phase = item.kind;
        checked = new Set();
      }
      if (stopped.has(item.model)) continue;
      const refused = await guard.enter(item.model);
      if (refused) {
        stopped.add(item.model);
        skipped.push({ model: item.model, reason: refused });
        continue;
      }
      const watch = watches.get(item.model);
      if (watch && !checked.has(item.model)) {
        checked.add(item.model);
        const lock = await startedSince(watch, plan.liveMs);
        if (lock) {
          stopped.add(item.model);
          await guard.abandon(item.model);
          skipped.push({ model: item.model, reason: `a download started meanwhile (lock ${lock}); the rest of it was left` });
          continue;
        }
      }
      await remove(item);
      removed.push(item);
      await guard.done(item.model);
      await options.onItem?.(item);
    }
  } finally {
    await guard.close();
  }
  return { removed, skipped };
}

/** Human lines: what would go (or went), per path with bytes and reason, the total, and what was left alone. */
export function formatPlan(plan: Pick<PrunePlan, "items" | "skipped">, applied = false): string[] {
  const verb = applied ? "removed" : "would remove";
  const lines = plan.items.map((i) => `${verb} ${i.path}${i.bytes ? `  ${formatBytes(i.bytes)}` : ""}  (${i.model}: ${i.reason})`);
  const total = plan.items.reduce((n, i) => n + i.bytes, 0);
  lines.push(plan.items.length ? `${applied ? "Freed" : "Would free"} ${formatBytes(total)} (${plan.items.length} paths).` : "Nothing to prune.");
  for (const s of plan.skipped) lines.push(`left ${s.model}: ${s.reason}`);
  if (!applied && plan.items.length) lines.push("Run again with --yes to remove them.");
  return lines;
}
