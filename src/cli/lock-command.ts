import { Agent } from "../net/index.ts";
import type { Env } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { UsageError } from "../errors.ts";
import { selectionKey } from "../util/index.ts";
import { lockModels, parseModelRef, type Registry } from "../sources/index.ts";
import { commandLineModels, dedupe, loadSelection, projectModels, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { LockfileError, diffEntries, putEntry, withLockfileLease, writeLock, type EntryDiff, type Lock, type LockEntry } from "../lockfile/index.ts";
import { formatDiff, formatFrozenProblems, isUnchanged, modelRef } from "../lockfile/index.ts";
import { lockFlags, lockProblems, openLock, pinOf, undeclaredEntries, type LockfileOptions } from "./lockfile-use.ts";
import type { Output } from "./reporter.ts";
import { interruptible } from "./interrupt.ts";
import { runOptions } from "./run-options.ts";

export interface LockOptions extends Selection, PluginDirs, LockfileOptions {
  /** `--update` alone: every selected model; `--update ids…`: those. */
  update?: boolean | string[];
  token?: string;
  json?: boolean;
  /** Only check that the lock pins the selection as declared (what `--frozen` demands); no request, no write. */
  check?: boolean;
  /** Entries pinned by id alone (no project) to remove. */
  drop?: string[];
}

type Named = { ref: string; model: ModelRequest; explicit: boolean };

/** A `--update` name matches a model by source and id, and by revision when the name gives one. */
const names = (n: Named, m: ModelRequest) => m.source === n.model.source && m.id === n.model.id && (!n.explicit || m.revision === n.model.revision);

function namedModels(refs: readonly string[], selection: Selection, registry: Registry): Named[] {
  return refs.map((ref) => ({ ref, model: commandLineModels({ ...selection, ids: [ref] }, registry)[0]!, explicit: Boolean(parseModelRef(ref).revision) }));
}

/** The lock without `drop`, and every kept entry listing exactly the projects that declare it now. */
function followProjects(lock: Lock, drop: readonly LockEntry[], declared: readonly ModelRequest[]): Lock {
  const projectsOf = new Map<string, Set<string>>();
  for (const m of declared) for (const p of m.projects) projectsOf.set(selectionKey(m), (projectsOf.get(selectionKey(m)) ?? new Set()).add(p));
  const dropped = new Set(drop);
  const models = lock.models.filter((e) => !dropped.has(e)).map((e) => {
    const now = projectsOf.get(selectionKey(e));
    return e.projects.length > 0 && now ? { ...e, projects: [...now].sort() } : e;
  });
  return { ...lock, models };
}

/**
 * `download-models lock`: resolve the selection (listings only, nothing downloaded) and write the lockfile. Entries
 * already there are kept; `--update` moves the named models, or all selected, to what their revision points to now.
 * The lock follows the projects, as npm's lock follows package.json: every run drops the entries no project
 * declares any more (a model removed from its project, or declared with other filters or another revision); a
 * model whose declaration changed gets one new entry in place of the old one.
 */
export async function lockCommand(options: LockOptions, io: Output, env: Env): Promise<number> {
  const updateRefs = Array.isArray(options.update) ? options.update : [];
  const dropRefs = options.drop ?? [];
  const selection: Selection = { ...options };
  // No selection at all: every project.
  if (!usesProjects(selection) && options.ids.length === 0) selection.all = true;
  // Every project is loaded, selected or not: an entry stays only while some project declares it.
  const { registry, projects, models: selected } = await loadSelection({ ...selection, env, loadAllProjects: true });
  const declared = projectModels(projects ?? [], registry);
  const updates = namedModels(updateRefs, options, registry);
  // `--update hf:org/x` names the selected model org/x as its project declares it (filters included); only a name no
  // project declares is a model given by id (pinned without a project).
  const byId: string[] = [];
  for (const u of updates) {
    if (selected.some((m) => names(u, m))) continue;
    const elsewhere = declared.filter((m) => names(u, m)).flatMap((m) => m.projects);
    if (elsewhere.length) throw new UsageError(`--update ${u.ref}: not in the selection; it is declared by ${[...new Set(elsewhere)].join(", ")} (add --project ${elsewhere[0]}).`);
    byId.push(u.ref);
  }
  const models = byId.length ? dedupe([...selected, ...commandLineModels({ ...options, ids: byId }, registry)]) : selected;
  if (models.length === 0 && dropRefs.length === 0) throw new UsageError("The selected projects declare no models.");
  const update = options.update === true ? () => true : (m: ModelRequest) => updates.some((u) => names(u, m));
  const flags = lockFlags(options);

  if (options.check) {
    const opened = await openLock(options, env);
    if (!opened.exists) throw new LockfileError(`${opened.path} does not exist: run \`download-models lock${flags}\` (same selection) and commit it.`);
    const problems = lockProblems(models, opened.lock, undeclaredEntries(opened.lock, [...declared, ...models]), flags);
    // The same message as --frozen: build-serverless.sh shows it before any build.
    if (problems.length > 0) throw new LockfileError(formatFrozenProblems(problems, opened.path));
    io.out(`${opened.path} pins all ${models.length} selected model${models.length === 1 ? "" : "s"} as declared (--frozen will accept them), and nothing else.`);
    return 0;
  }
  const path = (await openLock(options, env)).path;
  return interruptible(io, `stopping the lock; ${path} is left as it was`, async (interrupt) => {
  const run = runOptions({}, env, interrupt.signal);
  // Read, resolve and write under the lockfile's lease: a second `lock` at once waits instead of losing entries.
  const result = await withLockfileLease(path, async () => {
    const opened = await openLock(options, env);
    const named = namedModels(dropRefs, options, registry);
    const unknownDrop = named.filter((n) => !opened.lock.models.some((e) => e.projects.length === 0 && names(n, requestOfEntry(e))));
    if (unknownDrop.length) {
      throw new UsageError(`--drop ${unknownDrop.map((n) => n.ref).join(" ")}: no entry pinned by id alone; entries of projects go when no project declares them.`);
    }
    const drop = [
      ...undeclaredEntries(opened.lock, [...declared, ...models]),
      ...opened.lock.models.filter((e) => e.projects.length === 0 && named.some((n) => names(n, requestOfEntry(e)))),
    ];
    const dispatcher = new Agent({ connections: 8 });
    const changes = await lockModels(followProjects(opened.lock, drop, declared), models, update, {
      registry, env, dispatcher, signal: run.signal, ...(options.token ? { token: options.token } : {}),
    }).finally(() => dispatcher.destroy());
    // Resolved entries of a cut-short run are not written: a lock is either what the last full run made, or unchanged.
    if (interrupt.by) return undefined;
    // A model whose new declaration failed to resolve keeps its old entry until a run resolves it.
    const failed = (e: LockEntry) => changes.failed.some((f) => f.ref.startsWith(`${modelRef(e, false)}@`));
    for (const e of drop.filter(failed)) changes.lock = putEntry(changes.lock, e);
    // A model whose declaration changed: its new entry replaces the old one; said as one update, not an add and a drop.
    const replaced: EntryDiff[] = [];
    const added: LockEntry[] = [];
    const gone = drop.filter((e) => !failed(e));
    for (const entry of changes.added) {
      const i = gone.findIndex((e) => e.source === entry.source && e.id === entry.id);
      if (i < 0) added.push(entry);
      else replaced.push(diffEntries(gone.splice(i, 1)[0]!, entry));
    }
    // Stable serialization: rewriting an unchanged lock changes no byte.
    await writeLock(opened.path, changes.lock);
    return { path: opened.path, changes, added, replaced, dropped: gone };
  });
  return result ? report(result, options, io) : 0;
  });
}

type LockResult = {
  path: string; changes: Awaited<ReturnType<typeof lockModels>>; added: LockEntry[]; replaced: EntryDiff[]; dropped: LockEntry[];
};

function report(result: LockResult, options: LockOptions, io: Output): number {
  const { changes, added, replaced, dropped } = result;
  const updated = [...replaced, ...changes.updated];
  if (options.json) {
    io.out(JSON.stringify({
      lockfile: result.path,
      added: added.map(pinOf),
      updated: updated.map((d) => ({ ref: d.ref, oldCommit: d.oldCommit, newCommit: d.newCommit, unchanged: isUnchanged(d), added: d.added.map((f) => f.path), removed: d.removed.map((f) => f.path), changed: d.changed.map((f) => f.path), oldBytes: d.oldBytes, newBytes: d.newBytes })),
      kept: changes.kept,
      dropped: dropped.map(pinOf),
      failed: changes.failed.map((f) => ({ ref: f.ref, error: f.error.message })),
    }, null, 2));
    return changes.failed.length ? 1 : 0;
  }
  for (const e of added) io.out(`locked ${modelRef(e)} at ${e.commit} (${e.files.length} file${e.files.length === 1 ? "" : "s"})`);
  for (const d of replaced) io.out(`${d.ref}: declared differently now; its entry is replaced`);
  for (const d of updated) for (const line of formatDiff(d)) io.out(line);
  for (const e of dropped) io.out(`dropped ${modelRef(e)} (${e.projects.length ? `no project declares it any more; was ${e.projects.join(", ")}` : "--drop"})`);
  for (const f of changes.failed) io.err(`FAILED ${f.ref}: ${f.error.message}`);
  const moved = updated.filter((d) => !isUnchanged(d)).length;
  io.out(
    `${result.path}: ${added.length} added, ${moved} updated, ${updated.length - moved + changes.kept} unchanged, ${dropped.length} dropped` +
      (changes.failed.length ? `, ${changes.failed.length} failed (their entries left as they were; run again)` : "") + ".",
  );
  return changes.failed.length ? 1 : 0;
}

const requestOfEntry = (e: LockEntry): ModelRequest => ({ source: e.source, id: e.id, revision: e.revision, include: e.include, exclude: e.exclude, projects: e.projects });
