import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { FileLease, LeaseTiming } from "../transfer/index.ts";
import type { LimitFunction } from "p-limit";
import type { ModelAnalysis, PruneItem } from "./analyze.ts";
import { treeBytes } from "./scan.ts";
import { modelRef } from "../lockfile/index.ts";
import { enterPrune, judgeHolders, leaseDir, leasesRoot, readLeases, removeDeadHolders, tidyLeaseDir, type LeasesSeen } from "./model-lease.ts";
import { dropJournal, pendingJournals, writeJournal } from "./prune-journal.ts";

/** One model's leases as the plan saw them; applying is refused for it when they changed. */
export interface LeaseWatch {
  model: string;
  dir: string;
  generation: string;
  /** Leases of downloads that stopped beating: removed when the model is pruned. */
  dead: { name: string; content: string }[];
}

/** What the guard adds to a plan. */
export interface GuardedPlan {
  leases: LeaseWatch[];
  /** Journals of interrupted prunes that a download made void since, or whose model is declared again. */
  voidJournals: string[];
  lease: LeaseTiming;
}

/** Every model's lease folder under the roots, read before the models are looked at. */
export async function leasesBefore(roots: readonly string[]): Promise<Map<string, LeasesSeen>> {
  const out = new Map<string, LeasesSeen>();
  for (const root of new Set(roots)) {
    const base = leasesRoot(root);
    for (const name of await readdir(base).catch(() => [] as string[])) out.set(join(base, name), await readLeases(join(base, name)));
  }
  return out;
}

const none: LeasesSeen = { generation: "", holders: [] };

export interface ModelToWatch {
  /** The model as messages name it. */
  ref: string;
  /** Its lease folder. */
  dir: string;
  /** The lease folders as read when planning began. */
  before: ReadonlyMap<string, LeasesSeen>;
  timing: LeaseTiming;
  now: number;
  /** Ends the wait for a holder that stopped beating. */
  signal?: AbortSignal | undefined;
}

/**
 * The lease side of planning one model: undefined when a download holds it now (the model is left alone), else
 * the watch that applying checks again.
 */
export async function watchModel({ ref, dir, before, timing, now, signal }: ModelToWatch): Promise<{ watch: LeaseWatch } | { holder: string }> {
  const seen = before.get(dir) ?? none;
  // Watching a holder that stopped beating takes up to the lease's stale time: an interrupt ends that wait.
  const { live, dead } = await judgeHolders({ dir, seen: seen.holders, timing, now, signal });
  if (live.length > 0) return { holder: join(dir, live[0]!.name) };
  return { watch: { model: ref, dir, generation: seen.generation, dead: dead.map(({ name, content }) => ({ name, content })) } };
}

const exists = (path: string) => lstat(path).then(() => true, () => false);

/**
 * Items of interrupted prunes to finish: those of models nobody declares now whose journal still holds (no
 * download since), as far as they are still on disk. Journals of models declared again, or downloaded since, are void.
 */
export async function journalItems(
  roots: readonly string[], analyses: readonly ModelAnalysis[], before: ReadonlyMap<string, LeasesSeen>,
): Promise<{ byDir: Map<string, { model: string; items: PruneItem[] }>; voidJournals: string[] }> {
  const declared = new Set(analyses.filter((a) => a.declared).map((a) => leaseDir(a.model.store)));
  const byDir = new Map<string, { model: string; items: PruneItem[] }>();
  const voidJournals: string[] = [];
  for (const { leaseDir: dir, journal } of await pendingJournals(roots)) {
    if (declared.has(dir) || (before.get(dir) ?? none).generation !== journal.generation) {
      voidJournals.push(dir);
      continue;
    }
    const items: PruneItem[] = [];
    for (const item of journal.items) {
      if (await exists(item.path)) items.push({ ...item, reason: `${item.reason} (finishing an interrupted prune)` });
    }
    byDir.set(dir, { model: journal.model, items });
  }
  return { byDir, voidJournals };
}

