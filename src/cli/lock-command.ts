import { Agent } from "undici";
import type { Env } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { UsageError } from "../errors.ts";
import { lockModels, parseModelRef } from "../sources/index.ts";
import { commandLineModels, loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { LockfileError, writeLock } from "../lockfile/index.ts";
import { formatDiff, formatFrozenProblems, frozenProblems, isUnchanged, modelRef } from "../lockfile/index.ts";
import { openLock, pinOf, type LockfileOptions } from "./lockfile-use.ts";
import type { Output } from "./reporter.ts";

export interface LockOptions extends Selection, PluginDirs, LockfileOptions {
  /** `--update` alone: every selected model; `--update ids…`: those. */
  update?: boolean | string[];
  token?: string;
  json?: boolean;
  /** Only check that the lock pins the selection as declared (what `--frozen` demands); no request, no write. */
  check?: boolean;
}

/** Which selected models `--update` names: by source and id, and by revision when the name gives one. */
function updateFilter(update: LockOptions["update"], selection: Selection, registry: Parameters<typeof commandLineModels>[1]) {
  if (!update) return () => false;
  if (update === true) return () => true;
  const named = commandLineModels({ ...selection, ids: update }, registry).map((m, i) => ({ m, explicit: Boolean(parseModelRef(update[i]!).revision) }));
  return (model: ModelRequest) =>
    named.some(({ m, explicit }) => m.source === model.source && m.id === model.id && (!explicit || m.revision === model.revision));
}

/**
 * `download-models lock`: resolve the selection (listings only, nothing downloaded) and write the lockfile. Entries
 * already there are kept; `--update` moves the named models, or all selected, to what their revision points to now.
 */
export async function lockCommand(options: LockOptions, io: Output, env: Env): Promise<number> {
  const updateIds = Array.isArray(options.update) ? options.update : [];
  // No selection at all: every project, and the models `--update` names.
  const selection: Selection = { ...options, ids: [...options.ids, ...updateIds] };
  if (!usesProjects(selection) && options.ids.length === 0) selection.all = true;
  const { registry, models } = await loadSelection({ ...selection, env, requireModels: true });
  const update = updateFilter(options.update, options, registry);
  const unmatched = updateIds.filter((ref) => !models.some(updateFilter([ref], options, registry)));
  if (unmatched.length) throw new UsageError(`--update ${unmatched.join(" ")}: not in the selection`);
  const opened = await openLock(options, env);
  if (options.check) {
    if (!opened.exists) throw new LockfileError(`${opened.path} does not exist: run \`download-models lock\` (same selection) and commit it.`);
    const problems = frozenProblems(models, opened.lock);
    if (problems.length > 0) throw new LockfileError(formatFrozenProblems(problems, opened.path));
    io.out(`${opened.path} pins all ${models.length} selected model${models.length === 1 ? "" : "s"} as declared (--frozen will accept them).`);
    return 0;
  }
  const dispatcher = new Agent({ connections: 8 });
  const changes = await lockModels(opened.lock, models, update, {
    registry, env, dispatcher, ...(options.token ? { token: options.token } : {}),
  }).finally(() => dispatcher.close());
  // Stable serialization: rewriting an unchanged lock changes no byte.
  await writeLock(opened.path, changes.lock);
  if (options.json) {
    io.out(JSON.stringify({
      lockfile: opened.path,
      added: changes.added.map(pinOf),
      updated: changes.updated.map((d) => ({ ref: d.ref, oldCommit: d.oldCommit, newCommit: d.newCommit, unchanged: isUnchanged(d), added: d.added.map((f) => f.path), removed: d.removed.map((f) => f.path), changed: d.changed.map((f) => f.path), oldBytes: d.oldBytes, newBytes: d.newBytes })),
      kept: changes.kept,
      failed: changes.failed.map((f) => ({ ref: f.ref, error: f.error.message })),
    }, null, 2));
    return changes.failed.length ? 1 : 0;
  }
  for (const e of changes.added) io.out(`locked ${modelRef(e)} at ${e.commit} (${e.files.length} file${e.files.length === 1 ? "" : "s"})`);
  for (const d of changes.updated) for (const line of formatDiff(d)) io.out(line);
  for (const f of changes.failed) io.err(`FAILED ${f.ref}: ${f.error.message}`);
  const moved = changes.updated.filter((d) => !isUnchanged(d)).length;
  io.out(
    `${opened.path}: ${changes.added.length} added, ${moved} updated, ${changes.updated.length - moved + changes.kept} unchanged` +
      (changes.failed.length ? `, ${changes.failed.length} failed (their entries left as they were; run again)` : "") + ".",
  );
  return changes.failed.length ? 1 : 0;
}
