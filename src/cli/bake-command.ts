import type { Env } from "../store/index.ts";
import { UsageError } from "../errors.ts";
import { formatBytes } from "../util/index.ts";
import { loadSelection, usesProjects, type PluginDirs } from "../select/index.ts";
import { bake, type BakedModel } from "../store/index.ts";
import { interruptible } from "./interrupt.ts";
import { runOptions } from "./run-options.ts";
import type { Output } from "./reporter.ts";
import type { ModelRequest } from "../types.ts";
import { openLock, type LockfileOptions } from "./lockfile-use.ts";

export interface BakeCommandOptions extends PluginDirs, LockfileOptions {
  from: string;
  to: string;
  all?: boolean;
  project?: string[];
  note?: string[];
}

/**
 * `download-models bake`: the serverless builder stage's last step. Copies the selected projects' models, complete,
 * from the download root (a build cache mount) to the image root and records them for `download-models-check`.
 */
export async function bakeCommand(options: BakeCommandOptions, io: Output, env: Env): Promise<number> {
  const selection = { ids: [], ...(options.all ? { all: true } : {}), ...(options.project ? { project: options.project } : {}) };
  if (!usesProjects(selection)) throw new UsageError("Name what to bake: --all, or --project NAME (repeatable, or comma-separated).");
  const { registry, models } = await loadSelection({ ...options, ...selection, env, requireModels: true });
  // `--lockfile`: the download followed it (--frozen); the image records its entries and each commit is checked.
  const lock = options.lockfile ? (await openLock(options, env)).lock : undefined;
  const line = `stopping the bake; whole files copied so far stay in ${options.to} (a copy in flight is dropped), its records are not written: run bake again`;
  return interruptible(io, line, async (interrupt) => {
    const run = runOptions({}, env, interrupt.signal);
    const onWait = (m: ModelRequest, holder: string) =>
      io.err(`waiting: a prune of ${options.from} is removing ${m.source} ${m.id}@${m.revision} (${holder}); the bake goes on when it is done`);
    const baked = await bake({ models, registry, from: options.from, to: options.to, env, header: options.note ?? [], signal: run.signal, onWait, ...(lock ? { lock } : {}) });
    return report(baked, options.to, io);
  });
}

function report(baked: BakedModel[], to: string, io: Output): number {
  for (const b of baked) io.out(`baked  ${b.source}  ${b.id}@${b.revision}  ${b.commit}  ${b.files} files, ${formatBytes(b.bytes)}  ${b.path}`);
  const bytes = baked.reduce((n, b) => n + b.bytes, 0);
  io.out(`Baked ${baked.length} model${baked.length === 1 ? "" : "s"} (${formatBytes(bytes)}) into ${to}`);
  return 0;
}
