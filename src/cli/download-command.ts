import type { Env } from "../roots.ts";
import { consumerEnv, resolveRoots, rootFor } from "../roots.ts";
import { layoutOf } from "../layouts/index.ts";
import { loadProjects } from "../project.ts";
import { loadRegistry, type Registry } from "../registry.ts";
import { runDownload, type Summary } from "../run-download.ts";
import { subModelsOf } from "../modelscope/submodels.ts";
import { DownloadModelsError, UsageError } from "../errors.ts";
import { downloaderDirs, projectDirs, type DirOptions } from "./context.ts";
import { createReporter, type Output } from "./reporter.ts";
import { selectModels, splitNames, type Selection } from "./select.ts";

export interface DownloadOptions extends Selection, DirOptions {
  root?: string;
  token?: string;
  force?: boolean;
  dryRun?: boolean;
  concurrency?: number;
  connections?: number;
  json?: boolean;
  quiet?: boolean;
  spaceCheck?: boolean;
}

/**
 * ModelScope pipelines load the models their configuration.json names by id, from the network when they are not
 * in the cache (spec ModelScope §0 rule 11): say which of those this run did not cover.
 */
async function undeclaredSubModels(summary: Summary, registry: Registry): Promise<string[]> {
  const ms = summary.models.filter((m) => m.status !== "failed" && m.path && registry.get(m.source).layout === "modelscope");
  const have = new Set(ms.map((m) => m.id));
  const lines: string[] = [];
  for (const m of ms) {
    for (const sub of await subModelsOf(m.path!)) {
      if (have.has(sub.id)) continue;
      lines.push(
        `Note: ${m.id} loads ${sub.id} (configuration.json "${sub.key}") at run time, and it was not part of this run: ` +
          `declare { source: "modelscope", id: "${sub.id}" } in the project too, or offline workers will fail to load it.`,
      );
    }
  }
  return lines;
}

export async function downloadCommand(o: DownloadOptions, io: Output, env: Env): Promise<number> {
  const usesProjects = Boolean(o.all || splitNames(o.project).length);
  if (!usesProjects && o.ids.length === 0) {
    throw new UsageError("Nothing to download: give model ids (org/name), --project NAME or --all. `download-models list` shows the projects.");
  }
  if (usesProjects && o.ids.length === 0 && (o.revision || o.include || o.exclude || o.source)) {
    throw new UsageError("--source, --revision, --include and --exclude apply to model ids given on the command line; projects declare their own.");
  }
  const registry = await loadRegistry(downloaderDirs(o, env));
  const projects = usesProjects ? await loadProjects(projectDirs(o, env), registry.names()) : undefined;
  const models = selectModels(o, projects, registry);
  if (models.length === 0) throw new UsageError("The selected projects declare no models.");
  const roots = resolveRoots({ ...(o.root ? { root: o.root } : {}), env });
  for (const m of models) rootFor(roots, layoutOf(registry.get(m.source))); // refused roots fail before any request
  const mode = o.json ? "json" : o.quiet ? "quiet" : "human";
  const reporter = createReporter(io, mode);
  if (mode === "human") {
    const uses = (layout: string) => models.some((m) => registry.get(m.source).layout === layout);
    io.out(
      `download-models: ${models.length} model${models.length === 1 ? "" : "s"}` +
        (o.dryRun ? " (dry run)" : "") +
        (uses("huggingface") ? `; HuggingFace cache ${roots.huggingface} (${roots.why.huggingface})` : "") +
        (uses("modelscope") ? `; ModelScope cache ${roots.modelscope} (${roots.why.modelscope})` : ""),
    );
  }
  // Ctrl-C / SIGTERM (a Pod being stopped): stop cleanly so that range records are flushed and locks released;
  // a second signal leaves at once.
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(130);
    reporter.notice(`Interrupted (${signal}): stopping and keeping the partial files; press again to quit at once.`);
    interrupt.abort(new DownloadModelsError("interrupted; the bytes written so far are kept, run the same command again to resume"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const summary = await runDownload({
    models, registry, roots, env, signal: interrupt.signal,
    ...(o.token ? { token: o.token } : {}),
    force: Boolean(o.force),
    dryRun: Boolean(o.dryRun),
    skipSpaceCheck: o.spaceCheck === false,
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    transfer: {
      ...(o.connections ? { connections: o.connections } : {}),
      // Undocumented knobs for benchmarks and experiments.
      ...(env.DOWNLOAD_MODELS_CHUNK_MB ? { chunkSize: Number(env.DOWNLOAD_MODELS_CHUNK_MB) * 1024 * 1024 } : {}),
      ...(env.DOWNLOAD_MODELS_CHECKPOINT_MS ? { checkpointMs: Number(env.DOWNLOAD_MODELS_CHECKPOINT_MS) } : {}),
      ...(env.DOWNLOAD_MODELS_WRITE_BUDGET_MB ? { writeBudget: Number(env.DOWNLOAD_MODELS_WRITE_BUDGET_MB) * 1024 * 1024 } : {}),
      ...(env.DOWNLOAD_MODELS_LOCK_STALE_MS
        ? { lock: { staleMs: Number(env.DOWNLOAD_MODELS_LOCK_STALE_MS), heartbeatMs: Number(env.DOWNLOAD_MODELS_LOCK_STALE_MS) / 5, pollMs: 100 } }
        : {}),
    },
    onEvent: reporter.onEvent,
  });
  const used = (layout: string) => summary.models.some((m) => m.status !== "failed" && registry.get(m.source).layout === layout);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await reporter.finish(summary, consumerEnv(roots, { huggingface: used("huggingface"), modelscope: used("modelscope") }));
  if (!o.json) for (const line of await undeclaredSubModels(summary, registry)) io.err(line);
  if (interrupt.signal.aborted) {
    if (!o.json) io.err("Interrupted: run the same command again to resume; finished files are kept and big files continue where they stopped.");
    return 130;
  }
  return summary.failed > 0 ? 1 : 0;
}