/**
 * Models an interrupted prune left part-way, for status: they are this tool's (not "downloaded by another tool"),
 * and the next prune finishes them. `dir` is the model's folder while it is still there.
 */
export async function interruptedPrunes(roots: readonly string[], limit: LimitFunction): Promise<{ model: string; dir?: string; bytes: number }[]> {
  const out: { model: string; dir?: string; bytes: number }[] = [];
  for (const { journal } of await pendingJournals(roots)) {
    const dir = journal.items.find((i) => i.kind === "model-dir")?.path;
    const there = dir !== undefined && (await exists(dir));
    out.push({ model: journal.model, ...(there ? { dir } : {}), bytes: there ? await treeBytes(dir, limit) : 0 });
  }
  return out;
}

/** The lease folder of an analysed model, and its `hf:org/name`. */
export const modelLeaseDir = (a: ModelAnalysis) => ({ ref: modelRef(a.model, false), dir: leaseDir(a.model.store) });

/**
 * Applying a plan under the models' gates: a model is entered at its first item (its gate taken, its leases checked
 * against the plan, its journal written) and left after its last (journal dropped, gate released).
 */
export class PruneGuard {
  private held = new Map<string, { lease: FileLease; watch: LeaseWatch }>();
  private watches: Map<string, LeaseWatch>;
  private left = new Map<string, number>();

  constructor(private readonly plan: GuardedPlan & { items: PruneItem[] }, private readonly signal?: AbortSignal) {
    this.watches = new Map(plan.leases.map((w) => [w.model, w]));
    for (const item of plan.items) this.left.set(item.model, (this.left.get(item.model) ?? 0) + 1);
  }

  /** Void journals go first, each under its model's gate. */
  async dropVoidJournals(): Promise<void> {
    for (const dir of this.plan.voidJournals) {
      const lease = await enterPrune(dir, this.plan.lease, this.signal);
      try {
        await dropJournal(dir);
      } finally {
        await lease.release();
      }
    }
  }

  /** Undefined: go on with the model; else why it is left. */
  async enter(model: string): Promise<string | undefined> {
    if (this.held.has(model)) return undefined;
    const watch = this.watches.get(model);
    if (!watch) return "no lease record of it in the plan (plan again)";
    const lease = await enterPrune(watch.dir, this.plan.lease, this.signal);
    const now = await readLeases(watch.dir);
    const live = now.holders.find((h) => !watch.dead.some((d) => d.name === h.name && d.content === h.content));
    const why = live
      ? `a download holds it (lease ${join(watch.dir, live.name)})`
      : now.generation !== watch.generation ? "a download ran since the plan was made" : undefined;
    if (why) {
      await lease.release();
      return `${why}; the rest of it was left`;
    }
    await removeDeadHolders(watch.dir, watch.dead);
    const items = this.plan.items.filter((i) => i.model === model);
    await writeJournal(watch.dir, { format: 1, model, generation: watch.generation, items, startedAt: new Date().toISOString() });
    this.held.set(model, { lease, watch });
    return undefined;
  }

  /** One item of the model is done (removed or given up): after its last, the journal goes and the gate is released. */
  async done(model: string): Promise<void> {
    const n = (this.left.get(model) ?? 1) - 1;
    this.left.set(model, n);
    if (n > 0) return;
    const h = this.held.get(model);
    if (!h) return;
    this.held.delete(model);
    await dropJournal(h.watch.dir);
    await h.lease.release();
    await tidyLeaseDir(h.watch.dir);
  }

  /** The model is left part-way (a download started): its gate goes, and its journal, which no longer holds. */
  async abandon(model: string): Promise<void> {
    const h = this.held.get(model);
    if (!h) return;
    this.held.delete(model);
    await dropJournal(h.watch.dir);
    await h.lease.release();
  }

  /** Stopped early (an error, an interrupt): gates are released, journals stay for the next prune. */
  async close(): Promise<void> {
    for (const h of this.held.values()) await h.lease.release();
    this.held.clear();
  }
}
