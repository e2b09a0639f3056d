import { stat } from "node:fs/promises";
import type { Env } from "../store/index.ts";
import { RootError } from "../errors.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { formatStatus, volumeStatus } from "../store/index.ts";
import { alignColumns, formatBytes } from "../util/index.ts";
import { openLock, type LockfileOptions } from "./lockfile-use.ts";
import type { Output } from "./reporter.ts";

export interface VolumeCommandOptions extends PluginDirs, LockfileOptions {
  all?: boolean;
  project?: string[];
  root?: string;
  json?: boolean;
}

/** The selection `status` and `prune` judge a root (or a volume) against: the projects named, else every project. */
export async function volumeSelection(options: VolumeCommandOptions, env: Env) {
  const selection: Selection = { ids: [], ...(options.project ? { project: options.project } : {}), all: options.all || !usesProjects({ ids: [], ...options }) };
  const { registry, models, roots } = await loadSelection({ ...options, ...selection, env });
  // A mistyped --root would read as an empty store: "nothing downloaded", "nothing to prune". (--root is the plain root.)
  if (options.root !== undefined && !(await stat(roots.plain).then((s) => s.isDirectory(), () => false))) {
    throw new RootError(`--root ${options.root}: no such directory (${roots.plain}). Check the path: status and prune read an existing store.`);
  }
  const { lock } = await openLock(options, env);
  return { selection: models, lock, registry, roots };
}

/** `download-models status`: what the root holds for the projects and the lock, from local reads only. */
export async function statusCommand(options: VolumeCommandOptions, io: Output, env: Env): Promise<number> {
  const status = await volumeStatus(await volumeSelection(options, env));
  if (options.json) {
    io.out(JSON.stringify({
      models: status.models.map(({ model, ...rest }) => ({ source: model.source, id: model.id, revision: model.revision, projects: model.projects, ...rest })),
      undeclared: status.undeclared,
      roots: status.roots,
    }, null, 2));
    return 0;
  }
  for (const line of formatStatus(status)) io.out(line);
  return 0;
}

/** A selected model as one volume holds it. */
export interface ModelOnVolume {
  label: string;
  state: "complete" | "other-commit" | "missing";
  locked: boolean;
  commit?: string;
  bytes?: number;
  lockedCommit?: string;
}

/** `status --volume`'s lines for one target: its models, then what it holds that nothing declares; each a table. */
export function volumeStatusLines(target: string, models: ModelOnVolume[], undeclared: { model: string; commit: string; bytes: number }[]): string[] {
  const pinned = (m: ModelOnVolume) => (m.locked ? (m.state === "other-commit" ? `(locked ${m.lockedCommit!.slice(0, 12)})` : "locked") : "not locked");
  const rows = models.map((m) => [m.label, m.state, m.bytes !== undefined ? formatBytes(m.bytes) : "", m.commit?.slice(0, 12) ?? "", pinned(m)]);
  const lines = [`${target}:`, ...alignColumns(rows, { right: [2], gaps: ["  ", "  ", " ", " "], indent: "  " })];
  if (undeclared.length) {
    lines.push("  Not declared by a selected project:");
    lines.push(...alignColumns(undeclared.map((u) => [u.model, `(${u.commit.slice(0, 12)})`, formatBytes(u.bytes)]), { right: [2], indent: "    " }));
  }
  return lines;
}
